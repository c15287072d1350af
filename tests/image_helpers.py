"""Test images made locally (no internet): busybox rootfs tarballs, OCI archives, and a real registry."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from runtime_helpers import busybox_rootfs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def busybox_tar(dest: Path, extra: dict[str, str] | None = None) -> Path:
    """A root filesystem tarball with busybox-static and applet links (what `podfleet images import` takes)."""
    root = busybox_rootfs(dest.parent / (dest.stem + "-root"))
    for rel, content in (extra or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    with tarfile.open(dest, "w") as tar:
        for p in sorted(root.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(root)), recursive=False)
    return dest


def layer_tar(dest: Path, files: dict[str, str]) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


def oci_archive(work: Path, rootfs_tar: Path, ref_name: str, cmd: list[str] | None = None) -> Path:
    """An OCI image layout archive of one layer, built with umoci (as skopeo/podman produce)."""
    layout = work / "layout"
    subprocess.run(["umoci", "init", "--layout", str(layout)], check=True, capture_output=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:{ref_name}"], check=True, capture_output=True)
    unpacked = work / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{ref_name}", str(unpacked)], check=True,
                   capture_output=True)
    with tarfile.open(rootfs_tar) as tar:
        tar.extractall(unpacked / "rootfs", filter="fully_trusted")
    subprocess.run(["umoci", "repack", "--image", f"{layout}:{ref_name}", str(unpacked)], check=True,
                   capture_output=True)
    config_args = ["--config.env", "PATH=/bin"]
    for c in cmd or ["sh"]:
        config_args += ["--config.cmd", c]
    subprocess.run(["umoci", "config", "--image", f"{layout}:{ref_name}", *config_args], check=True,
                   capture_output=True)
    out = work / f"{ref_name}.oci.tar"
    with tarfile.open(out, "w") as tar:
        for p in sorted(layout.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(layout)), recursive=False)
    return out


@contextlib.contextmanager
def registry(tmp: Path) -> Iterator[str]:
    """A real `docker-registry` on 127.0.0.1 with temporary storage; yields `127.0.0.1:PORT`."""
    port = free_port()
    cfg = tmp / "registry.yml"
    cfg.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "registry-data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def push(archive: Path, ref_name: str, dest: str) -> None:
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"oci-archive:{archive}:{ref_name}",
                    f"docker://{dest}"], check=True, capture_output=True)
