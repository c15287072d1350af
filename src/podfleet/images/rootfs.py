"""Container root filesystems: one overlayfs mount per container over the image's shared layers.

`containers/<id>/` (each in a block group of its own where ext4 allows, see podfleet.files) holds
`upper/` and `work/` (the container's private writable layer), `merged/`
(the mount point handed to the runtime) and `image.json` (which layers it uses, so garbage
collection leaves them alone while the container exists). The mount options name the layers by
their short `l/<id>` links and everything relative to `l/` (mounted from a thread whose working
directory is `l/`): a hundred layers fit the kernel's one page of options, and the mount table,
which runc parses several times for every container started, stays short. Unmounting is
umount2(2), lazily if a stray process still holds the tree.
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

from podfleet import mounts
from podfleet.files import spread_subdirectories, write_atomic
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


class RootfsManager:
    def __init__(self, root: Path, layers: LayerStore) -> None:
        self.dir = root / "containers"
        self.dir.mkdir(parents=True, exist_ok=True)
        spread_subdirectories(self.dir)
        self.layers = layers

    def base(self, container_id: str) -> Path:
        return self.dir / check_container_id(container_id)

    def _prepare(self, container_id: str, image: Image) -> Path:
        """Directories and records for the mount, then the mount itself (unless already there)."""
        merged = self.base(container_id) / "merged"
        if os.path.ismount(merged):
            return merged
        overlay = self._plan(container_id, image)
        try:
            mounts.mount_from(overlay)
        except OSError as e:
            raise RootfsError(f"mounting the rootfs of {container_id}: {e.strerror}") from e
        return merged

    def _plan(self, container_id: str, image: Image) -> mounts.Mount:
        """Directories and records for the container's overlay; the mount itself, not yet made."""
        base = self.base(container_id)
        merged = base / "merged"
        missing = [d for d in image.layers if not self.layers.has(d)]
        if missing:
            raise RootfsError(f"image {image.ref} is missing unpacked layer {missing[0]}; remove and pull it again")
        for d in ("upper", "work", "merged"):
            (base / d).mkdir(parents=True, exist_ok=True)
        os.chmod(base / "upper", 0o755)
        record = {"image": image.ref, "manifest": image.manifest_digest, "layers": list(image.layers)}
        write_atomic(base / "image.json", json.dumps(record))
        # A layer listed twice is mounted once, at its top-most place (overlayfs refuses repeated lower
        # dirs); re-applying identical content higher up already gives the same tree.
        top_first = list(dict.fromkeys(reversed(image.layers)))
        lower = [self.layers.short_link(d) for d in top_first] or [self.layers.empty.name]
        own = os.path.relpath(base, self.layers.links)
        opts = overlay_options(lower, Path(own, "upper"), Path(own, "work"))
        return mounts.Mount("overlay", merged, "overlay", opts, self.layers.links)

    async def mount(self, container_id: str, image: Image) -> Path:
        return await asyncio.to_thread(self._prepare, container_id, image)

    async def plan(self, container_id: str, image: Image) -> mounts.Mount:
        """Everything for the container's overlay except the mount, which its runtime makes in the
        container's own mount namespace (see podfleet.mounts)."""
        return await asyncio.to_thread(self._plan, container_id, image)

    async def unmount(self, container_id: str) -> dict[str, Any] | None:
        """Unmount and delete; returns the container's image record (None if there was nothing)."""
        return await asyncio.to_thread(self._unmount_and_delete, self.base(container_id))

    def _unmount_and_delete(self, base: Path) -> dict[str, Any] | None:
        """Unmount if mounted here (`mount`). An overlay mounted in the container's own namespace
        (`plan`) needs nothing: removing its mount point detaches it there if that is still alive."""
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

