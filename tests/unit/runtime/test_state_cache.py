"""ConmonRuntime's state from conmon's files: a running container's start time and pid are read
once, its exit is seen at once, and nothing of a deleted container is remembered."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from podfleet.runtime.oci import ConmonRuntime


def _files(rt: ConmonRuntime, cid: str, pid: int) -> Path:
    cdir = rt.meta / cid
    cdir.mkdir(parents=True)
    (cdir / "started").write_text(dt.datetime(2026, 12, 1, tzinfo=dt.UTC).isoformat())
    (cdir / "pidfile").write_text(str(pid))
    return cdir


async def test_running_state_is_read_once_and_exit_is_seen_at_once(tmp_path: Path) -> None:
    rt = ConmonRuntime(tmp_path / "state")
    cdir = _files(rt, "c1", os.getpid())  # a live pid: this test's own
    st = await rt.state("c1")
    assert st is not None and st.status == "running" and st.pid == os.getpid()
    assert st.started_at == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    (cdir / "started").unlink()
    (cdir / "pidfile").unlink()
    again = await rt.state("c1")  # from memory: the files are not read again
    assert again is not None and again.status == "running" and again.pid == os.getpid()
    (rt.exits / "c1").write_text("3")
    stopped = await rt.state("c1")
    assert stopped is not None and stopped.status == "stopped" and stopped.exit_code == 3


async def test_a_deleted_container_is_forgotten(tmp_path: Path) -> None:
    rt = ConmonRuntime(tmp_path / "state")
    _files(rt, "c1", os.getpid())
    assert (await rt.state("c1")).status == "running"  # type: ignore[union-attr]
    await rt.delete("c1")
    assert await rt.state("c1") is None
    _files(rt, "c1", 2**22 + 12345)  # the same id again, its process gone: not the old answer
    (rt.meta / "c1" / "started").unlink()  # not started: only the runtime could tell
    assert rt._state_from_files("c1", rt.meta / "c1") is None
