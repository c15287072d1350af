"""Namespaces pinned in-process: new ones, joinable by path, the agent's own threads left where they were."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from podfleet import nspin

pytestmark = pytest.mark.integration


def ns_id(path: str | Path) -> str:
    return os.readlink(path) if str(path).startswith("/proc/") else f"{os.stat(path).st_ino}"


async def test_pins_new_namespaces_and_sets_the_hostname(tmp_path: Path) -> None:
    pins = {"net": tmp_path / "net", "ipc": tmp_path / "ipc", "uts": tmp_path / "uts"}
    mine = {kind: ns_id(f"/proc/self/ns/{kind}") for kind in pins}
    host_name = os.uname().nodename
    try:
        await nspin.pin(pins, hostname="pod-a")
        for kind, path in pins.items():
            assert nspin.is_pinned(path)
            # A pin is the namespace's nsfs inode, and not the one this process is in.
            assert mine[kind] != f"{kind}:[{os.stat(path).st_ino}]"
        # This thread (and so the event loop) never left the host's namespaces.
        assert {kind: ns_id(f"/proc/self/ns/{kind}") for kind in pins} == mine
        assert os.uname().nodename == host_name
        # Programs join by path: the pod's hostname, and a network with only a (down) loopback.
        out = subprocess.run(["nsenter", f"--uts={pins['uts']}", f"--net={pins['net']}", "sh", "-c",
                              "hostname; ip -o link"], capture_output=True, text=True, check=True).stdout
        lines = out.splitlines()
        assert lines[0] == "pod-a"
        assert len(lines) == 2 and ": lo:" in lines[1]
    finally:
        for path in pins.values():
            nspin.unpin(path)
    for path in pins.values():
        assert not path.exists() and not nspin.is_pinned(path)
    nspin.unpin(tmp_path / "net")  # already gone: nothing to do


async def test_each_pin_is_a_namespace_of_its_own(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    try:
        await nspin.pin({"net": a})
        await nspin.pin({"net": b})
        assert os.stat(a).st_ino != os.stat(b).st_ino
    finally:
        nspin.unpin(a)
        nspin.unpin(b)


async def test_bad_requests_are_refused_before_anything_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await nspin.pin({"mnt": tmp_path / "m"})
    with pytest.raises(ValueError):
        await nspin.pin({})
    with pytest.raises(ValueError):
        await nspin.pin({"net": tmp_path / "n"}, hostname="x")  # no UTS namespace to name
    with pytest.raises(ValueError):
        await nspin.pin({"uts": tmp_path / "u"}, hostname="x" * 64)
    assert not any(tmp_path.iterdir())


async def test_a_failed_pin_raises_and_leaves_nothing_mounted(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(OSError):  # the pins' parent is a file: they cannot be made
        await nspin.pin({"ipc": blocked / "ipc", "uts": blocked / "uts"})
    real_mount = nspin.mounts.mount

    def mount_but_not_uts(source: str, target: Path, fstype: str, options: str = "", flags: int = 0) -> None:
        if target.name == "uts":
            raise OSError(28, "No space left on device")
        real_mount(source, target, fstype, options, flags)

    monkeypatch.setattr(nspin.mounts, "mount", mount_but_not_uts)
    with pytest.raises(OSError):  # the second pin fails: the first one is taken back
        await nspin.pin({"ipc": tmp_path / "ipc", "uts": tmp_path / "uts"}, hostname="pod-b")
    assert not nspin.is_pinned(tmp_path / "ipc") and not (tmp_path / "ipc").exists()


async def test_a_holder_keeps_new_namespaces_without_mounting_anything(tmp_path: Path) -> None:
    kinds = ("net", "ipc", "uts")
    mine = {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in kinds}
    mounts_before = Path("/proc/self/mountinfo").read_text()
    pid = await nspin.hold(kinds, [_busybox(), "sleep", "600"],
                           hostname="pod-h")
    try:
        ids = nspin.namespace_ids(pid, kinds)
        assert ids is not None
        assert all(ids[kind] != mine[kind] for kind in kinds)  # new namespaces, not ours
        assert {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in kinds} == mine
        assert Path("/proc/self/mountinfo").read_text() == mounts_before
        assert os.getsid(pid) == pid  # a session of its own: it outlives the agent
        for fd in (0, 1, 2):  # never holds the agent's pipes open
            assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
        ns = f"/proc/{pid}/ns"
        out = subprocess.run(["nsenter", f"--uts={ns}/uts", f"--net={ns}/net", "sh", "-c", "hostname; ip -o link"],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        assert out[0] == "pod-h" and len(out) == 2 and ": lo:" in out[1]
    finally:
        await nspin.release(pid)
    assert nspin.namespace_ids(pid, kinds) is None
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG: never blocks)
    await nspin.release(pid)  # already gone: nothing to do


async def test_a_holder_that_cannot_start_is_an_oserror() -> None:
    with pytest.raises(OSError):
        await nspin.hold(("net",), ["/nonexistent/holder"])


def _busybox() -> str:
    import shutil

    return shutil.which("busybox") or "/bin/busybox"
