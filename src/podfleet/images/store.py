"""OverlayImageStore: the node's images — pulled, loaded or imported — and each container's rootfs.

Layout under the store directory (normally `<data_dir>/images`):
  blobs/sha256/<hex>     manifests, configs, layer blobs (content-addressed, verified)
  layers/<diff-id hex>/  each layer unpacked once, shared by every image and container using it
  l/<short>              short links to layers/ for overlayfs lowerdir options
  index.json             references → manifest digest → image record (see index.py)
  containers/<id>/       upper/, work/, merged/ and image.json of each container's overlay mount
  index.lock, gc.lock    flock files: index writers; content writers (shared) vs garbage collection

Concurrency: pulls of one reference share one flight, blob downloads and layer unpacks are shared
by digest across all pulls (and so is their progress, see tracking.py), and everything that creates
content holds `gc.lock` shared so garbage collection (exclusive, best effort) can never delete a
layer that is about to be registered.
All blocking work runs in worker threads or subprocesses; `get` reads an in-memory index copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from podfleet.images.archives import read_archive
from podfleet.images.blobs import BlobStore, LayerStore, hex_of
from podfleet.images.index import ImageIndex, ImageRecord, IndexData
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
    PullProgress,
    RegistryError,
)
from podfleet.images.layers import diff_id_of
from podfleet.images.manifest import (
    OCI_CONFIG,
    OCI_MANIFEST,
    Descriptor,
    Index,
    InvalidManifest,
    Manifest,
    diff_ids,
    parse,
    pick_platform,
)
from podfleet.images.reference import Reference, parse_reference
from podfleet.images.registry import RegistryClient
from podfleet.images.rootfs import RootfsManager
from podfleet.images.tracking import Listeners, PullTracker

__all__ = ["ImageError", "OverlayImageStore"]

log = logging.getLogger("podfleet.images")
T = TypeVar("T")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STALE_TMP_SECONDS = 3600


class OverlayImageStore:
    """The real ImageStore (see interface.py for the contract)."""

    def __init__(self, root: Path, *, platform: tuple[str, str] = ("linux", "amd64"),
                 max_parallel_downloads: int = 3) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(root)
        self.layers = LayerStore(root)
        self.rootfs = RootfsManager(root, self.layers)
        self.index = ImageIndex(root)
        self.platform = platform
        self.max_parallel_downloads = max_parallel_downloads
        self._gc_lock_path = root / "gc.lock"
        self._flights: dict[Hashable, asyncio.Future[Any]] = {}
        self._pull_listeners: Listeners[PullProgress] = Listeners()  # by pull flight key
        self._blob_listeners: Listeners[int] = Listeners()  # bytes so far, by blob digest
        self.registry_requests = 0  # manifests fetched: lets tests see whether a registry was contacted

    # ------------------------------------------------------------------ coordination
    async def _once(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """Run `make` once for everyone asking for `key` at the same time (single flight).

        The shared work is shielded: one waiter being cancelled (its pod deleted) does not cancel
        it for the others. A waiter that joined someone else's flight which failed for a reason of
        its own (say, the other pull's connection went away) tries once more by itself.
        """
        loop = asyncio.get_running_loop()
        fut = self._flights.get(key)
        mine = fut is None or fut.get_loop() is not loop
        if mine:
            fut = asyncio.ensure_future(make())
            self._flights[key] = fut

            def done(f: asyncio.Future[Any]) -> None:
                if self._flights.get(key) is f:
                    del self._flights[key]
                if not f.cancelled():
                    f.exception()  # retrieved: waiters may all have gone

            fut.add_done_callback(done)
        assert fut is not None
        try:
            result: T = await asyncio.shield(fut)
            return result
        except (RegistryError, OSError) as e:
            if mine or (isinstance(e, ImageError) and e.reason != "ErrImagePull"):
                raise
            return await make()

    @contextlib.asynccontextmanager
    async def _content(self, exclusive: bool = False, wait: float | None = None) -> AsyncIterator[bool]:
        """gc.lock: shared for anything creating content or mounts, exclusive for GC (polling, not parking
        a thread); yields False if `wait` ran out."""
        fd = os.open(self._gc_lock_path, os.O_RDWR | os.O_CREAT, 0o644)  # exists after the first call: a lookup
        try:
            deadline = time.monotonic() + wait if wait is not None else None
            got = False
            while True:
                try:
                    fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                    got = True
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
            yield got
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ queries
    def _image(self, ref: str, record: ImageRecord, data: IndexData) -> Image:
        refs = data.refs_to(record.manifest)
        return Image(ref=ref, id=record.config, manifest_digest=record.manifest, config=dict(record.config_section),
                     layers=tuple(record.layers), repo_tags=tuple(r for r in refs if "@" not in r),
                     repo_digests=tuple(r for r in refs if "@" in r), size=record.size)

    def get(self, ref: str) -> Image | None:
        try:
            parsed = parse_reference(ref)
        except ValueError:
            return None
        data = self.index.snapshot()
        digest = data.refs.get(parsed.key)
        record = data.images.get(digest) if digest else None
        return self._image(str(parsed), record, data) if record else None

    def all_images(self) -> Images:
        data = self.index.snapshot()
        return [self._image(key, data.images[d], data) for key, d in sorted(data.refs.items()) if d in data.images]

    # ------------------------------------------------------------------ registration
    def _register(self, keys: Sequence[str], record: ImageRecord, asked: str) -> Image:
        def change(data: IndexData) -> IndexData:
            old = data.images.get(record.manifest)
            if old is not None:
                record.extra = sorted(set(old.extra) | set(record.extra))
            data.images[record.manifest] = record
            for key in keys:
                data.refs[key] = record.manifest
            return data

        return self._image(asked, record, self.index.update(change))

    def _complete(self, record: ImageRecord) -> bool:
        return all(self.layers.has(d) for d in record.layers)

    # ------------------------------------------------------------------ pull
    async def ensure(self, ref: str, policy: PullPolicy | str = PullPolicy.IF_NOT_PRESENT,
                     credentials: Credentials | None = None, *, progress: ProgressCallback | None = None) -> Image:
        try:
            pull_policy = PullPolicy(policy or PullPolicy.IF_NOT_PRESENT)
        except ValueError as e:
            raise ImageError(f"unknown image pull policy {policy!r}") from e
        try:
            parsed = parse_reference(ref)
        except ValueError as e:
            raise InvalidImageName(f'Failed to apply default image tag "{ref}": {e}') from e
        have = self.get(ref)
        if pull_policy is PullPolicy.NEVER:
            if have is None:
                raise ImageNeverPull(f'Container image "{ref}" is not present with pull policy of Never')
            return have
        if have is not None and pull_policy is PullPolicy.IF_NOT_PRESENT:
            return have
        key = ("pull", parsed.key, credentials)
        with self._pull_listeners.listening(key, progress):
            image: Image = await self._once(key, lambda: self._pull(parsed, credentials, key))
        return image if image.ref == str(parsed) else self.get(ref) or image

    async def _pull(self, ref: Reference, credentials: Credentials | None, key: Hashable) -> Image:
        began = time.monotonic()
        try:
            async with self._content(), RegistryClient(ref, credentials) as client:
                self.registry_requests += 1
                media, top, raw = await client.manifest(ref.digest or ref.tag)
                doc = parse(raw, media)
                digest, extra = top, []
                if isinstance(doc, Index):
                    extra = [top]
                    media, digest, raw = await client.manifest(pick_platform(doc, *self.platform).digest)
                    doc = parse(raw, media)
                if not isinstance(doc, Manifest):
                    raise InvalidManifest(f"{ref}: an image index inside an image index is not supported")
                keys = list(dict.fromkeys([ref.key, f"{ref.name}@{top}", f"{ref.name}@{digest}"]))
                record = self.index.snapshot().images.get(digest)
                tracker = PullTracker([(d.digest, d.size) for d in doc.layers],
                                      lambda p: self._pull_listeners.publish(key, p), began=began)
                try:
                    if record is None or not await asyncio.to_thread(self._complete, record):
                        record = await self._fetch(client, digest, raw, doc, extra, tracker)
                    else:
                        for i in range(len(doc.layers)):
                            tracker.present(i)
                        record = ImageRecord(**{**record.__dict__, "extra": sorted(set(record.extra) | set(extra))})
                finally:
                    tracker.close()
                return await asyncio.to_thread(self._register, keys, record, str(ref))
        except ImageError:
            raise
        except OSError as e:
            raise ImageError(f"{ref}: storing the image: {e}") from e
        except ValueError as e:
            raise InvalidManifest(f"{ref}: {e}") from e

    async def _fetch(self, client: RegistryClient, digest: str, raw: bytes, doc: Manifest,
                     extra: list[str], tracker: PullTracker) -> ImageRecord:
        """Everything the manifest names that we do not have yet: config, blobs, unpacked layers."""
        await asyncio.to_thread(self.blobs.put, raw, digest)
        cfg_digest = doc.config.digest

        async def fetch_config() -> None:
            raw = await client.blob_bytes(cfg_digest)
            await asyncio.to_thread(self.blobs.put, raw, cfg_digest)

        if not await asyncio.to_thread(self.blobs.has, cfg_digest):
            await self._once(("blob", cfg_digest), fetch_config)
        cfg_raw = await asyncio.to_thread(self.blobs.read, cfg_digest)
        config = json.loads(cfg_raw)
        ids = diff_ids(config, len(doc.layers))
        sem = asyncio.Semaphore(self.max_parallel_downloads)

        async def layer(i: int, desc: Descriptor, diff_id: str) -> None:
            if await asyncio.to_thread(self.layers.has, diff_id):
                tracker.present(i)
                return

            async def download() -> None:
                async with sem:
                    await client.blob(desc.digest, self.blobs.path(desc.digest),
                                      lambda n: self._blob_listeners.publish(desc.digest, n))

            if not await asyncio.to_thread(self.blobs.has, desc.digest):
                with self._blob_listeners.listening(desc.digest, lambda n: tracker.fetched(i, n)):
                    await self._once(("blob", desc.digest), download)
            tracker.unpacking(i)
            blob = self.blobs.path(desc.digest)
            await self._once(("layer", diff_id), lambda: asyncio.to_thread(self.layers.unpack, blob, diff_id))
            tracker.done(i)

        # Every layer runs to its end even when one fails: what did verify is kept for the retry,
        # and nothing is still being written behind the caller's back when the error reaches it.
        results = await asyncio.gather(*(layer(n, d, i) for n, (d, i) in enumerate(zip(doc.layers, ids, strict=True))),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return ImageRecord(digest, cfg_digest, ids, [d.digest for d in doc.layers], dict(config.get("config") or {}),
                           sum(max(d.size, 0) for d in doc.layers), extra)

    # ------------------------------------------------------------------ local images
    async def import_rootfs(self, tar_path: Path, ref: str) -> Image:
        try:
            parsed = parse_reference(ref)
        except ValueError as e:
            raise InvalidImageName(f"invalid image name {ref!r}: {e}") from e
        async with self._content():
            record = await asyncio.to_thread(self._import_sync, tar_path)
            return await asyncio.to_thread(self._register, [parsed.key], record, str(parsed))

    def _import_sync(self, tar_path: Path) -> ImageRecord:
        with open(tar_path, "rb") as f:
            blob, size = self.blobs.ingest(f)
        diff = diff_id_of(self.blobs.path(blob))
        if not self.layers.has(diff):
            self.layers.unpack(self.blobs.path(blob), diff)
        section = {"Env": [DEFAULT_PATH], "Cmd": ["sh"]}
        config = {"architecture": self.platform[1], "os": self.platform[0], "config": section,
                  "rootfs": {"type": "layers", "diff_ids": [diff]},
                  "history": [{"created_by": f"podfleet images import {tar_path.name}"}]}
        cfg_raw = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
        cfg_digest = self.blobs.put(cfg_raw)
        from podfleet.images.archives import layer_media_type

        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": len(cfg_raw)},
                    "layers": [{"mediaType": layer_media_type(self.blobs.path(blob)), "digest": blob, "size": size}]}
        mdigest = self.blobs.put(json.dumps(manifest, separators=(",", ":")).encode())
        return ImageRecord(mdigest, cfg_digest, [diff], [blob], section, size)

    async def load(self, archive: Path, name: str | None = None) -> Images:
        async with self._content():
            loaded = await asyncio.to_thread(read_archive, archive, self.blobs, self.layers, name)
            images: Images = []
            for item in loaded:
                for n in item.names:
                    images.append(await asyncio.to_thread(self._register, item.names, item.record, n))
        return images

    # ------------------------------------------------------------------ removal & GC
    async def remove(self, ref: str, force: bool = False) -> None:
        await asyncio.to_thread(self._untag, ref, force)
        await self.gc()

    def _resolve(self, ref: str, data: IndexData) -> Sequence[str]:
        with contextlib.suppress(ValueError):
            key = parse_reference(ref).key
            if key in data.refs:
                return [key]
        m = re.fullmatch(r"(?:sha256:)?([0-9a-f]{12,64})", ref)
        if m:  # an image ID (config digest) or manifest digest, or a unique prefix of one
            hits = {r.manifest for r in data.images.values()
                    if hex_of(r.config).startswith(m.group(1)) or hex_of(r.manifest).startswith(m.group(1))}
            if len(hits) > 1:
                raise ImageError(f"{ref!r} matches {len(hits)} images; give more of the ID", "ImageNotFound")
            if hits:
                return data.refs_to(hits.pop())
        raise ImageNotKnown(f"image {ref} not found")

    def _untag(self, ref: str, force: bool) -> None:
        in_use = self.rootfs.layers_in_use()

        def change(data: IndexData) -> None:
            keys = set(self._resolve(ref, data))
            for manifest in {data.refs[k] for k in keys}:
                left = [k for k, v in data.refs.items() if v == manifest and k not in keys]
                if any("@" not in k for k in left):
                    continue  # still tagged: only these references go
                if manifest in in_use and not force:
                    raise ImageInUse(f"image {ref} is in use by a container; stop it first (or force)")
                keys.update(left)
                data.images.pop(manifest, None)
            for k in keys:
                data.refs.pop(k, None)

        self.index.update(change)

    async def gc(self) -> None:
        """Delete blobs and layers that no image and no container needs (skipped while content is
        being written; runs again on the next remove or unmount)."""
        async with self._content(exclusive=True, wait=2.0) as got:
            if got:
                await asyncio.to_thread(self._gc_sync)
            else:
                log.info("image garbage collection postponed: a pull or mount is in progress")

    def _gc_sync(self) -> None:
        data = self.index.snapshot()
        keep_blobs: set[str] = set()
        keep_layers: set[str] = set()
        for r in data.images.values():
            keep_blobs.update(hex_of(d) for d in (r.manifest, r.config, *r.blobs, *r.extra))
            keep_layers.update(hex_of(d) for d in r.layers)
        for diffs in self.rootfs.layers_in_use().values():
            keep_layers.update(hex_of(d) for d in diffs)
        now = time.time()

        def stale_tmp(p: Path) -> bool:
            with contextlib.suppress(FileNotFoundError):
                return now - p.lstat().st_mtime > STALE_TMP_SECONDS
            return False

        for name in self.blobs.names():
            path = self.blobs.dir / name
            if (stale_tmp(path) if name.startswith(".tmp-") else name not in keep_blobs):
                path.unlink(missing_ok=True)
        for name in self.layers.names():
            if (stale_tmp(self.layers.dir / name) if name.startswith(".tmp-") else name not in keep_layers):
                log.info("removing unused layer %s", name)
                self.layers.remove(name)

    # ------------------------------------------------------------------ container rootfs
    async def mount_rootfs(self, container_id: str, image: Image) -> Path:
        async with self._content():
            path: Path = await self._once(("mount", container_id), lambda: self.rootfs.mount(container_id, image))
            return path

    async def prepare_rootfs(self, container_id: str, image: Image) -> PreparedRootfs:
        async with self._content():  # its image.json record protects its layers from gc from here on
            overlay = await self.rootfs.plan(container_id, image)
            return PreparedRootfs(overlay.target, overlay)

    async def unmount_rootfs(self, container_id: str) -> None:
        record = await self._once(("unmount", container_id), lambda: self.rootfs.unmount(container_id))
        if record and record.get("manifest") not in self.index.snapshot().images:
            await self.gc()  # its image was removed while the container ran

    # `list` last: inside the class body the name shadows the builtin from here on.
    def list(self) -> Images:
        return self.all_images()

    def list_images(self) -> Images:
        return self.all_images()

