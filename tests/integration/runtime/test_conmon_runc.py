"""The real runtime: conmon + runc on a busybox rootfs, in namespaces the test creates."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podfleet import mounts
from podfleet.runtime.interface import ContainerRuntimeError
from podfleet.runtime.logs import read_log
from podfleet.runtime.oci import ConmonRuntime
from podfleet.runtime.sandbox import create_sandbox_namespaces, remove_sandbox_namespaces
from podfleet.runtime.spec import ContainerConfig, Mount, build_spec
from runtime_helpers import busybox_rootfs, unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[ConmonRuntime]:
    runtime = ConmonRuntime(tmp_path / "state")
    yield runtime
    for st in await runtime.list_containers():
        await runtime.delete(st.id)


@pytest.fixture
def netns() -> AsyncIterator[str]:  # type: ignore[misc]
    name = unique("pftns")
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
    yield f"/var/run/netns/{name}"
    subprocess.run(["ip", "netns", "del", name], check=False)


async def wait_exit(rt: ConmonRuntime, cid: str, timeout: float = 10) -> int:
    for _ in range(int(timeout / 0.1)):
        st = await rt.state(cid)
        if st and st.status == "stopped" and st.exit_code is not None:
            return st.exit_code
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cid} did not exit")


def config(tmp: Path, args: list[str], **kw: object) -> ContainerConfig:
    return ContainerConfig(rootfs=str(busybox_rootfs(tmp / "rootfs")), args=args, **kw)  # type: ignore[arg-type]


async def test_exit_code_and_cri_log(rt: ConmonRuntime, tmp_path: Path) -> None:
    cid = unique("c")
    spec = build_spec(config(tmp_path, ["sh", "-c", "echo hello; echo oops >&2; exit 3"], env=["A=1"]))
    pid = await rt.create(cid, tmp_path / "bundle", spec, tmp_path / "logs" / "0.log")
    assert pid > 0 and (await rt.state(cid)).status == "created"  # type: ignore[union-attr]
    await rt.start(cid)
    assert await wait_exit(rt, cid) == 3
    raw = (tmp_path / "logs" / "0.log").read_text().splitlines()
    assert raw[0].split(" ", 3)[1:] == ["stdout", "F", "hello"] and raw[1].split(" ", 3)[1:] == ["stderr", "F", "oops"]
    assert read_log(tmp_path / "logs" / "0.log") == b"hello\noops\n"
    assert read_log(tmp_path / "logs" / "0.log", tail=1) == b"oops\n"
    assert read_log(tmp_path / "logs" / "0.log", timestamps=True).decode().split(" ", 1)[0].endswith("Z")


async def test_run_creates_and_starts_in_one_step(rt: ConmonRuntime, tmp_path: Path) -> None:
    cid = unique("c")
    spec = build_spec(config(tmp_path, ["sh", "-c", "echo started; sleep 1000"]))
    pid = await rt.run(cid, tmp_path / "bundle", spec, tmp_path / "logs" / "0.log")
    st = await rt.state(cid)
    assert st is not None and st.status == "running" and st.pid == pid and st.started_at is not None
    for _ in range(50):
        if read_log(tmp_path / "logs" / "0.log") == b"started\n":
            break
        await asyncio.sleep(0.1)
    assert read_log(tmp_path / "logs" / "0.log") == b"started\n"  # its process really runs: no start call
    await rt.kill(cid, signal.SIGKILL)
    assert await wait_exit(rt, cid) == 137


async def test_run_from_a_noexec_state_dir_creates_then_starts(tmp_path: Path) -> None:
    from podfleet import mounts

    state = tmp_path / "state"
    state.mkdir()
    mounts.mount("tmpfs", state, "tmpfs", "size=16m", flags=8)  # MS_NOEXEC
    try:
        rt = ConmonRuntime(state)
        assert rt.run_detached is None  # conmon could not execute a script there
        cid = unique("c")
        pid = await rt.run(cid, tmp_path / "b", build_spec(config(tmp_path, ["sh", "-c", "echo ok; sleep 100"])),
                           tmp_path / "l.log")
        st = await rt.state(cid)
        assert st is not None and st.status == "running" and st.pid == pid
        await rt.delete(cid)
    finally:
        mounts.unmount(state, lazy=True)


async def test_run_with_a_missing_command_is_a_clear_error(rt: ConmonRuntime, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no-such-binary"):
        await rt.run(unique("c"), tmp_path / "b", build_spec(config(tmp_path, ["/no-such-binary"])),
                     tmp_path / "l.log")
    assert await rt.list_containers() == []


async def test_missing_command_is_a_clear_error(rt: ConmonRuntime, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no-such-binary"):
        await rt.create(unique("c"), tmp_path / "b", build_spec(config(tmp_path, ["/no-such-binary"])),
                        tmp_path / "l.log")
    assert await rt.list_containers() == []


def overlay_on_busybox(tmp: Path) -> mounts.Mount:
    busybox_rootfs(tmp / "rootfs")
    for d in ("upper", "work", "merged"):
        (tmp / d).mkdir()
    return mounts.Mount("overlay", tmp / "merged", "overlay", "lowerdir=rootfs,upperdir=upper,workdir=work", tmp)


async def test_rootfs_is_mounted_only_in_the_containers_own_mount_namespace(rt: ConmonRuntime, tmp_path: Path) -> None:
    overlay = overlay_on_busybox(tmp_path)
    merged = str(tmp_path / "merged")
    cid = unique("c")
    spec = build_spec(ContainerConfig(rootfs=merged, args=["sh", "-c", "echo written > /new; exec sleep 1000"]))
    await rt.run(cid, tmp_path / "bundle", spec, tmp_path / "l.log", overlay)
    for _ in range(50):
        if (tmp_path / "upper" / "new").exists():
            break
        await asyncio.sleep(0.1)
    assert (tmp_path / "upper" / "new").read_text() == "written\n"  # the container writes to its own layer
    assert merged not in Path("/proc/self/mountinfo").read_text()  # the host never sees the mount
    assert os.listdir(merged) == []
    conmon = int((rt.meta / cid / "conmon.pid").read_text())
    assert f" {merged} " in Path(f"/proc/{conmon}/mountinfo").read_text()  # its conmon (and runc) do
    assert os.getcwd() != str(tmp_path)  # the mount's working directory was never the agent's
    await rt.kill(cid, signal.SIGKILL)
    assert await wait_exit(rt, cid) == 137
    await rt.delete(cid)
    for _ in range(100):  # the namespace, and the mount, go with the container's last process
        try:
            os.rmdir(merged)
            break
        except OSError:
            await asyncio.sleep(0.02)
    assert not os.path.exists(merged)


async def test_a_rootfs_that_cannot_be_mounted_is_a_clear_error(rt: ConmonRuntime, tmp_path: Path) -> None:
    overlay = overlay_on_busybox(tmp_path)
    broken = dataclasses.replace(overlay, options="lowerdir=missing,upperdir=upper,workdir=work")
    cid = unique("c")
    spec = build_spec(ContainerConfig(rootfs=str(overlay.target), args=["true"]))
    with pytest.raises(ContainerRuntimeError, match="No such file or directory"):
        await rt.run(cid, tmp_path / "bundle", spec, tmp_path / "l.log", broken)
    assert await rt.state(cid) is None


async def test_sigterm_stops_running_container_and_delete_cleans_up(rt: ConmonRuntime, tmp_path: Path) -> None:
    cid = unique("c")
    await rt.create(cid, tmp_path / "b", build_spec(config(tmp_path, ["sleep", "1000"])), tmp_path / "l.log")
    await rt.start(cid)
    st = await rt.state(cid)
    assert st is not None and st.status == "running" and st.pid > 0
    pid = st.pid
    res = await rt.exec_sync(cid, ["sh", "-c", "echo inside"], 5)
    assert res.exit_code == 0 and res.stdout == b"inside\n"
    await rt.kill(cid, signal.SIGKILL)
    assert await wait_exit(rt, cid) == 137
    await rt.delete(cid)
    assert await rt.state(cid) is None
    assert not Path(f"/proc/{pid}").exists()
    await rt.delete(cid)  # idempotent


async def test_pod_containers_share_net_ipc_uts(rt: ConmonRuntime, tmp_path: Path, netns: str) -> None:
    ns = await create_sandbox_namespaces(tmp_path / "ns", "mypod")
    try:
        www = tmp_path / "www"
        www.mkdir()
        (www / "index.html").write_text("from-main")
        common = {"netns": netns, "ipcns": str(ns.ipc), "utsns": str(ns.uts)}
        main = build_spec(config(tmp_path / "m", ["httpd", "-f", "-p", "8080", "-h", "/www"],
                                 mounts=[Mount(str(www), "/www", readonly=True)], **common))
        side = build_spec(config(tmp_path / "s", ["sh", "-c", "sleep 0.5; hostname; wget -q -O - http://127.0.0.1:8080/"],
                                 **common))
        await rt.create("m-" + unique(), tmp_path / "bm", main, tmp_path / "m.log")
        await rt.start((await rt.list_containers())[0].id)
        sid = "s-" + unique()
        await rt.create(sid, tmp_path / "bs", side, tmp_path / "s.log")
        await rt.start(sid)
        assert await wait_exit(rt, sid) == 0
        assert read_log(tmp_path / "s.log") == b"mypod\nfrom-main"  # index.html has no final newline
    finally:
        for st in await rt.list_containers():
            await rt.delete(st.id)
        await remove_sandbox_namespaces(tmp_path / "ns")
    assert not (tmp_path / "ns").exists()


async def test_container_survives_death_of_its_creator(tmp_path: Path) -> None:
    state = tmp_path / "state"
    rootfs = busybox_rootfs(tmp_path / "rootfs")
    script = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[3] / 'src')!r})
from pathlib import Path
from podfleet.runtime.oci import ConmonRuntime
from podfleet.runtime.spec import ContainerConfig, build_spec
async def main():
    rt = ConmonRuntime(Path({str(state)!r}))
    loop = "while true; do echo tick; sleep 0.2; done"
    spec = build_spec(ContainerConfig(rootfs={str(rootfs)!r}, args=["sh", "-c", loop]))
    await rt.create("survivor", Path({str(tmp_path / 'b')!r}), spec, Path({str(tmp_path / 'l.log')!r}))
    await rt.start("survivor")
    print("started", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rt = ConmonRuntime(state)
    try:
        await asyncio.sleep(0.5)
        st = await rt.state("survivor")
        assert st is not None and st.status == "running"
        before = read_log(tmp_path / "l.log").count(b"tick")
        await asyncio.sleep(0.6)
        assert read_log(tmp_path / "l.log").count(b"tick") > before  # still running, still logged
        assert [s.id for s in await rt.list_containers()] == ["survivor"]
    finally:
        await rt.delete("survivor")
