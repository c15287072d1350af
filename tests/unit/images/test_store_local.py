"""The real store without a registry: archives (oci and docker), naming, verification, removal and
garbage collection, and two store objects (agent + CLI) sharing one directory."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from image_helpers import ImageSpec, layer_blob, layer_tar, oci_layout_archive
from podfleet.images.interface import DigestMismatch, ImageError
from podfleet.images.store import OverlayImageStore


def docker_archive(dest: Path, layers: list[bytes], config: dict[str, object], tags: list[str]) -> Path:
    """The layout `docker save` used before OCI: <id>/layer.tar, <config hex>.json, manifest.json."""
    diff_ids = ["sha256:" + hashlib.sha256(raw).hexdigest() for raw in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    with tarfile.open(dest, "w") as tar:
        def add(name: str, raw: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))

        names: list[str] = []
        for i, raw in enumerate(layers):
            if raw in layers[:i]:  # a repeated layer is stored once and linked, as docker save does
                link = tarfile.TarInfo(f"l{i}/layer.tar")
                link.type, link.linkname = tarfile.SYMTYPE, f"../l{layers.index(raw)}/layer.tar"
                tar.addfile(link)
            else:
                add(f"l{i}/layer.tar", raw)
            names.append(f"l{i}/layer.tar")
        add(cfg_name, cfg)
        add("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": tags, "Layers": names}]).encode())
    return dest


def plain(files: dict[str, str | None]) -> bytes:
    return layer_blob(files, "none")


async def test_docker_archive_and_oci_archive_share_layers(tmp_path: Path) -> None:
    store = OverlayImageStore(tmp_path / "images")
    base = plain({"etc/os": "base"})
    top = plain({"app": "1"})
    img, _ = await store.load(docker_archive(tmp_path / "d.tar", [base, top, base], {"Cmd": ["app"]},
                                             ["example.local/web:2", "busybox:dock"]))
    assert img.layers[0] == img.layers[2] and img.ref == "example.local/web:2" and img.config["Cmd"] == ["app"]
    assert store.get("docker.io/library/busybox:dock") is not None
    (tmp_path / "base.tar").write_bytes(base)
    (oci,) = await store.load(oci_layout_archive(tmp_path / "o.tar", {
        "example.local/oci:1": ImageSpec([tmp_path / "base.tar"], {"Cmd": ["x"]})}))
    assert oci.layers[0] == img.layers[0] and len(os.listdir(store.layers.dir)) == 2
    assert (store.layers.path(img.layers[1]) / "app").read_text() == "1"


async def test_load_names(tmp_path: Path) -> None:
    store = OverlayImageStore(tmp_path / "images")
    one = oci_layout_archive(tmp_path / "My Tool.tar", {"v2": ImageSpec([layer_tar(tmp_path / "l.tgz", {"a": "1"})],
                                                                        {})})
    assert [i.ref for i in await store.load(one)] == ["localhost/my-tool:v2"]
    assert [i.ref for i in await store.load(one, "example.local/renamed:3")] == ["example.local/renamed:3"]
    two = oci_layout_archive(tmp_path / "two.tar", {"a": ImageSpec([], {}), "b": ImageSpec([], {"Cmd": ["b"]})})
    with pytest.raises(ImageError, match="2 images"):
        await store.load(two, "x.local/y:1")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ImageError, match="not a readable tar"):
        await store.load(tmp_path / "junk.tar")


async def test_tampered_archive_blob_is_refused(tmp_path: Path) -> None:
    store = OverlayImageStore(tmp_path / "images")
    good = oci_layout_archive(tmp_path / "g.tar", {"v1": ImageSpec([layer_tar(tmp_path / "l.tgz", {"a": "1"})], {})})
    bad = tmp_path / "bad.tar"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.startswith("blobs/") and data[:2] == b"\x1f\x8b":
                data = data[:-8] + b"tampered"
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(DigestMismatch):
        await store.load(bad)
    assert store.list() == [] and os.listdir(store.layers.dir) == []
    assert not [b for b in os.listdir(store.blobs.dir) if b.startswith(".tmp")]


async def test_remove_untags_then_collects_garbage(tmp_path: Path) -> None:
    store = OverlayImageStore(tmp_path / "images")
    base = layer_tar(tmp_path / "base.tgz", {"base": "b"})
    arch = oci_layout_archive(tmp_path / "a.tar", {
        "example.local/a:1": ImageSpec([base], {"Cmd": ["a"]}),
        "example.local/b:1": ImageSpec([base, layer_tar(tmp_path / "t.tgz", {"t": "t"})], {"Cmd": ["b"]}),
    })
    a, b = await store.load(arch)
    await store.load(arch)  # loading again changes nothing
    assert len(store.list()) == 2
    tar = tmp_path / "root.tar"
    tar.write_bytes(layer_blob({"x": "1"}, "none"))
    tool = await store.import_rootfs(tar, "example.local/tool:1")
    await store.import_rootfs(tar, "example.local/tool:latest")  # same content: same image, two tags
    assert store.get("example.local/tool:latest").id == tool.id  # type: ignore[union-attr]
    await store.remove("example.local/tool:1")
    assert store.layers.has(tool.layers[0])  # still tagged :latest
    await store.remove(tool.id.split(":")[1][:12])  # by image ID prefix
    assert not store.layers.has(tool.layers[0]) and store.get("example.local/tool:latest") is None
    await store.remove("example.local/b:1")
    assert store.layers.has(a.layers[0]) and not store.layers.has(b.layers[1])  # base still used by a
    await store.remove("example.local/a:1")
    assert store.list() == [] and os.listdir(store.layers.dir) == [] and os.listdir(store.blobs.dir) == []
    assert [p.name for p in store.layers.links.iterdir()] == ["empty"]


async def test_two_store_objects_on_one_directory_see_each_other(tmp_path: Path) -> None:
    agent = OverlayImageStore(tmp_path / "images")
    cli = OverlayImageStore(tmp_path / "images")
    assert agent.get("example.local/x:1") is None
    tar = tmp_path / "r.tar"
    tar.write_bytes(layer_blob({"x": "1"}, "none"))
    await cli.import_rootfs(tar, "example.local/x:1")
    assert agent.get("example.local/x:1") is not None
    await agent.remove("example.local/x:1")
    assert cli.get("example.local/x:1") is None


def test_first_index_layout_is_still_read(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    d = "sha256:" + "1" * 64
    (root / "index.json").write_text(json.dumps({"example.local/old:1": {"manifest": d, "config": "sha256:" + "2" * 64,
                                                                         "layers": ["sha256:" + "3" * 64]}}))
    img = OverlayImageStore(root).get("example.local/old:1")
    assert img is not None and img.manifest_digest == d and img.layers == ("sha256:" + "3" * 64,)
