"""CPU and memory usage of cgroups and of the node, as kubelet's summary API reports them (`kubectl top`).

The definitions follow cAdvisor, which kubelet's summary API (and so metrics-server) is built on:
- CPU is the cgroup's cumulative CPU time (v1 `cpuacct.usage`; v2 `cpu.stat` `usage_usec`), and the
  rate metrics-server shows is its increase between two readings divided by the time between them.
- Memory is the *working set*: usage minus inactive file pages, floored at 0 (v1 `memory.usage_in_bytes`
  minus `total_inactive_file` from `memory.stat`; v2 `memory.current` minus `inactive_file`), i.e. what
  the kernel could not easily reclaim; it is also what kubelet's eviction and the OOM picture use.
- The node is the root cgroup (kubelet reads cgroup "/" for the node summary); the v2 root has no
  `memory.current`, so its usage is `anon + file` from the root `memory.stat`, as runc emulates it.

On hybrid hosts (v1 controllers plus a v2 `unified` mount) the v1 cpuacct/memory hierarchies are used:
a controller can be attached to one hierarchy only, so that is where runc enforces the limits and charges
the usage, and the unified tree there has no memory files at all.

Everything here is synchronous, cheap (a few small reads) and free of shared state except
`UsageSampler`'s own dictionary: callers run it in a worker thread.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from podfleet.runtime.cgroups import CGROUP_ROOT

Clock = Callable[[], float]

# Errors that mean the cgroup (or the file's cgroup) went away while we read it.
_GONE = frozenset({errno.ENOENT, errno.ENODEV})


@dataclass(frozen=True)
class CgroupUsage:
    """One reading: a cumulative CPU counter and the working set at `timestamp` (from the caller's clock).

    `timestamp` only has to be comparable between readings of the same clock; it is what the CPU rate
    divides by, so it is taken right before the CPU counter is read.
    """

    cpu_usage_ns: int
    memory_working_set_bytes: int
    timestamp: float


@dataclass(frozen=True)
class _Hierarchy:
    """Where one controller's files live: a v1 hierarchy (`v1=True`) or the v2 tree."""

    mount: Path
    v1: bool


def _hierarchies(root: Path) -> tuple[_Hierarchy | None, _Hierarchy | None]:
    """The (cpu, memory) hierarchies under `root`: v1 cpuacct/memory when mounted, else the v2 tree."""
    if (root / "cgroup.controllers").exists():  # pure v2: the one tree is mounted at the root
        v2 = _Hierarchy(root, v1=False)
        return v2, v2
    unified = root / "unified"
    fallback = _Hierarchy(unified, v1=False) if (unified / "cgroup.controllers").exists() else None
    cpu = _Hierarchy(root / "cpuacct", v1=True) if (root / "cpuacct" / "cpuacct.usage").exists() else fallback
    mem = _Hierarchy(root / "memory", v1=True) if (root / "memory" / "memory.usage_in_bytes").exists() else fallback
    return cpu, mem


def _relative(path: str) -> str:
    """`path` as a relative cgroup path ("" for the root); `..` is refused so no path leaves the mount."""
    rel = path.strip("/")
    if ".." in rel.split("/"):
        raise ValueError(f"cgroup path must not contain '..': {path!r}")
    return rel


def _read_int(file: Path) -> int:
    return int(file.read_text().strip())


def _read_keyed(file: Path) -> dict[str, int]:
    """A flat `key value` file (`memory.stat`, `cpu.stat`)."""
    out: dict[str, int] = {}
    for line in file.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value:
            out[key] = int(value)
    return out


def _cpu_ns(directory: Path, v1: bool) -> int:
    if v1:
        return _read_int(directory / "cpuacct.usage")
    return _read_keyed(directory / "cpu.stat")["usage_usec"] * 1000


def _working_set(directory: Path, v1: bool, is_root: bool) -> int:
    """cAdvisor's working set: usage minus inactive file pages (a missing key subtracts nothing), floored at 0."""
    stat = _read_keyed(directory / "memory.stat")
    if v1:
        usage, inactive = _read_int(directory / "memory.usage_in_bytes"), stat.get("total_inactive_file", 0)
    else:
        if is_root and not (directory / "memory.current").exists():
            usage = stat.get("anon", 0) + stat.get("file", 0)  # the v2 root has no memory.current
        else:
            usage = _read_int(directory / "memory.current")
        inactive = stat.get("inactive_file", 0)
    return max(usage - inactive, 0)


def read_cgroup(path: str, root: Path = CGROUP_ROOT, now: Clock = time.monotonic) -> CgroupUsage | None:
    """The usage of cgroup `path` (e.g. a container's `linux.cgroupsPath`; "/" is the root cgroup).

    None when the cgroup is not there (never created, or removed before or while it was read), which for a
    container that just exited is the normal case rather than an error. A cgroup that exists but lacks a
    controller's files (a v2 tree without the memory controller enabled) raises: that is misconfiguration.
    """
    rel = _relative(path)
    cpu_h, mem_h = _hierarchies(root)
    if cpu_h is None or mem_h is None:
        return None
    cpu_dir, mem_dir = cpu_h.mount / rel, mem_h.mount / rel
    if not (cpu_dir.is_dir() and mem_dir.is_dir()):
        return None
    try:
        timestamp = now()
        cpu = _cpu_ns(cpu_dir, cpu_h.v1)
        working_set = _working_set(mem_dir, mem_h.v1, is_root=not rel)
    except OSError as e:
        if e.errno in _GONE and not (cpu_dir.is_dir() and mem_dir.is_dir()):
            return None  # removed between the check and the reads
        raise
    return CgroupUsage(cpu_usage_ns=cpu, memory_working_set_bytes=working_set, timestamp=timestamp)


def cpu_rate_nano_cores(prev: CgroupUsage, cur: CgroupUsage) -> int | None:
    """CPU used between two readings in nanocores (CPU-ns per second), truncated as metrics-server does.

    None when the interval is not positive or the counter went down (the cgroup was recreated, e.g. a
    restarted container): metrics-server drops such pairs rather than report a bogus rate.
    """
    window = cur.timestamp - prev.timestamp
    if window <= 0 or cur.cpu_usage_ns < prev.cpu_usage_ns:
        return None
    return int((cur.cpu_usage_ns - prev.cpu_usage_ns) / window)


def _proc_cpu_ns(proc: Path) -> int:
    """Non-idle CPU time of all CPUs from /proc/stat: user+nice+system+irq+softirq (guest time is already in
    user/nice; idle, iowait and steal are time the node's tasks did not run), ticks converted to ns."""
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("cpu "):
            fields = [int(v) for v in line.split()[1:]]
            user, nice, system, irq, softirq = fields[0], fields[1], fields[2], fields[5], fields[6]
            return (user + nice + system + irq + softirq) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    raise ValueError(f"no aggregate cpu line in {proc / 'stat'}")


def _proc_working_set(proc: Path) -> int:
    """The root cgroup's working set in /proc/meminfo terms: (MemTotal - MemFree) - Inactive(file), floored."""
    kib: dict[str, int] = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields:
            kib[key] = int(fields[0])
    usage = kib["MemTotal"] - kib["MemFree"]
    return max(usage - kib.get("Inactive(file)", 0), 0) * 1024


def node_usage(proc: Path = Path("/proc"), root: Path = CGROUP_ROOT, now: Clock = time.monotonic) -> CgroupUsage:
    """The whole node's usage: kubelet's definition (the root cgroup "/") when that is readable, else the
    same quantities from /proc/stat and /proc/meminfo (e.g. no cgroupfs mounted where the agent runs)."""
    try:
        reading = read_cgroup("/", root, now)
    except (OSError, ValueError, KeyError):
        reading = None
    if reading is not None:
        return reading
    timestamp = now()
    return CgroupUsage(cpu_usage_ns=_proc_cpu_ns(proc), memory_working_set_bytes=_proc_working_set(proc),
                       timestamp=timestamp)


class UsageSampler:
    """Remembers the last reading per key (a container, a pod, the node) to turn counters into rates.

    No I/O: callers read with `read_cgroup`/`node_usage` and hand the readings in. Thread-safe, since the
    readings are taken in worker threads.
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, CgroupUsage] = {}
        self._lock = threading.Lock()

    def sample(self, key: Hashable, reading: CgroupUsage) -> tuple[int | None, int]:
        """(nanocores since the previous reading of `key` or None, working set bytes of `reading`).

        The rate is None for the first reading of a key, after a counter reset and for a non-positive
        interval; a reading older than the one kept is not kept (an out-of-order sample must not rewind).
        """
        with self._lock:
            prev = self._last.get(key)
            if prev is None or reading.timestamp >= prev.timestamp:
                self._last[key] = reading
        rate = cpu_rate_nano_cores(prev, reading) if prev is not None else None
        return rate, reading.memory_working_set_bytes

    def forget(self, key: Hashable) -> None:
        """Drop `key`'s reading (its container or pod is gone); unknown keys are ignored."""
        with self._lock:
            self._last.pop(key, None)
