"""FakeImageStore: the ImageStore seam in memory, for the agent's unit tests.

It keeps the real store's observable rules — pull policies and their error reasons, references
normalized like Docker, removal refused while a container uses the image — without network,
overlayfs or root. A "remote" side (`add_remote`) says what a pull would find; `pulls` records
every registry contact; `fail_pulls` injects errors. `mount_rootfs` makes a plain directory with
the image's files so code under test can look inside. A pull reports progress through the real
PullTracker, `pull_chunk` bytes a step, awaiting `pull_pause` (say a FakeClock's sleep) after each.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
import shutil
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podfleet.images.interface import (
    Credentials,
    Image,
    ImageError,
    ImageInUse,
    ImageNeverPull,
    ImageNotKnown,
    Images,
    InvalidImageName,
    PreparedRootfs,
    ProgressCallback,
    PullPolicy,
    RegistryError,
    RootfsError,
)
from podfleet.images.reference import Reference, parse_reference
from podfleet.images.tracking import PullTracker


def _digest(*parts: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class _Entry:
    config: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    layer_sizes: tuple[int, ...] = ()  # what a pull transfers (default: one layer, the files' bytes)

    @property
    def blobs(self) -> list[tuple[str, int]]:
        sizes = self.layer_sizes or (sum(len(v.encode()) for v in self.files.values()),)
        return [(_digest("blob", self.files, i, size), size) for i, size in enumerate(sizes)]

    @property
    def image_id(self) -> str:
        return _digest("config", self.config, self.files)

    @property
    def manifest(self) -> str:
        return _digest("manifest", self.image_id)


def _parse(ref: str) -> Reference:
    try:
        return parse_reference(ref)
    except ValueError as e:
        raise InvalidImageName(f'Failed to apply default image tag "{ref}": {e}') from e


_Named = list[tuple[str, dict[str, Any]]]


class FakeImageStore:
    def __init__(self, root: Path | None = None, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="fake-images-"))
        self.local: dict[str, _Entry] = {}  # reference key → image
        self.remote: dict[str, _Entry] = {}
        self.pulls: list[tuple[str, str, Credentials | None]] = []  # (reference, policy, credentials)
        self.fail_pulls: dict[str, ImageError] = {}  # reference key → error raised on pull
        self.mounts: dict[str, tuple[Path, str]] = {}  # container id → (rootfs, manifest digest)
        self.pull_delay = 0.0
        self.pull_chunk = 1 << 20
        self.pull_pause: Callable[[], Awaitable[None]] | None = None
        self.monotonic = monotonic  # the progress tracker's time (a FakeClock's, to throttle by fake time)

    # ------------------------------------------------------------------ test set-up
    def add_remote(self, ref: str, config: dict[str, Any] | None = None, files: dict[str, str] | None = None,
                   layer_sizes: Sequence[int] = ()) -> str:
        """Make `ref` pullable; returns its manifest digest (`name@digest` pulls work too)."""
        r = _parse(ref)
        entry = _Entry(dict(config or {"Cmd": ["sh"]}), dict(files or {}), tuple(layer_sizes))
        self.remote[r.key] = entry
        self.remote[f"{r.name}@{entry.manifest}"] = entry
        return entry.manifest

    def add_local(self, ref: str, config: dict[str, Any] | None = None, files: dict[str, str] | None = None) -> Image:
        r = _parse(ref)
        entry = _Entry(dict(config or {"Cmd": ["sh"]}), dict(files or {}))
        self._tag(r, entry)
        return self._image(str(r), entry)

    # ------------------------------------------------------------------ internals
    def _tag(self, r: Reference, entry: _Entry) -> None:
        self.local[r.key] = entry
        self.local[f"{r.name}@{entry.manifest}"] = entry

    def _image(self, ref: str, entry: _Entry) -> Image:
        keys = sorted(k for k, e in self.local.items() if e.manifest == entry.manifest)
        return Image(ref=ref, id=entry.image_id, manifest_digest=entry.manifest, config=dict(entry.config),
                     layers=(_digest("layer", entry.files),), repo_tags=tuple(k for k in keys if "@" not in k),
                     repo_digests=tuple(k for k in keys if "@" in k),
                     size=sum(len(v) for v in entry.files.values()))

    # ------------------------------------------------------------------ ImageStore
    def get(self, ref: str) -> Image | None:
        try:
            r = parse_reference(ref)
        except ValueError:
            return None
        entry = self.local.get(r.key)
        return self._image(str(r), entry) if entry else None

    def list(self) -> Images:
        return [self._image(k, e) for k, e in sorted(self.local.items())]

    async def ensure(self, ref: str, policy: PullPolicy | str = PullPolicy.IF_NOT_PRESENT,
                     credentials: Credentials | None = None, *, progress: ProgressCallback | None = None) -> Image:
        try:
            pull_policy = PullPolicy(policy or PullPolicy.IF_NOT_PRESENT)
        except ValueError as e:
            raise ImageError(f"unknown image pull policy {policy!r}") from e
        r = _parse(ref)
        have = self.get(ref)
        if pull_policy is PullPolicy.NEVER:
            if have is None:
                raise ImageNeverPull(f'Container image "{ref}" is not present with pull policy of Never')
            return have
        if have is not None and pull_policy is PullPolicy.IF_NOT_PRESENT:
            return have
        self.pulls.append((str(r), str(pull_policy), credentials))
        if self.pull_delay:
            await asyncio.sleep(self.pull_delay)
        if r.key in self.fail_pulls:
            raise self.fail_pulls[r.key]
        entry = self.remote.get(r.key)
        if entry is None:
            raise RegistryError(f"{r}: manifest unknown: not found")
        await self._transfer(entry, progress)
        self._tag(r, entry)
        return self._image(str(r), entry)

    async def _transfer(self, entry: _Entry, progress: ProgressCallback | None) -> None:
        """Walk the layers as a download would; all of them are present if the image is."""
        began = self.monotonic()
        tracker = PullTracker(entry.blobs, progress or (lambda p: None), began=began, monotonic=self.monotonic)
        present = any(e.manifest == entry.manifest for e in self.local.values())
        try:
            for i, (_, size) in enumerate(entry.blobs):
                if present:
                    tracker.present(i)
                    continue
                done = 0
                tracker.fetched(i, done)
                while done < size:
                    done = min(size, done + max(1, self.pull_chunk))
                    tracker.fetched(i, done)
                    if self.pull_pause is not None:
                        await self.pull_pause()
                tracker.done(i)
        finally:
            tracker.close()

    async def import_rootfs(self, tar_path: Path, ref: str) -> Image:
        r = _parse(ref)
        files = await asyncio.to_thread(self._read_tar, tar_path)
        entry = _Entry({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                        "Cmd": ["sh"]}, files)
        self._tag(r, entry)
        return self._image(str(r), entry)

    @staticmethod
    def _read_tar(path: Path) -> dict[str, str]:
        files = {}
        with tarfile.open(path) as tar:
            for m in tar:
                f = tar.extractfile(m) if m.isreg() else None
                if f is not None:
                    files[posixpath.normpath(m.name).lstrip("/")] = f.read().decode(errors="replace")
        return files

    async def load(self, archive: Path) -> Images:
        """Names and configs from an oci-archive's index.json or a docker-archive's manifest.json."""
        return [self.add_local(ref, config) for ref, config in await asyncio.to_thread(self._archive_names, archive)]

    @staticmethod
    def _archive_names(archive: Path) -> _Named:
        with tarfile.open(archive) as tar:
            def read(name: str) -> Any:
                f = tar.extractfile(name)
                if f is None:
                    raise ImageError(f"{archive}: no {name}")
                return json.loads(f.read())

            names = tar.getnames()
            out = []
            if "index.json" in names:
                for m in read("index.json").get("manifests") or []:
                    tag = (m.get("annotations") or {}).get("org.opencontainers.image.ref.name", "latest")
                    manifest = read(f"blobs/sha256/{m['digest'].split(':', 1)[1]}")
                    config = read(f"blobs/sha256/{manifest['config']['digest'].split(':', 1)[1]}")
                    ref = tag if "/" in tag or ":" in tag else f"localhost/{archive.name.split('.')[0]}:{tag}"
                    out.append((ref, dict(config.get("config") or {})))
            elif "manifest.json" in names:
                for e in read("manifest.json"):
                    config = read(e["Config"])
                    for tag in e.get("RepoTags") or [f"localhost/{archive.name.split('.')[0]}:latest"]:
                        out.append((tag, dict(config.get("config") or {})))
            else:
                raise ImageError(f"{archive}: neither an oci-archive nor a docker-archive", "ErrImageLoad")
            return out

    async def remove(self, ref: str, force: bool = False) -> None:
        r = _parse(ref)
        entry = self.local.get(r.key)
        if entry is None:
            raise ImageNotKnown(f"image {ref} not found")
        left = [k for k, e in self.local.items() if e.manifest == entry.manifest and k != r.key]
        keys = [r.key]
        if not any("@" not in k for k in left):
            if not force and any(m == entry.manifest for _, m in self.mounts.values()):
                raise ImageInUse(f"image {ref} is in use by a container; stop it first (or force)")
            keys += left
        for k in keys:
            self.local.pop(k, None)

    async def mount_rootfs(self, container_id: str, image: Image) -> Path:
        if container_id in self.mounts:
            return self.mounts[container_id][0]
        entry = next((e for e in self.local.values() if e.manifest == image.manifest_digest), None)
        if entry is None:
            raise RootfsError(f"image {image.ref} is not in the store")
        rootfs = self.root / "containers" / container_id / "merged"
        rootfs.mkdir(parents=True, exist_ok=True)
        for rel, content in entry.files.items():
            (rootfs / rel).parent.mkdir(parents=True, exist_ok=True)
            (rootfs / rel).write_text(content)
        self.mounts[container_id] = (rootfs, image.manifest_digest)
        return rootfs

    async def prepare_rootfs(self, container_id: str, image: Image) -> PreparedRootfs:
        return PreparedRootfs(await self.mount_rootfs(container_id, image), None)

    async def unmount_rootfs(self, container_id: str) -> None:
        if self.mounts.pop(container_id, None) is not None:
            shutil.rmtree(self.root / "containers" / container_id, ignore_errors=True)

