"""The image store with real parts: umoci/skopeo archives, a real docker-registry, overlayfs mounts,
and the busybox example script."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from fs_helpers import has_topdir_attribute, on_ext4
from image_helpers import (
    ImageSpec,
    Registry,
    busybox_tar,
    layer_tar,
    oci_archive,
    oci_layout_archive,
    push,
    registry,
    registry_process,
    registry_server,  # noqa: F401 - the fixture
)
from podfleet.images.interface import DigestMismatch, Image, ImageError
from podfleet.images.store import OverlayImageStore

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def chroot_sh(root: Path, script: str) -> str:
    return subprocess.run(["chroot", str(root), "/bin/sh", "-c", script], check=True, capture_output=True,
                          text=True, timeout=30).stdout


@pytest.fixture
async def store(tmp_path: Path) -> OverlayImageStore:
    s = OverlayImageStore(tmp_path / "images")
    yield s  # type: ignore[misc]
    for c in list(s.rootfs.dir.iterdir()):
        await s.unmount_rootfs(c.name)


async def test_import_busybox_and_two_isolated_containers(store: OverlayImageStore, tmp_path: Path) -> None:
    img = await store.import_rootfs(busybox_tar(tmp_path / "bb.tar"), "example.local/busybox:1")
    assert img.ref == "example.local/busybox:1" and len(img.layers) == 1
    a = await store.mount_rootfs("ca", img)
    assert await store.mount_rootfs("ca", img) == a  # idempotent
    b = await store.mount_rootfs("cb", img)
    assert chroot_sh(a, "echo hi > /only-in-a; rm /etc/passwd; id -u") == "0\n"
    assert chroot_sh(b, "ls /only-in-a 2>/dev/null; cat /etc/passwd | head -1") == "root:x:0:0:root:/root:/bin/sh\n"
    assert sorted(os.listdir(store.layers.dir)) == [img.layers[0].split(":")[1]]  # one shared unpacked copy
    assert not (store.layers.path(img.layers[0]) / "only-in-a").exists()
    await store.unmount_rootfs("ca")
    await store.unmount_rootfs("ca")  # idempotent
    assert not os.path.ismount(a) and not (store.rootfs.dir / "ca").exists()
    assert chroot_sh(b, "cat /etc/group | head -1") == "root:x:0:\n"


async def test_load_umoci_oci_archive_and_skopeo_docker_archive(store: OverlayImageStore, tmp_path: Path) -> None:
    arch = oci_archive(tmp_path / "w", busybox_tar(tmp_path / "bb.tar", {"etc/motd": "oci"}), "v1",
                       cmd=["httpd", "-f"])
    (oci,) = await store.load(arch)
    assert oci.ref == "localhost/v1:v1" and oci.config["Cmd"] == ["httpd", "-f"]
    docker_arch = tmp_path / "docker.tar"
    subprocess.run(["skopeo", "copy", "--quiet", f"oci-archive:{arch}:v1",
                    f"docker-archive:{docker_arch}:example.local/web:2"], check=True, capture_output=True)
    (img,) = await store.load(docker_arch)
    assert img.ref == "example.local/web:2" and img.config["Cmd"] == ["httpd", "-f"]
    assert img.layers == oci.layers and len(os.listdir(store.layers.dir)) == 1  # same content, stored once
    root = await store.mount_rootfs("c1", img)
    assert chroot_sh(root, "cat /etc/motd") == "oci"


async def test_pull_from_a_real_registry(store: OverlayImageStore, tmp_path: Path) -> None:
    arch = oci_archive(tmp_path / "w", busybox_tar(tmp_path / "bb.tar", {"etc/motd": "hi"}), "v1")
    with registry(tmp_path / "reg") as reg:
        push(arch, "v1", f"{reg}/tests/busybox:1")
        img = await store.ensure(f"{reg}/tests/busybox:1", "IfNotPresent")
        assert img.manifest_digest.startswith("sha256:") and len(img.layers) == 1
        by_digest = await store.ensure(f"{reg}/tests/busybox@{img.manifest_digest}", "Always")
        assert by_digest.id == img.id and by_digest.ref == f"{reg}/tests/busybox@{img.manifest_digest}"
        root = await store.mount_rootfs("c1", img)
        assert chroot_sh(root, "cat /etc/motd") == "hi"
        with pytest.raises(ImageError) as e:
            await store.ensure(f"{reg}/tests/missing:1", "IfNotPresent")
        assert e.value.reason == "ErrImagePull" and "not found" in str(e.value)
    # The registry is gone: IfNotPresent does not need it, Always does and says so.
    requests = store.registry_requests
    assert (await store.ensure(f"{reg}/tests/busybox:1", "IfNotPresent")).id == img.id
    assert (await store.ensure(f"{reg}/tests/busybox@{img.manifest_digest}", "IfNotPresent")).id == img.id
    assert store.registry_requests == requests
    with pytest.raises(ImageError) as e:
        await store.ensure(f"{reg}/tests/busybox:1", "Always")
    assert e.value.reason == "ErrImagePull"
    with pytest.raises(ImageError) as e:
        await store.ensure("example.local/never:1", "Never")
    assert e.value.reason == "ErrImageNeverPull"


def whiteout_images(tmp: Path) -> Path:
    base = layer_tar(tmp / "base.tgz", {"etc": None, "etc/a": "a", "etc/b": "b", "dir": None, "dir/x": "x",
                                        "dir/y": "y", "shared": "s"})
    top = layer_tar(tmp / "top.tgz", {"etc/.wh.a": "", "dir/.wh..wh..opq": "", "dir/z": "z"})
    other = layer_tar(tmp / "other.tgz", {"other": "o"}, compression="zstd")
    return oci_layout_archive(tmp / "wh.oci.tar", {"wh": ImageSpec([base, top], {"Cmd": ["sh"]}),
                                                   "other": ImageSpec([base, other], {"Cmd": ["sh"]})})


async def test_shared_layers_and_whiteouts_through_a_real_registry(store: OverlayImageStore, tmp_path: Path) -> None:
    arch = whiteout_images(tmp_path)
    with registry_process(tmp_path / "reg") as reg:
        wh_ref = reg.push(arch, "wh", "tests/wh:1")
        other_ref = reg.push(arch, "other", "tests/other:1")
        wh, other = await asyncio.gather(store.ensure(wh_ref), store.ensure(other_ref))
    assert wh.layers[0] == other.layers[0] and len(os.listdir(store.layers.dir)) == 3
    root = await store.mount_rootfs("c-wh", wh)
    assert sorted(os.listdir(root / "etc")) == ["b"] and sorted(os.listdir(root / "dir")) == ["z"]
    other_root = await store.mount_rootfs("c-other", other)
    assert sorted(os.listdir(other_root / "dir")) == ["x", "y"] and (other_root / "other").read_text() == "o"
    # Deleting in a container is a whiteout in its own upper layer only.
    os.unlink(other_root / "shared")
    assert (root / "shared").read_text() == "s" and (store.layers.path(wh.layers[0]) / "shared").exists()


async def test_in_use_image_is_removed_only_by_force_and_collected_after_unmount(store: OverlayImageStore,
                                                                                 tmp_path: Path) -> None:
    (img,) = await store.load(oci_layout_archive(tmp_path / "a.tar", {"example.local/app:1": ImageSpec(
        [layer_tar(tmp_path / "l.tgz", {"app": "1"})], {})}))
    root = await store.mount_rootfs("c1", img)
    with pytest.raises(ImageError) as e:
        await store.remove("example.local/app:1")
    assert e.value.reason == "ImageInUse" and store.get("example.local/app:1") is not None
    await store.remove("example.local/app:1", force=True)
    assert store.get("example.local/app:1") is None and (root / "app").read_text() == "1"
    assert store.layers.has(img.layers[0])  # the container still needs it
    await store.unmount_rootfs("c1")
    assert not store.layers.has(img.layers[0]) and os.listdir(store.blobs.dir) == []


async def test_rootfs_mount_options_are_short_and_relative(store: OverlayImageStore, tmp_path: Path) -> None:
    (img,) = await store.load(oci_layout_archive(tmp_path / "a.tar", {"example.local/small:1": ImageSpec(
        [layer_tar(tmp_path / "l.tgz", {"app": "1"})], {})}))
    cwd = os.getcwd()
    root = await store.mount_rootfs("c-small", img)
    assert os.path.ismount(root) and (root / "app").read_text() == "1"
    assert os.getcwd() == cwd  # the agent's working directory is untouched
    line = next(ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if f" {root} " in ln)
    options = line.split(" - ", 1)[1]
    short = store.layers.short_link(img.layers[0])
    assert f"lowerdir={short}," in options and "upperdir=../containers/c-small/upper," in options
    assert str(tmp_path) not in options  # no absolute paths: runc parses this table for every container
    (root / "new").write_text("x")  # the writable layer is the container's own directory
    assert (store.rootfs.base("c-small") / "upper" / "new").read_text() == "x"
    await store.unmount_rootfs("c-small")
    assert not root.exists()


def test_each_container_directory_gets_a_block_group_of_its_own(store: OverlayImageStore, tmp_path: Path) -> None:
    """On ext4 the containers directory carries the top-directory attribute (see podfleet.files)."""
    if not on_ext4(tmp_path):
        pytest.skip("the test directory is not on ext2/3/4")
    assert store.rootfs.dir.is_dir() and has_topdir_attribute(store.rootfs.dir)


async def test_a_rootfs_still_in_use_is_detached_lazily(store: OverlayImageStore, tmp_path: Path) -> None:
    (img,) = await store.load(oci_layout_archive(tmp_path / "a.tar", {"example.local/busy:1": ImageSpec(
        [layer_tar(tmp_path / "l.tgz", {"app": "1"})], {})}))
    root = await store.mount_rootfs("c-busy", img)
    holder = subprocess.Popen(["sleep", "30"], cwd=root)  # keeps the mount busy
    try:
        await store.unmount_rootfs("c-busy")
        assert not os.path.ismount(root) and not root.exists()
    finally:
        holder.kill()
        holder.wait()


async def test_a_hundred_and_twenty_layers_fit_one_mount(store: OverlayImageStore, tmp_path: Path) -> None:
    layers = [layer_tar(tmp_path / f"l{i}.tgz", {f"f{i}": str(i)}) for i in range(120)]
    (img,) = await store.load(oci_layout_archive(tmp_path / "many.tar", {"example.local/many:1": ImageSpec(
        [*layers, layers[0]], {})}))
    absolute = sum(len(str(store.layers.path(d))) + 1 for d in img.layers)
    assert absolute > 4096  # absolute lowerdir paths would not fit in one page
    root = await store.mount_rootfs("c-many", img)
    assert len([n for n in os.listdir(root) if n.startswith("f")]) == 120 and (root / "f119").read_text() == "119"


async def test_tampered_blob_in_the_registry_is_refused(store: OverlayImageStore, tmp_path: Path,
                                                        registry_server: Registry) -> None:  # noqa: F811
    arch = oci_archive(tmp_path / "w", busybox_tar(tmp_path / "bb.tar"), "v1")
    reg = registry_server
    ref = reg.push(arch, "v1", "tests/tampered:1")
    layer = max(reg.storage.rglob("blobs/sha256/*/*/data"), key=lambda p: p.stat().st_size)
    layer.write_bytes(layer.read_bytes()[:-10] + b"0123456789")  # corrupt the registry's own copy
    with pytest.raises(DigestMismatch, match="digest mismatch") as e:
        await store.ensure(ref)
    assert e.value.reason == "ErrImagePull"
    assert store.get(ref) is None and store.list() == [] and os.listdir(store.layers.dir) == []
    assert not [p for p in os.listdir(store.blobs.dir) if p.startswith(".tmp")]


async def test_example_script_builds_and_imports_busybox(tmp_path: Path) -> None:
    data = tmp_path / "node"
    proc = await asyncio.create_subprocess_exec("bash", str(ROOT / "examples" / "build-busybox-image.sh"), str(data),
                                                "example.local/busybox:script", stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    store = OverlayImageStore(data / "images")
    img = store.get("example.local/busybox:script")
    assert img is not None and any(e.startswith("PATH=") for e in img.config["Env"])
    root = await store.mount_rootfs("c-script", img)
    try:
        assert chroot_sh(root, "wget --help >/dev/null 2>&1; nslookup --help >/dev/null 2>&1; "
                               "ls -ld /tmp | cut -c1-10; grep -c . /etc/passwd /etc/group") \
            == "drwxrwxrwt\n/etc/passwd:2\n/etc/group:2\n"
    finally:
        await store.unmount_rootfs("c-script")


def test_image_dataclass_is_what_the_agent_reads(tmp_path: Path) -> None:
    img = Image("example.local/x:1", "sha256:" + "1" * 64, "sha256:" + "2" * 64, {"StopSignal": "SIGINT"})
    assert img.repo_digest == "example.local/x@sha256:" + "2" * 64 and img.image_config.stop_signal == "SIGINT"
