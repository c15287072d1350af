"""Building the OCI runtime spec (config.json) for one container of a pod.

The container joins its pod's network, IPC and UTS namespaces by path, gets its own mount and PID
namespaces (or the pod's PID namespace with shareProcessNamespace), Docker's default capabilities,
masked and read-only /proc paths, and rlimits never above the current hard limits (there is no
CAP_SYS_RESOURCE to raise them).
"""

from __future__ import annotations

import functools
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
# Every capability Linux has, by number (0 to CAP_CHECKPOINT_RESTORE, 40): what `add: [ALL]` and
# privileged grant, as far as the agent's own bounding set allows.
ALL_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
            "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE")
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Mount:
    source: str
    destination: str
    readonly: bool = False
    type: str = "bind"
    options: list[str] = field(default_factory=list)


@dataclass
class ContainerConfig:
    rootfs: str
    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    netns: str | None = None  # path; None = the host's network namespace
    ipcns: str | None = None
    utsns: str | None = None
    pidns: str | None = None  # path of a shared PID namespace; None = own
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    readonly_rootfs: bool = False
    cgroups_path: str = ""
    cpu_millis: int | None = None  # limit
    cpu_shares_millis: int | None = None  # request
    memory_bytes: int | None = None
    nofile: int = 1048576
    annotations: dict[str, str] = field(default_factory=dict)
    terminal: bool = False  # the process gets a pseudo-terminal (a container's `tty`)
    no_new_privileges: bool = False  # `allowPrivilegeEscalation: false`
    rootfs_propagation: str = ""  # rslave / rshared when a mount propagates (mountPropagation)


def _cap(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") else f"CAP_{name}"


def capabilities(cfg: ContainerConfig) -> list[str]:
    """Docker's defaults, less `drop`, plus `add`; `ALL` in either means every capability, and a
    privileged container has them all (as CRI runtimes do)."""
    if cfg.privileged or "CAP_ALL" in {_cap(c) for c in cfg.cap_add}:
        return granted_caps()
    drop = {_cap(c) for c in cfg.cap_drop}
    if "CAP_ALL" in drop:
        base: list[str] = []
    else:
        base = [c for c in DEFAULT_CAPS if c not in drop]
    for c in cfg.cap_add:
        if _cap(c) not in base:
            base.append(_cap(c))
    return base


@functools.cache
def granted_caps() -> list[str]:
    """Every capability this process may hand on (its bounding set): a container can have no more,
    and runc fails asking for one outside it (a node without CAP_SYS_RESOURCE, say)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        bounding = int(fields["CapBnd"].strip(), 16)
    except (OSError, KeyError, ValueError):
        return list(ALL_CAPS)
    return [name for number, name in enumerate(ALL_CAPS) if bounding >> number & 1]


def _rlimits(wanted_nofile: int) -> list[dict[str, Any]]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = min(wanted_nofile, hard) if hard != resource.RLIM_INFINITY else wanted_nofile
    return [{"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}]


def _mounts(cfg: ContainerConfig) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", *([] if cfg.privileged else ["ro"])]},  # privileged: writable
    ]
    has_shm = any(m.destination == "/dev/shm" for m in cfg.mounts)
    if not has_shm:
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]})
    for m in cfg.mounts:
        if m.type == "bind":
            opts = ["rbind", "ro" if m.readonly else "rw", *m.options]
            mounts.append({"destination": m.destination, "type": "bind", "source": m.source, "options": opts})
        else:
            mounts.append({"destination": m.destination, "type": m.type, "source": m.source,
                           "options": [*m.options, *(["ro"] if m.readonly else [])]})
    return mounts


def build_spec(cfg: ContainerConfig) -> dict[str, Any]:
    caps = capabilities(cfg)
    namespaces: list[dict[str, str]] = [{"type": "mount"}]
    for ns_type, path in (("network", cfg.netns), ("ipc", cfg.ipcns), ("uts", cfg.utsns)):
        if path:
            namespaces.append({"type": ns_type, "path": path})
    namespaces.append({"type": "pid", "path": cfg.pidns} if cfg.pidns else {"type": "pid"})
    env = list(cfg.env)
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "maskedPaths": [] if cfg.privileged else MASKED_PATHS,
        "readonlyPaths": [] if cfg.privileged else READONLY_PATHS,
    }
    if cfg.cgroups_path:
        linux["cgroupsPath"] = cfg.cgroups_path
    if cfg.rootfs_propagation:
        linux["rootfsPropagation"] = cfg.rootfs_propagation
    res: dict[str, Any] = {}
    if cfg.memory_bytes:
        res["memory"] = {"limit": cfg.memory_bytes}
    cpu: dict[str, Any] = {}
    if cfg.cpu_millis:
        cpu["quota"], cpu["period"] = cfg.cpu_millis * 100, 100000
    if cfg.cpu_shares_millis:
        cpu["shares"] = max(2, cfg.cpu_shares_millis * 1024 // 1000)
    if cpu:
        res["cpu"] = cpu
    if res:
        linux["resources"] = res
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": cfg.terminal,
            "user": {"uid": cfg.uid, "gid": cfg.gid, **({"additionalGids": cfg.additional_gids}
                                                         if cfg.additional_gids else {})},
            "args": cfg.args,
            "env": env,
            "cwd": cfg.cwd or "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": _rlimits(cfg.nofile),
            "noNewPrivileges": cfg.no_new_privileges,
        },
        "root": {"path": cfg.rootfs, "readonly": cfg.readonly_rootfs},
        "mounts": _mounts(cfg),
        "linux": linux,
        "annotations": dict(cfg.annotations),
    }
    # The hostname lives in the pod's own UTS namespace (set once for all its containers);
    # hostNetwork pods share the node's. So the spec never sets one itself.
    return spec
