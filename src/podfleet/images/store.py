"""`ImageStore`: the node's images — pulled, loaded or imported — and each container's rootfs.

Layout under the store directory: `blobs/sha256/<hex>` (content-addressed), `layers/<diffid-hex>/`
(each layer unpacked once, shared by every image and container that uses it), `index.json`
(reference → manifest digest, config digest, layer diff IDs) and `containers/<id>/{upper,work,
merged}` (one overlayfs mount per container). Concurrent pulls of one image do one download.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podfleet.images.layers import unpack_layer
from podfleet.images.reference import normalize, parse_reference
from podfleet.images.registry import (
    INDEX_TYPES,
    Credentials,
    RegistryClient,
    RegistryError,
    pick_platform,
)

log = logging.getLogger("podfleet.images")
Images = list["Image"]


class ImageError(Exception):
    """An image could not be provided; `reason` is the kubelet waiting reason it maps to."""

    def __init__(self, message: str, reason: str = "ErrImagePull") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Image:
    ref: str  # normalized reference
    id: str  # config digest (what `imageID` shows)
    manifest_digest: str
    config: dict[str, Any]  # the image config's "config" section (Entrypoint, Cmd, Env, ...)
    layers: list[str] = field(default_factory=list)  # diff IDs, bottom first

    @property
    def repo_digest(self) -> str:
        ref = parse_reference(self.ref)
        return f"{ref.name}@{self.manifest_digest}"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _diff_id(blob: Path) -> str:
    from podfleet.images.layers import open_layer

    h = hashlib.sha256()
    with open_layer(blob) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.layers = root / "layers"
        self.containers = root / "containers"
        for d in (self.blobs, self.layers, self.containers):
            d.mkdir(parents=True, exist_ok=True)
        self._index_path = root / "index.json"
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ index
    def _index(self) -> dict[str, dict[str, Any]]:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self._index_path.read_text())
            return data
        except (FileNotFoundError, ValueError):
            return {}

    def _save_index(self, index: dict[str, dict[str, Any]]) -> None:
        tmp = self._index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
        os.replace(tmp, self._index_path)

    def _image(self, ref: str, entry: dict[str, Any]) -> Image:
        config = json.loads((self.blobs / entry["config"].split(":", 1)[1]).read_text())
        return Image(ref, entry["config"], entry["manifest"], config.get("config") or {}, list(entry["layers"]))

    def get(self, ref: str) -> Image | None:
        try:
            key = normalize(ref)
        except ValueError:
            return None
        entry = self._index().get(key)
        if entry is None and "@" in ref:
            digest = ref.split("@", 1)[1]
            entry = next((e for e in self._index().values() if e["manifest"] == digest), None)
        return self._image(key, entry) if entry else None

    def list_images(self) -> Images:
        return [self._image(ref, e) for ref, e in sorted(self._index().items())]

    def _register(self, ref: str, manifest_digest: str, config_digest: str, diff_ids: list[str]) -> Image:
        index = self._index()
        index[ref] = {"manifest": manifest_digest, "config": config_digest, "layers": diff_ids}
        self._save_index(index)
        return self._image(ref, index[ref])

    def remove(self, ref: str) -> None:
        key = normalize(ref)
        index = self._index()
        if key not in index:
            raise ImageError(f"image {ref} not found", "ImageNotFound")
        del index[key]
        self._save_index(index)
        self._gc(index)

    def _gc(self, index: dict[str, dict[str, Any]]) -> None:
        """Drop layers no image references and no container mounts."""
        used = {d.split(":", 1)[1] for e in index.values() for d in e["layers"]}
        in_use = set()
        for c in self.containers.glob("*/layers"):
            with contextlib.suppress(OSError, ValueError):
                in_use |= set(json.loads(c.read_text()))
        for layer in self.layers.iterdir():
            if layer.name not in used and layer.name not in in_use and not layer.name.endswith(".partial"):
                shutil.rmtree(layer, ignore_errors=True)

    # ------------------------------------------------------------------ blobs & layers
    def _store_blob(self, src: Path, expected: str | None = None) -> str:
        digest = _sha256_file(src)
        if expected and digest != expected:
            raise ImageError(f"blob digest mismatch: expected {expected}, got {digest}")
        dest = self.blobs / digest.split(":", 1)[1]
        if not dest.exists():
            shutil.copyfile(src, dest.with_suffix(".tmp"))
            os.replace(dest.with_suffix(".tmp"), dest)
        return digest

    def _ensure_layer(self, blob_digest: str, diff_id: str | None = None) -> str:
        blob = self.blobs / blob_digest.split(":", 1)[1]
        diff = diff_id or _diff_id(blob)
        dest = self.layers / diff.split(":", 1)[1]
        if not dest.exists():
            unpack_layer(blob, dest)
        return diff

    # ------------------------------------------------------------------ import / load
    async def import_rootfs(self, tar_path: Path, ref: str) -> Image:
        """Like `docker import`: one layer, a minimal config (PATH set), tagged `ref`."""
        return await asyncio.to_thread(self._import_rootfs, tar_path, normalize(ref))

    def _import_rootfs(self, tar_path: Path, ref: str) -> Image:
        blob = self._store_blob(tar_path)
        diff = self._ensure_layer(blob)
        config = {"architecture": "amd64", "os": "linux",
                  "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                             "Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": [diff]}}
        cfg_digest = self._write_json_blob(config)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blob}]}
        return self._register(ref, self._write_json_blob(manifest), cfg_digest, [diff])

    def _write_json_blob(self, obj: dict[str, Any]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        dest = self.blobs / digest.split(":", 1)[1]
        if not dest.exists():
            dest.write_bytes(raw)
        return digest

    async def load(self, archive: Path) -> Images:
        """Load an OCI archive (index.json + blobs/) or a docker-archive (manifest.json + layer tars)."""
        return await asyncio.to_thread(self._load, archive)

    def _load(self, archive: Path) -> Images:
        with tempfile.TemporaryDirectory(dir=self.root) as tmpdir:
            tmp = Path(tmpdir)
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            if (tmp / "index.json").exists():
                return self._load_oci(tmp)
            if (tmp / "manifest.json").exists():
                return self._load_docker(tmp)
        raise ImageError(f"{archive}: neither an OCI archive nor a docker-archive")

    def _load_oci(self, d: Path) -> Images:
        def blob(digest: str) -> Path:
            return d / "blobs" / digest.replace(":", "/")

        images = []
        index = json.loads((d / "index.json").read_text())
        for desc in index.get("manifests") or []:
            manifest_digest = desc["digest"]
            raw = blob(manifest_digest).read_bytes()
            manifest = json.loads(raw)
            if desc.get("mediaType") in INDEX_TYPES or manifest.get("manifests"):
                manifest_digest = pick_platform(manifest)
                raw = blob(manifest_digest).read_bytes()
                manifest = json.loads(raw)
            self._store_blob(blob(manifest_digest), manifest_digest)
            cfg_digest = self._store_blob(blob(manifest["config"]["digest"]), manifest["config"]["digest"])
            config = json.loads(blob(cfg_digest).read_text())
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            layers = [self._store_blob(blob(layer["digest"]), layer["digest"]) for layer in manifest["layers"]]
            got = [self._ensure_layer(b, diff_ids[i] if i < len(diff_ids) else None) for i, b in enumerate(layers)]
            name = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            ref = normalize(name if name and ("/" in name or ":" in name) else f"localhost/imported:{name or 'latest'}")
            images.append(self._register(ref, manifest_digest, cfg_digest, got))
        return images

    def _load_docker(self, d: Path) -> Images:
        images = []
        for entry in json.loads((d / "manifest.json").read_text()):
            cfg_digest = self._store_blob(d / entry["Config"])
            config = json.loads((self.blobs / cfg_digest.split(":", 1)[1]).read_text())
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            layer_blobs = [self._store_blob(d / p) for p in entry["Layers"]]
            got = [self._ensure_layer(b, diff_ids[i] if i < len(diff_ids) else None)
                   for i, b in enumerate(layer_blobs)]
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest},
                        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": b}
                                   for b in layer_blobs]}
            mdigest = self._write_json_blob(manifest)
            for tag in entry.get("RepoTags") or ["localhost/imported:latest"]:
                images.append(self._register(normalize(tag), mdigest, cfg_digest, got))
        return images

    # ------------------------------------------------------------------ pull
    async def ensure(self, ref: str, policy: str = "IfNotPresent", creds: Credentials | None = None) -> Image:
        """The image for `ref` under a Kubernetes pull policy (Always / IfNotPresent / Never)."""
        try:
            key = normalize(ref)
        except ValueError as e:
            raise ImageError(f"Failed to apply default image tag {ref!r}: {e}", "InvalidImageName") from e
        have = self.get(ref)
        if policy == "Never":
            if have is None:
                raise ImageError(f'Container image "{ref}" is not present with pull policy of Never',
                                 "ErrImageNeverPull")
            return have
        if have is not None and policy == "IfNotPresent":
            return have
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if policy == "IfNotPresent" and (have := self.get(ref)) is not None:
                return have
            try:
                return await self._pull(key, creds)
            except RegistryError as e:
                raise ImageError(str(e), e.reason) from e

    async def _pull(self, key: str, creds: Credentials | None) -> Image:
        ref = parse_reference(key)
        client = RegistryClient(ref, creds)
        async with client.session() as session:
            media, digest, raw = await client.manifest(session, ref.digest or ref.tag)
            manifest = json.loads(raw)
            if media in INDEX_TYPES or manifest.get("manifests"):
                self._blob_bytes(raw, digest)
                digest = pick_platform(manifest)
                media, digest, raw = await client.manifest(session, digest)
                manifest = json.loads(raw)
            self._blob_bytes(raw, digest)
            cfg_digest = manifest["config"]["digest"]
            await self._fetch(client, session, cfg_digest)
            config = json.loads((self.blobs / cfg_digest.split(":", 1)[1]).read_text())
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            layer_digests = [layer["digest"] for layer in manifest["layers"]]
            await asyncio.gather(*(self._fetch(client, session, d) for d in layer_digests))
        diffs = [await asyncio.to_thread(self._ensure_layer, b, diff_ids[i] if i < len(diff_ids) else None)
                 for i, b in enumerate(layer_digests)]
        return self._register(key, digest, cfg_digest, diffs)

    def _blob_bytes(self, raw: bytes, digest: str) -> None:
        dest = self.blobs / digest.split(":", 1)[1]
        if not dest.exists():
            dest.write_bytes(raw)

    async def _fetch(self, client: RegistryClient, session: Any, digest: str) -> None:
        dest = self.blobs / digest.split(":", 1)[1]
        if not dest.exists():
            await client.blob(session, digest, dest)

    # ------------------------------------------------------------------ container rootfs
    async def mount_rootfs(self, container_id: str, image: Image) -> Path:
        base = self.containers / container_id
        merged = base / "merged"
        if os.path.ismount(merged):
            return merged
        for d in ("upper", "work", "merged"):
            (base / d).mkdir(parents=True, exist_ok=True)
        (base / "layers").write_text(json.dumps([d.split(":", 1)[1] for d in image.layers]))
        lower = ":".join(str(self.layers / d.split(":", 1)[1]) for d in reversed(image.layers))
        opts = f"lowerdir={lower},upperdir={base / 'upper'},workdir={base / 'work'}"
        proc = await asyncio.create_subprocess_exec("mount", "-t", "overlay", "overlay", "-o", opts, str(merged),
                                                    stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise ImageError(f"mounting rootfs for {container_id}: {err.decode(errors='replace').strip()}",
                             "CreateContainerError")
        return merged

    async def unmount_rootfs(self, container_id: str) -> None:
        base = self.containers / container_id
        merged = base / "merged"
        if os.path.ismount(merged):
            proc = await asyncio.create_subprocess_exec("umount", "-l", str(merged), stderr=asyncio.subprocess.PIPE)
            await proc.communicate()
        await asyncio.to_thread(shutil.rmtree, base, True)
