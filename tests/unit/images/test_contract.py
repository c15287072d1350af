"""The ImageStore contract, run against FakeImageStore and the real OverlayImageStore (whose registry
is the aiohttp fake; its overlay mounts are covered by the integration tests)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from image_helpers import FakeRegistry, ImageSpec, layer_tar, oci_layout_archive
from image_helpers import layer_blob as layer
from podfleet.images.fake import FakeImageStore
from podfleet.images.interface import ImageError, ImageStore, LayerState, PullProgress
from podfleet.images.store import OverlayImageStore


@dataclass
class Harness:
    store: ImageStore
    publish: Callable[[str, dict[str, str], dict[str, object]], Awaitable[str]]  # repo:tag → pullable ref
    registry_contacts: Callable[[], int]


@pytest.fixture(params=["fake", "overlay"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "fake":
        fake = FakeImageStore(tmp_path / "fake")

        async def publish_fake(name: str, files: dict[str, str], config: dict[str, object]) -> str:
            fake.add_remote(f"fake.local/{name}", config, files)
            return f"fake.local/{name}"

        yield Harness(fake, publish_fake, lambda: len(fake.pulls))
        return
    reg = FakeRegistry()
    await reg.start()

    async def publish_real(name: str, files: dict[str, str], config: dict[str, object]) -> str:
        repo, tag = name.split(":")
        reg.add_image(repo, tag, [layer(files)], config)
        return f"{reg.address}/{name}"

    try:
        yield Harness(OverlayImageStore(tmp_path / "images"), publish_real,
                      lambda: sum(1 for _, p in reg.requests if "/manifests/" in p))
    finally:
        await reg.stop()


def test_both_implement_the_protocol(h: Harness) -> None:
    assert isinstance(h.store, ImageStore)


async def test_pull_policies_and_reasons(h: Harness) -> None:
    ref = await h.publish("app:1", {"etc/motd": "hi"}, {"Cmd": ["sh"], "Env": ["A=1"], "User": "65534",
                                                        "WorkingDir": "/w", "StopSignal": "SIGINT",
                                                        "ExposedPorts": {"80/tcp": {}}, "Labels": {"k": "v"}})
    with pytest.raises(ImageError) as e:
        await h.store.ensure(ref, "Never")
    assert e.value.reason == "ErrImageNeverPull" and h.store.get(ref) is None
    img = await h.store.ensure(ref, "IfNotPresent")
    cfg = img.image_config
    assert (cfg.cmd, cfg.env, cfg.user, cfg.working_dir, cfg.stop_signal, cfg.exposed_ports, dict(cfg.labels)) == \
        (("sh",), ("A=1",), "65534", "/w", "SIGINT", ("80/tcp",), {"k": "v"})
    assert img.repo_digest.startswith(ref.rsplit(":", 1)[0] + "@sha256:")
    contacts = h.registry_contacts()
    assert (await h.store.ensure(ref, "IfNotPresent")).id == img.id
    assert (await h.store.ensure(ref, "Never")).id == img.id
    assert h.registry_contacts() == contacts
    assert (await h.store.ensure(ref, "Always")).id == img.id and h.registry_contacts() == contacts + 1
    assert (await h.store.ensure(img.repo_digest, "Never")).id == img.id
    for bad, reason in (("Busybox", "InvalidImageName"), (ref.replace("app", "missing"), "ErrImagePull")):
        with pytest.raises(ImageError) as e:
            await h.store.ensure(bad, "IfNotPresent")
        assert e.value.reason == reason
    assert h.store.get("Busybox") is None and h.store.get("nothing.local/x:1") is None


async def test_pull_progress(h: Harness) -> None:
    """Each layer goes waiting → downloading from 0 → done with all its bytes, and the pull ends finished;
    a pull that finds every layer present says so; no pull, no calls."""
    ref = await h.publish("progress:1", {"etc/data": "x" * 200_000}, {"Cmd": ["sh"]})
    seen: list[PullProgress] = []
    await h.store.ensure(ref, "IfNotPresent", progress=seen.append)
    assert seen and seen[-1].finished and all(not p.finished for p in seen[:-1])
    digests = [layer.digest for layer in seen[-1].layers]
    for digest in digests:
        mine = [p.layer for p in seen if p.layer.digest == digest]
        assert (mine[0].state, mine[0].bytes_done) == (LayerState.DOWNLOADING, 0)
        assert mine[-1].state is LayerState.DONE and mine[-1].bytes_done == mine[-1].bytes_total > 0
        assert [la.bytes_done for la in mine] == sorted(la.bytes_done for la in mine)
    last = seen[-1]
    assert last.bytes_done == last.bytes_total == sum(layer.bytes_total for layer in last.layers)
    assert [p.elapsed for p in seen] == sorted(p.elapsed for p in seen)
    seen.clear()
    await h.store.ensure(ref, "IfNotPresent", progress=seen.append)
    assert seen == []
    await h.store.ensure(ref, "Always", progress=seen.append)
    assert [la.digest for la in seen[-1].layers] == digests and seen[-1].finished
    assert {la.state for la in seen[-1].layers} == {LayerState.PRESENT} and seen[-1].bytes_total == 0


async def test_import_list_and_remove(h: Harness, tmp_path: Path) -> None:
    tar = tmp_path / "rootfs.tar"
    with tarfile.open(tar, "w") as t:
        info = tarfile.TarInfo("bin/hello")
        info.size, info.mode = 2, 0o755
        t.addfile(info, io.BytesIO(b"hi"))
    img = await h.store.import_rootfs(tar, "example.local/tool:1")
    assert img.ref == "example.local/tool:1" and len(img.layers) == 1
    assert any(e.startswith("PATH=") for e in img.image_config.env)
    assert h.store.get("example.local/tool:1") == img
    assert "example.local/tool:1" in [i.ref for i in h.store.list()]
    await h.store.remove("example.local/tool:1")
    assert h.store.get("example.local/tool:1") is None
    assert not [i for i in h.store.list() if i.id == img.id]
    with pytest.raises(ImageError) as e:
        await h.store.remove("example.local/tool:1")
    assert e.value.reason == "ImageNotFound"


async def test_load_an_oci_archive_with_two_images(h: Harness, tmp_path: Path) -> None:
    base = layer_tar(tmp_path / "base.tar.gz", {"etc/os": "base"})
    arch = oci_layout_archive(tmp_path / "two.oci.tar", {
        "example.local/a:1": ImageSpec([base], {"Cmd": ["a"]}),
        "b1": ImageSpec([base, layer_tar(tmp_path / "b.tar.gz", {"b": "b"})], {"Cmd": ["b"]}),
    })
    loaded = await h.store.load(arch)
    assert {i.ref: i.config["Cmd"] for i in loaded} == {"example.local/a:1": ["a"], "localhost/two:b1": ["b"]}
    assert h.store.get("localhost/two:b1") is not None


async def test_fake_rootfs_and_images_in_use(tmp_path: Path) -> None:
    fake = FakeImageStore(tmp_path)
    img = fake.add_local("example.local/app:1", {"Cmd": ["app"]}, {"etc/motd": "hello"})
    root = await fake.mount_rootfs("c1", img)
    assert await fake.mount_rootfs("c1", img) == root and (root / "etc" / "motd").read_text() == "hello"
    with pytest.raises(ImageError) as e:
        await fake.remove("example.local/app:1")
    assert e.value.reason == "ImageInUse"
    await fake.remove("example.local/app:1", force=True)
    assert fake.get("example.local/app:1") is None and root.exists()
    await fake.unmount_rootfs("c1")
    await fake.unmount_rootfs("c1")
    assert not root.exists() and fake.mounts == {}
    fake.add_remote("example.local/flaky:1")
    fake.fail_pulls["example.local/flaky:1"] = ImageError("boom")
    with pytest.raises(ImageError, match="boom"):
        await fake.ensure("example.local/flaky:1", "Always", None)
    assert fake.pulls[-1] == ("example.local/flaky:1", "Always", None)
