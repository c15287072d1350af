"""Resource usage as kubelet/cAdvisor define it, read from fake cgroup trees (v1, v2, hybrid) and a fake
/proc: cumulative CPU, working set = usage - inactive file (floored at 0), rates as metrics-server computes
them, and None for a cgroup that is gone or a counter that went backwards."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from podfleet.runtime.resource_usage import (
    CgroupUsage,
    UsageSampler,
    cpu_rate_nano_cores,
    node_usage,
    read_cgroup,
)

CID = "/podfleet/node-1/pod1234/abcdef"
MiB = 1 << 20


def _write(d: Path, files: dict[str, str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)


def _v1(root: Path, path: str, cpu_ns: int, usage: int, inactive: int | None) -> None:
    """A cgroup in the v1 cpuacct and memory hierarchies (and the hierarchy roots that mark them mounted)."""
    _write(root / "cpuacct", {"cpuacct.usage": "999999999999\n"})
    _write(root / "memory", {"memory.usage_in_bytes": str(64 * 1024 * MiB), "memory.stat": "cache 0\n"})
    rel = path.strip("/")
    _write(root / "cpuacct" / rel, {"cpuacct.usage": f"{cpu_ns}\n"})
    stat = "cache 1\nrss 2\ninactive_file 7\n"  # the non-hierarchical key must not be the one used
    if inactive is not None:
        stat += f"total_inactive_file {inactive}\n"
    _write(root / "memory" / rel, {"memory.usage_in_bytes": f"{usage}\n", "memory.stat": stat})


def _v2(mount: Path, path: str, usage_usec: int, current: int, inactive: int) -> None:
    _write(mount, {"cgroup.controllers": "cpu memory pids\n"})
    _write(mount / path.strip("/"), {
        "cpu.stat": f"usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 2\n",
        "memory.current": f"{current}\n",
        "memory.stat": f"anon 5\nfile 6\ninactive_file {inactive}\nactive_file 3\n",
    })


def _clock(t: float = 100.0) -> float:
    return t


def test_v1_cpu_from_cpuacct_and_working_set_without_total_inactive_file(tmp_path: Path) -> None:
    _v1(tmp_path, CID, cpu_ns=1_500_000_000, usage=40 * MiB, inactive=10 * MiB)
    assert read_cgroup(CID, tmp_path, now=_clock) == CgroupUsage(1_500_000_000, 30 * MiB, 100.0)


def test_v1_without_inactive_file_key_is_the_whole_usage(tmp_path: Path) -> None:
    _v1(tmp_path, CID, cpu_ns=1, usage=40 * MiB, inactive=None)
    reading = read_cgroup(CID, tmp_path, now=_clock)
    assert reading is not None and reading.memory_working_set_bytes == 40 * MiB


def test_working_set_is_floored_at_zero(tmp_path: Path) -> None:
    _v1(tmp_path, CID, cpu_ns=1, usage=10, inactive=20)  # inactive counted after usage: racy but possible
    reading = read_cgroup(CID, tmp_path, now=_clock)
    assert reading is not None and reading.memory_working_set_bytes == 0


def test_v2_cpu_stat_in_microseconds_and_memory_current(tmp_path: Path) -> None:
    _v2(tmp_path, CID, usage_usec=2_000_000, current=50 * MiB, inactive=20 * MiB)
    assert read_cgroup(CID, tmp_path, now=_clock) == CgroupUsage(2_000_000_000, 30 * MiB, 100.0)


def test_hybrid_prefers_the_v1_controllers_over_the_unified_tree(tmp_path: Path) -> None:
    _v1(tmp_path, CID, cpu_ns=111, usage=40 * MiB, inactive=10 * MiB)
    _v2(tmp_path / "unified", CID, usage_usec=999, current=1, inactive=0)
    assert read_cgroup(CID, tmp_path, now=_clock) == CgroupUsage(111, 30 * MiB, 100.0)


def test_hybrid_falls_back_to_unified_per_controller(tmp_path: Path) -> None:
    _v1(tmp_path, CID, cpu_ns=111, usage=40 * MiB, inactive=10 * MiB)
    shutil.rmtree(tmp_path / "memory")  # memory is not a v1 hierarchy on this host
    _v2(tmp_path / "unified", CID, usage_usec=999, current=8 * MiB, inactive=MiB)
    assert read_cgroup(CID, tmp_path, now=_clock) == CgroupUsage(111, 7 * MiB, 100.0)


def test_missing_cgroup_or_missing_cgroupfs_is_none(tmp_path: Path) -> None:
    assert read_cgroup(CID, tmp_path) is None  # nothing mounted
    _v1(tmp_path, "/other", cpu_ns=1, usage=1, inactive=0)
    assert read_cgroup(CID, tmp_path) is None
    _v2(tmp_path / "v2", "/other", usage_usec=1, current=1, inactive=0)
    assert read_cgroup(CID, tmp_path / "v2") is None


def test_cgroup_removed_while_being_read_is_none(tmp_path: Path) -> None:
    _v1(tmp_path, CID, cpu_ns=1, usage=1, inactive=0)

    def clock_that_removes_the_cgroup() -> float:  # runs after the existence check, before the reads
        shutil.rmtree(tmp_path / "cpuacct" / CID.strip("/"))
        return 1.0

    assert read_cgroup(CID, tmp_path, now=clock_that_removes_the_cgroup) is None


def test_v2_cgroup_without_memory_controller_raises(tmp_path: Path) -> None:
    _v2(tmp_path, CID, usage_usec=1, current=1, inactive=0)
    (tmp_path / CID.strip("/") / "memory.current").unlink()
    with pytest.raises(FileNotFoundError):
        read_cgroup(CID, tmp_path)


def test_path_may_not_leave_the_mount(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        read_cgroup("/podfleet/../../etc", tmp_path)


def test_rate_in_nanocores_truncated() -> None:
    prev = CgroupUsage(cpu_usage_ns=1_000_000_000, memory_working_set_bytes=0, timestamp=10.0)
    assert cpu_rate_nano_cores(prev, CgroupUsage(3_000_000_000, 0, 12.0)) == 1_000_000_000  # one core
    assert cpu_rate_nano_cores(prev, CgroupUsage(1_250_000_000, 0, 14.0)) == 62_500_000  # 62.5m
    assert cpu_rate_nano_cores(prev, CgroupUsage(1_000_000_001, 0, 13.0)) == 0
    assert cpu_rate_nano_cores(prev, CgroupUsage(1_000_000_000, 0, 11.0)) == 0  # idle is 0, not None


def test_rate_is_none_for_a_reset_counter_or_no_positive_interval() -> None:
    prev = CgroupUsage(cpu_usage_ns=5_000_000_000, memory_working_set_bytes=0, timestamp=10.0)
    assert cpu_rate_nano_cores(prev, CgroupUsage(1_000, 0, 20.0)) is None  # restarted: counter went back
    assert cpu_rate_nano_cores(prev, CgroupUsage(6_000_000_000, 0, 10.0)) is None
    assert cpu_rate_nano_cores(prev, CgroupUsage(6_000_000_000, 0, 9.0)) is None


def test_node_usage_is_the_root_cgroup_v1(tmp_path: Path) -> None:
    _write(tmp_path / "cpuacct", {"cpuacct.usage": "123456\n"})
    _write(tmp_path / "memory", {"memory.usage_in_bytes": f"{900 * MiB}\n",
                                 "memory.stat": f"total_inactive_file {100 * MiB}\n"})
    assert node_usage(tmp_path / "no-proc", tmp_path, now=_clock) == CgroupUsage(123456, 800 * MiB, 100.0)


def test_node_usage_v2_root_has_no_memory_current_so_anon_plus_file(tmp_path: Path) -> None:
    _write(tmp_path, {
        "cgroup.controllers": "cpu memory\n",
        "cpu.stat": "usage_usec 42\n",
        "memory.stat": f"anon {300 * MiB}\nfile {500 * MiB}\ninactive_file {200 * MiB}\n",
    })
    assert node_usage(tmp_path / "no-proc", tmp_path, now=_clock) == CgroupUsage(42_000, 600 * MiB, 100.0)


def test_node_usage_falls_back_to_proc_without_cgroupfs(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    # user nice system idle iowait irq softirq steal guest guest_nice
    _write(proc, {
        "stat": "cpu  100 20 30 5000 70 4 6 9 11 0\ncpu0 50 10 15 2500 35 2 3 4 5 0\nintr 1 2 3\n",
        "meminfo": "MemTotal:        8000000 kB\nMemFree:         1000000 kB\nMemAvailable:    5000000 kB\n"
                   "Inactive(file):  2000000 kB\n",
    })
    reading = node_usage(proc, tmp_path / "no-cgroupfs", now=_clock)
    assert reading.cpu_usage_ns == (100 + 20 + 30 + 4 + 6) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert reading.memory_working_set_bytes == (8000000 - 1000000 - 2000000) * 1024
    assert reading.timestamp == 100.0


def test_sampler_rates_per_key_reset_and_forget() -> None:
    s = UsageSampler()
    assert s.sample("a", CgroupUsage(0, 10, 0.0)) == (None, 10)  # first reading: no rate yet
    assert s.sample("b", CgroupUsage(7_000, 1, 0.0)) == (None, 1)
    assert s.sample("a", CgroupUsage(500_000_000, 20, 1.0)) == (500_000_000, 20)  # 500m
    assert s.sample("a", CgroupUsage(100, 30, 2.0)) == (None, 30)  # counter reset: no rate...
    assert s.sample("a", CgroupUsage(250_000_100, 40, 3.0)) == (250_000_000, 40)  # ...then rates from it
    s.forget("a")
    s.forget("never-seen")
    assert s.sample("a", CgroupUsage(300_000_000, 50, 4.0)) == (None, 50)
    assert s.sample("b", CgroupUsage(7_000 + 2_000_000_000, 2, 2.0)) == (1_000_000_000, 2)


def test_sampler_keeps_the_newer_reading_when_an_older_one_arrives() -> None:
    s = UsageSampler()
    s.sample("a", CgroupUsage(1_000_000_000, 0, 10.0))
    assert s.sample("a", CgroupUsage(500_000_000, 0, 5.0)) == (None, 0)  # out of order: ignored
    assert s.sample("a", CgroupUsage(2_000_000_000, 0, 11.0)) == (1_000_000_000, 0)  # still against t=10
