"""Container root filesystems: one overlayfs mount per container over the image's shared layers.

`containers/<id>/` holds `upper/` and `work/` (the container's private writable layer), `merged/`
(the mount point handed to the runtime) and `image.json` (which layers it uses, so garbage
collection leaves them alone while the container exists). lowerdir entries are the short `l/<id>`
links. Normally the agent mounts with mount(2) itself, giving the links as absolute paths; only
when those would not fit the kernel's one-page limit for mount options (images with very many
layers) does it run mount(8) from inside `l/` with relative names, which fit even for a hundred
layers. Unmounting is umount2(2), lazily if a stray process still holds the tree.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from podfleet import mounts, procs
from podfleet.images.blobs import LayerStore
from podfleet.images.interface import Image, RootfsError

MAX_MOUNT_OPTIONS = 4095  # the kernel copies mount data into one page
_CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_container_id(container_id: str) -> str:
    if not _CONTAINER_ID.fullmatch(container_id):
        raise RootfsError(f"invalid container id {container_id!r}")
    return container_id


def overlay_options(lower: list[str], upper: Path, work: Path) -> str:
    """Mount data for overlayfs; `lower` is top-most first."""
    opts = f"lowerdir={':'.join(lower)},upperdir={upper},workdir={work}"
    if len(opts) > MAX_MOUNT_OPTIONS:
        raise RootfsError(f"image has too many layers ({len(lower)}) for one overlay mount "
                          f"({len(opts)} bytes of mount options, the limit is {MAX_MOUNT_OPTIONS})")
    return opts


async def _run(*argv: str, cwd: Path | None = None) -> tuple[int, str]:
    res = await procs.run(argv, cwd=cwd, capture=False, timeout=60)
    return res.returncode, res.stderr.decode(errors="replace").strip()


class RootfsManager:
    def __init__(self, root: Path, layers: LayerStore) -> None:
        self.dir = root / "containers"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.layers = layers

    def base(self, container_id: str) -> Path:
        return self.dir / check_container_id(container_id)

    def _prepare(self, container_id: str, image: Image) -> str | None:
        """Directories and records for the mount, then the mount itself when mount(2) can take the
        options with absolute paths. Returns the relative-path options mount(8) must be run with
        from inside `l/` instead, or None when the rootfs is mounted (now or already)."""
        base = self.base(container_id)
        merged = base / "merged"
        if os.path.ismount(merged):
            return None
        missing = [d for d in image.layers if not self.layers.has(d)]
        if missing:
            raise RootfsError(f"image {image.ref} is missing unpacked layer {missing[0]}; remove and pull it again")
        for d in ("upper", "work", "merged"):
            (base / d).mkdir(parents=True, exist_ok=True)
        os.chmod(base / "upper", 0o755)
        record = {"image": image.ref, "manifest": image.manifest_digest, "layers": list(image.layers)}
        tmp = base / "image.json.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, base / "image.json")
        # A layer listed twice is mounted once, at its top-most place (overlayfs refuses repeated lower
        # dirs); re-applying identical content higher up already gives the same tree.
        top_first = list(dict.fromkeys(reversed(image.layers)))
        lower = [self.layers.short_link(d) for d in top_first] or [self.layers.empty.name]
        try:
            absolute = overlay_options([str(self.layers.links / n) for n in lower], base / "upper", base / "work")
        except RootfsError:  # too long for one page: mount(8) from inside l/ with the short names
            return overlay_options(lower, base / "upper", base / "work")
        try:
            mounts.mount("overlay", merged, "overlay", absolute)
        except OSError as e:
            raise RootfsError(f"mounting the rootfs of {container_id}: {e.strerror}") from e
        return None

    async def mount(self, container_id: str, image: Image) -> Path:
        merged = self.base(container_id) / "merged"
        relative_opts = await asyncio.to_thread(self._prepare, container_id, image)
        if relative_opts is not None:  # too many layers for absolute paths: mount(8) from inside l/
            rc, err = await _run("mount", "-t", "overlay", "overlay", "-o", relative_opts, str(merged),
                                 cwd=self.layers.links)
            if rc != 0:
                raise RootfsError(f"mounting the rootfs of {container_id}: {err or f'mount exited {rc}'}")
        return merged

    async def unmount(self, container_id: str) -> dict[str, Any] | None:
        """Unmount and delete; returns the container's image record (None if there was nothing)."""
        return await asyncio.to_thread(self._unmount_and_delete, self.base(container_id))

    def _unmount_and_delete(self, base: Path) -> dict[str, Any] | None:
        if not base.exists():
            return None
        merged = base / "merged"
        if os.path.ismount(merged):
            try:
                try:
                    mounts.unmount(merged)
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        raise
                    mounts.unmount(merged, lazy=True)  # a stray process still uses it: detach now, freed later
            except OSError as e:
                raise RootfsError(f"unmounting the rootfs of {base.name}: {e.strerror}") from e
        return self._delete(base)

    @staticmethod
    def _delete(base: Path) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] | None = json.loads((base / "image.json").read_text())
        except (OSError, ValueError):
            record = None
        if os.path.ismount(base / "merged"):  # never delete through a live mount
            raise RootfsError(f"{base / 'merged'} is still mounted")
        shutil.rmtree(base, ignore_errors=True)
        return record

    def layers_in_use(self) -> dict[str, set[str]]:
        """manifest digest → diff IDs, for every container that has a rootfs."""
        used: dict[str, set[str]] = {}
        for rec_path in self.dir.glob("*/image.json"):
            try:
                rec = json.loads(rec_path.read_text())
            except (OSError, ValueError):
                continue
            used.setdefault(str(rec.get("manifest", "")), set()).update(rec.get("layers") or [])
        return used

