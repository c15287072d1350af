"""The image store with real archives (umoci), a real registry (docker-registry + skopeo) and overlayfs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from image_helpers import busybox_tar, oci_archive, push, registry
from podfleet.images.store import ImageError, ImageStore

pytestmark = pytest.mark.integration


async def test_import_and_overlay_isolation(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    img = await store.import_rootfs(busybox_tar(tmp_path / "bb.tar"), "example.local/busybox:1")
    assert img.ref == "example.local/busybox:1" and len(img.layers) == 1
    assert any(e.startswith("PATH=") for e in img.config["Env"])
    a = await store.mount_rootfs("ca", img)
    b = await store.mount_rootfs("cb", img)
    try:
        assert (a / "bin" / "busybox").exists()
        (a / "only-in-a").write_text("x")
        assert not (b / "only-in-a").exists()
        assert len(list(store.layers.iterdir())) == 1  # one unpacked copy, shared
    finally:
        await store.unmount_rootfs("ca")
        await store.unmount_rootfs("cb")
    assert not os.path.ismount(a) and not (tmp_path / "images" / "containers" / "ca").exists()
    assert [i.ref for i in store.list_images()] == ["example.local/busybox:1"]


async def test_load_oci_and_docker_archive(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    arch = oci_archive(tmp_path / "w", busybox_tar(tmp_path / "bb.tar"), "v1", cmd=["httpd", "-f"])
    loaded = await store.load(arch)
    assert len(loaded) == 1 and loaded[0].config["Cmd"] == ["httpd", "-f"]
    docker_arch = tmp_path / "docker.tar"
    subprocess.run(["skopeo", "copy", f"oci-archive:{arch}:v1", f"docker-archive:{docker_arch}:example.local/web:2"],
                   check=True, capture_output=True)
    (img,) = await store.load(docker_arch)
    assert img.ref == "example.local/web:2" and img.config["Cmd"] == ["httpd", "-f"]
    assert img.layers == loaded[0].layers  # same layer content, stored once


async def test_pull_from_real_registry(tmp_path: Path) -> None:
    arch = oci_archive(tmp_path / "w", busybox_tar(tmp_path / "bb.tar", {"etc/motd": "hi"}), "v1")
    with registry(tmp_path) as reg:
        push(arch, "v1", f"{reg}/tests/busybox:1")
        store = ImageStore(tmp_path / "images")
        img = await store.ensure(f"{reg}/tests/busybox:1", "IfNotPresent")
        assert img.manifest_digest.startswith("sha256:") and len(img.layers) == 1
        by_digest = await store.ensure(f"{reg}/tests/busybox@{img.manifest_digest}", "IfNotPresent")
        assert by_digest.layers == img.layers
        root = await store.mount_rootfs("c1", img)
        try:
            assert (root / "etc" / "motd").read_text() == "hi"
        finally:
            await store.unmount_rootfs("c1")
        with pytest.raises(ImageError) as e:
            await store.ensure(f"{reg}/tests/missing:1", "IfNotPresent")
        assert e.value.reason == "ErrImagePull"
    # IfNotPresent does not contact the (now stopped) registry again; Always does and fails.
    assert (await store.ensure(f"{reg}/tests/busybox:1", "IfNotPresent")).id == img.id
    with pytest.raises(ImageError):
        await store.ensure(f"{reg}/tests/busybox:1", "Always")
    with pytest.raises(ImageError) as e:
        await store.ensure("example.local/never:1", "Never")
    assert e.value.reason == "ErrImageNeverPull"


async def test_tampered_blob_is_refused(tmp_path: Path) -> None:
    arch = oci_archive(tmp_path / "w", busybox_tar(tmp_path / "bb.tar"), "v1")
    with registry(tmp_path) as reg:
        push(arch, "v1", f"{reg}/tests/tampered:1")
        # Corrupt the layer blob inside the registry's own storage.
        blobs = list((tmp_path / "registry-data").rglob("blobs/sha256/*/*/data"))
        layer = max(blobs, key=lambda p: p.stat().st_size)
        layer.write_bytes(layer.read_bytes()[:-10] + b"0123456789")
        store = ImageStore(tmp_path / "images")
        with pytest.raises(ImageError, match="digest"):
            await store.ensure(f"{reg}/tests/tampered:1", "IfNotPresent")
        assert store.get(f"{reg}/tests/tampered:1") is None
        assert not list(store.layers.iterdir())
        assert not [p for p in store.blobs.iterdir() if p.name.endswith(".download")]
    assert json.loads((tmp_path / "images" / "index.json").read_text() if (tmp_path / "images" / "index.json").exists()
                      else "{}") == {}
