"""Pod volumes on the node: `emptyDir` (disk or tmpfs), `hostPath`, `configMap`, `secret`,
`downwardAPI` and `projected` (ServiceAccount tokens among them).

Each pod's volumes live under `<pods_dir>/<uid>/volumes/<kind>/<name>`; containers get them as bind
mounts (with `readOnly` and `subPath`), which is how two containers of a pod share files. A volume
that cannot be set up raises `VolumeError`, which the pod worker reports as a `FailedMount` event
while the pod waits — it never takes the agent down. Projected volumes holding a token are written
again, in place, when the token is due for renewal (`refresh_at`, `refresh`), as kubelet does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from podfleet import procs
from podfleet.agent.expansion import expand
from podfleet.agent.service_account_tokens import TokenManager
from podfleet.agent.volume_files import (
    Contents,
    VolumeError,
    downward_files,
    file_mode,
    key_files,
    projected_files,
    write_files,
)
from podfleet.client.interface import Client
from podfleet.clock import Clock

__all__ = ["BindMount", "VolumeError", "VolumeManager"]

log = logging.getLogger("podfleet.agent.volumes")


@dataclass(frozen=True)
class BindMount:
    source: Path
    destination: str
    readonly: bool = False
    propagation: str = ""  # the volumeMount's mountPropagation (None when empty)


_HOSTPATH_TYPES = {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice"}


def _memory_bytes(limit: str | None) -> int | None:
    if not limit:
        return None
    from podfleet.api.quantity import parse_quantity

    return int(parse_quantity(limit))


async def _run(*argv: str) -> None:
    res = await procs.run(argv, capture=False, timeout=60)
    if not res.ok:
        raise VolumeError(f"{' '.join(argv)}: {res.error_text()}")


def _is_mountpoint(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def _token_volumes(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod's projected volumes holding a ServiceAccount token: those that need rewriting."""
    return [v for v in (pod.get("spec") or {}).get("volumes") or []
            if any(isinstance(src, dict) and src.get("serviceAccountToken") is not None
                   for src in (v.get("projected") or {}).get("sources") or [])]


class VolumeManager:
    def __init__(self, pods_dir: Path, client: Client, tokens: TokenManager, clock: Clock) -> None:
        self.pods_dir = pods_dir
        self.client = client
        self.tokens = tokens
        self.clock = clock
        self._refresh: dict[str, dict[str, dt.datetime]] = {}  # uid -> volume name -> when to rewrite it

    def pod_volumes_dir(self, uid: str) -> Path:
        return self.pods_dir / uid / "volumes"

    async def setup(self, pod: dict[str, Any]) -> dict[str, Path]:
        """Make every volume of the pod exist on the node; returns volume name → host path."""
        base = self.pod_volumes_dir(pod["metadata"]["uid"])
        paths: dict[str, Path] = {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            paths[vol["name"]] = await self._setup_named(base, pod, vol)
        return paths

    async def _setup_named(self, base: Path, pod: dict[str, Any], vol: dict[str, Any]) -> Path:
        name = vol["name"]
        try:
            return await self._setup_one(base, pod, vol)
        except VolumeError as e:
            raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {e}') from e

    def refresh_at(self, uid: str) -> float | None:
        """When (the clock's wall time, in epoch seconds) a projected volume of the pod is next due
        to be written again for a token renewal; None when none holds a token."""
        due = self._refresh.get(uid)
        return min(due.values()).timestamp() if due else None

    def refresh_due(self, pod: dict[str, Any]) -> bool:
        """Whether a token volume must be rewritten now: its token is due, or this agent has not
        written it since it started (it then knows nothing of the token in it)."""
        due = self._refresh.get(pod["metadata"]["uid"]) or {}
        now = self.clock.now()
        return any(v["name"] not in due or due[v["name"]] <= now for v in _token_volumes(pod))

    async def refresh(self, pod: dict[str, Any]) -> None:
        """Rewrite, in place, the pod's token volumes that are due (see `refresh_due`)."""
        uid = pod["metadata"]["uid"]
        base, now = self.pod_volumes_dir(uid), self.clock.now()
        for vol in _token_volumes(pod):
            at = (self._refresh.get(uid) or {}).get(vol["name"])
            if at is None or at <= now:
                await self._setup_named(base, pod, vol)

    async def _setup_one(self, base: Path, pod: dict[str, Any], vol: dict[str, Any]) -> Path:
        name = vol["name"]
        ns = str(pod["metadata"].get("namespace") or "default")
        if "emptyDir" in vol:
            target = base / "empty-dir" / str(name)
            await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
            ed = vol.get("emptyDir") or {}
            if ed.get("medium") == "Memory" and not _is_mountpoint(target):
                size = _memory_bytes(ed.get("sizeLimit"))
                opts = "mode=0777" + (f",size={size}" if size else "")
                await _run("mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target))
            else:
                os.chmod(target, 0o777)
            return target
        if "hostPath" in vol:
            host: Path = await asyncio.to_thread(self._host_path, vol["hostPath"])
            return host
        if "secret" in vol:
            src = vol["secret"] or {}
            contents = await key_files(self.client, "secret", str(src.get("secretName") or ""), ns, src,
                                       file_mode(src.get("defaultMode")))
            return await self._write(base / "secret" / name, contents)
        if "configMap" in vol:
            src = vol["configMap"] or {}
            contents = await key_files(self.client, "configmap", str(src.get("name") or ""), ns, src,
                                       file_mode(src.get("defaultMode")))
            return await self._write(base / "configmap" / name, contents)
        if "downwardAPI" in vol:
            src = vol["downwardAPI"] or {}
            contents = downward_files(pod, src, file_mode(src.get("defaultMode")))
            return await self._write(base / "downward-api" / name, contents)
        if "projected" in vol:
            contents = await projected_files(self.client, self.tokens, pod, vol["projected"] or {})
            target = await self._write(base / "projected" / name, contents)
            if contents.refresh_at is not None:
                self._refresh.setdefault(pod["metadata"]["uid"], {})[name] = contents.refresh_at
            return target
        raise VolumeError("volume type is not supported by podfleet (supported: emptyDir, hostPath, "
                          "configMap, secret, downwardAPI, projected)")

    @staticmethod
    async def _write(target: Path, contents: Contents) -> Path:
        await asyncio.to_thread(write_files, target, contents.files)
        return target

    @staticmethod
    def _host_path(hp: dict[str, Any]) -> Path:
        path = Path(hp.get("path", ""))
        kind = hp.get("type", "") or ""
        if kind not in _HOSTPATH_TYPES:
            raise VolumeError(f"unsupported hostPath type {kind!r}")
        if not path.is_absolute():
            raise VolumeError(f"hostPath {path} must be absolute")
        if kind == "DirectoryOrCreate":
            path.mkdir(parents=True, exist_ok=True, mode=0o755)
        elif kind == "FileOrCreate":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        checks = {"Directory": stat.S_ISDIR, "File": stat.S_ISREG, "Socket": stat.S_ISSOCK,
                  "CharDevice": stat.S_ISCHR, "BlockDevice": stat.S_ISBLK}
        if kind in checks:
            try:
                mode = path.stat().st_mode
            except FileNotFoundError as e:
                raise VolumeError(f"hostPath type check failed: {path} does not exist") from e
            if not checks[kind](mode):
                raise VolumeError(f"hostPath type check failed: {path} is not a {kind}")
        return path

    @staticmethod
    def mounts_for(container: dict[str, Any], volumes: dict[str, Path],
                   env: dict[str, str] | None = None) -> list[BindMount]:
        """Bind mounts for one container's volumeMounts (subPath, or subPathExpr expanded from the
        container's `env`, resolved and created when missing)."""
        mounts = []
        for vm in container.get("volumeMounts") or []:
            src = volumes.get(vm["name"])
            if src is None:
                raise VolumeError(f'volume "{vm["name"]}" is not set up')
            sub = vm.get("subPath") or ""
            if vm.get("subPathExpr"):
                sub = expand(str(vm["subPathExpr"]), env or {})
            if sub:
                if sub.startswith("/") or ".." in PurePosixPath(sub).parts:
                    raise VolumeError(f"invalid subPath {sub!r}")
                src = src / sub
                if not src.exists():
                    src.mkdir(parents=True, exist_ok=True, mode=0o777)
            mounts.append(BindMount(src, vm["mountPath"], bool(vm.get("readOnly")),
                                    str(vm.get("mountPropagation") or "")))
        return mounts

    async def teardown(self, uid: str) -> None:
        """Unmount and remove every volume directory of the pod (idempotent), and forget its tokens.
        Host paths stay."""
        self.tokens.forget(uid)
        self._refresh.pop(uid, None)
        base = self.pod_volumes_dir(uid)
        if not base.exists():
            return
        for mnt in sorted(base.glob("*/*"), reverse=True):
            if _is_mountpoint(mnt):
                try:
                    await _run("umount", "-l", str(mnt))
                except VolumeError as e:
                    log.warning("unmount failed", extra={"path": str(mnt), "error": str(e)})
        await asyncio.to_thread(shutil.rmtree, base, True)
