"""`read_cgroup` on a real cgroup: a busy child moved into a fresh cgroup shows up as CPU time and as
working set (it touches 32 MiB after the move, so the pages are charged to the new cgroup)."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from podfleet.runtime.cgroups import CGROUP_ROOT
from podfleet.runtime.resource_usage import CgroupUsage, UsageSampler, cpu_rate_nano_cores, read_cgroup

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creating cgroups needs root")]

TOUCHED = 32 << 20
# Waits for the go-ahead (sent once it is in the cgroup), writes every byte of TOUCHED, then spins.
CHILD = f"import sys; sys.stdin.readline(); b = b'x' * {TOUCHED}; print('ok', flush=True)\nwhile True: pass"


def _cgroup_dirs(name: str) -> list[Path]:
    """The directories to create for cgroup `/name`: the v2 tree, or the v1 cpuacct and memory hierarchies."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        controllers = (CGROUP_ROOT / "cgroup.subtree_control").read_text().split()
        if "memory" not in controllers:
            pytest.skip("the v2 root does not enable the memory controller for its children")
        return [CGROUP_ROOT / name]
    dirs = [CGROUP_ROOT / "cpuacct" / name, CGROUP_ROOT / "memory" / name]
    if not all(d.parent.is_dir() for d in dirs):
        pytest.skip("no v1 cpuacct/memory hierarchies and no v2 tree")
    return dirs


@pytest.fixture
def cgroup() -> Iterator[tuple[str, list[Path]]]:
    name = f"podfleet-test-usage-{secrets.token_hex(4)}"
    dirs = _cgroup_dirs(name)
    made: list[Path] = []
    try:
        for d in dirs:
            try:
                d.mkdir()
            except OSError as e:  # EACCES/EROFS: a read-only cgroupfs, e.g. in an unprivileged container
                pytest.skip(f"cannot create {d}: {e}")
            made.append(d)
        yield f"/{name}", dirs
    finally:
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()


@pytest.fixture
def busy_child() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield child
    finally:
        child.kill()
        child.wait()  # reaped, so the cgroups are empty and can be removed by the cgroup fixture


def _wait_for(path: str, ok: Callable[[CgroupUsage], bool], timeout: float = 20.0) -> CgroupUsage:
    deadline = time.monotonic() + timeout
    last = read_cgroup(path)
    while last is None or not ok(last):
        if time.monotonic() > deadline:
            raise AssertionError(f"usage of {path} did not get there in {timeout}s: {last}")
        time.sleep(0.05)
        last = read_cgroup(path)
    return last


# fixture order matters: `busy_child` is torn down (killed, reaped) before `cgroup` removes the directories
def test_busy_child_shows_as_cpu_and_working_set(cgroup: tuple[str, list[Path]],
                                                busy_child: subprocess.Popen[str]) -> None:
    path, dirs = cgroup
    empty = read_cgroup(path)
    assert empty is not None and empty.cpu_usage_ns == 0
    for d in dirs:
        (d / "cgroup.procs").write_text(f"{busy_child.pid}\n")
    assert busy_child.stdin is not None and busy_child.stdout is not None
    busy_child.stdin.write("go\n")
    busy_child.stdin.flush()
    assert busy_child.stdout.readline() == "ok\n"  # the 32 MiB are written (and charged here)

    first = _wait_for(path, lambda u: u.cpu_usage_ns > 200_000_000)  # 0.2 s of CPU
    assert first.memory_working_set_bytes >= TOUCHED
    second = _wait_for(path, lambda u: u.cpu_usage_ns > first.cpu_usage_ns + 200_000_000)
    rate = cpu_rate_nano_cores(first, second)
    assert rate is not None and 0 < rate <= 1_100_000_000  # one spinning thread: at most about one core

    sampler = UsageSampler()
    assert sampler.sample(path, first) == (None, first.memory_working_set_bytes)
    assert sampler.sample(path, second) == (rate, second.memory_working_set_bytes)


def test_removed_cgroup_reads_as_none(cgroup: tuple[str, list[Path]]) -> None:
    path, dirs = cgroup
    assert read_cgroup(path) is not None
    for d in reversed(dirs):
        d.rmdir()
    assert read_cgroup(path) is None
