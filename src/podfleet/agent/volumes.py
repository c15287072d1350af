"""Pod volumes on the node: `emptyDir` (disk or tmpfs), `hostPath`, `configMap` and `secret`.

Each pod's volumes live under `<pods_dir>/<uid>/volumes/<name>`; containers get them as bind mounts
(with `readOnly` and `subPath`), which is how two containers of a pod share files. A volume that
cannot be set up raises `VolumeError`, which the pod worker reports as a `FailedMount` event while
the pod waits — it never takes the agent down.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from podfleet import procs
from podfleet.agent.expansion import expand
from podfleet.api.errors import APIError
from podfleet.api.resources import CONFIGMAPS, SECRETS
from podfleet.client.interface import Client

log = logging.getLogger("podfleet.agent.volumes")


class VolumeError(Exception):
    """A volume could not be set up; the message says which and why (kubelet's FailedMount)."""


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


class VolumeManager:
    def __init__(self, pods_dir: Path, client: Client | None = None) -> None:
        self.pods_dir = pods_dir
        self.client = client

    def pod_volumes_dir(self, uid: str) -> Path:
        return self.pods_dir / uid / "volumes"

    async def setup(self, pod: dict[str, Any]) -> dict[str, Path]:
        """Make every volume of the pod exist on the node; returns volume name → host path."""
        uid = pod["metadata"]["uid"]
        ns = pod["metadata"].get("namespace", "default")
        base = self.pod_volumes_dir(uid)
        paths: dict[str, Path] = {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = vol["name"]
            try:
                paths[name] = await self._setup_one(base, ns, vol)
            except VolumeError as e:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {e}') from e
        return paths

    async def _setup_one(self, base: Path, ns: str, vol: dict[str, Any]) -> Path:
        name = vol["name"]
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
        if "configMap" in vol or "secret" in vol:
            return await self._projected_keys(base, ns, vol)
        raise VolumeError("volume type is not supported by podfleet (supported: emptyDir, hostPath, "
                          "configMap, secret)")

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

    async def _projected_keys(self, base: Path, ns: str, vol: dict[str, Any]) -> Path:
        if self.client is None:
            raise VolumeError("no API client to read configMaps and secrets")
        is_secret = "secret" in vol
        src = vol["secret"] if is_secret else vol["configMap"]
        obj_name = src.get("secretName") if is_secret else src.get("name")
        try:
            obj = await self.client.get(SECRETS if is_secret else CONFIGMAPS, obj_name or "", ns)
        except APIError as e:
            if src.get("optional"):
                obj = {}
            else:
                kind = "secret" if is_secret else "configmap"
                raise VolumeError(f'{kind} "{obj_name}" not found') from e
        data: dict[str, bytes] = {}
        for k, v in (obj.get("data") or {}).items():
            data[k] = base64.b64decode(v) if is_secret else str(v).encode()
        for k, v in (obj.get("binaryData") or {}).items():
            data[k] = base64.b64decode(v)
        items = src.get("items")
        files = {it["path"]: data[it["key"]] for it in items if it["key"] in data} if items else data
        target = base / ("secret" if is_secret else "configmap") / vol["name"]
        mode = int(src.get("defaultMode", 0o644))

        def write() -> None:
            target.mkdir(parents=True, exist_ok=True)
            for rel, content in files.items():
                dest = target / rel
                if ".." in PurePosixPath(rel).parts:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(dest.name + ".tmp")
                tmp.write_bytes(content)
                os.chmod(tmp, mode)
                os.replace(tmp, dest)

        await asyncio.to_thread(write)
        return Path(target)

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
        """Unmount and remove every volume directory of the pod (idempotent). Host paths stay."""
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
