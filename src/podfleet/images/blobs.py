"""Content-addressed storage on disk: blobs by sha256, and layers unpacked once by diff ID.

`blobs/sha256/<hex>` holds manifests, configs and layer blobs exactly as they came; `layers/<hex>/`
holds each layer unpacked (named by diff ID); `l/<short>` are short symlinks to layer directories
so overlayfs mount options stay well under the kernel's one-page limit. Every write goes to a
private temporary file or directory first and is renamed into place only once verified, so
concurrent writers (threads or processes) of the same content never see half of it.
All methods block: callers run them in a worker thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from podfleet.images.interface import DigestMismatch
from podfleet.images.layers import Readable, unpack_layer

_CHUNK = 1 << 20
SHORT_ID_LEN = 12


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[1]


def sha256_bytes(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.dir = root / "blobs" / "sha256"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.dir / hex_of(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def ingest(self, stream: Readable, expected: str | None = None) -> tuple[str, int]:
        """Copy a stream in, hashing as it goes; refuse (keeping nothing) if it is not `expected`."""
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=self.dir)
        tmp = Path(tmp_name)
        try:
            sha, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            digest = "sha256:" + sha.hexdigest()
            if expected and digest != expected:
                raise DigestMismatch(f"blob digest mismatch: expected {expected}, got {digest}")
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path(digest))
            return digest, size
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, raw: bytes, expected: str | None = None) -> str:
        digest = sha256_bytes(raw)
        if expected and digest != expected:
            raise DigestMismatch(f"blob digest mismatch: expected {expected}, got {digest}")
        if not self.has(digest):
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=self.dir)
            with os.fdopen(fd, "wb") as out:
                out.write(raw)
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, self.path(digest))
        return digest

    def names(self) -> list[str]:
        return [p.name for p in self.dir.iterdir()]


class LayerStore:
    def __init__(self, root: Path) -> None:
        self.dir = root / "layers"
        self.links = root / "l"
        for d in (self.dir, self.links):
            d.mkdir(parents=True, exist_ok=True)
        self.empty = self.links / "empty"  # the lower dir of an image without layers
        self.empty.mkdir(exist_ok=True)

    def path(self, diff_id: str) -> Path:
        return self.dir / hex_of(diff_id)

    def has(self, diff_id: str) -> bool:
        return self.path(diff_id).is_dir()

    def unpack(self, blob: Path, expected_diff_id: str | None = None) -> str:
        diff_id = unpack_layer(blob, self.dir, expected_diff_id)
        self.short_link(diff_id)
        return diff_id

    def short_link(self, diff_id: str) -> str:
        """The name under `l/` that points at this layer (created if missing)."""
        hexd = hex_of(diff_id)
        target = os.path.join("..", "layers", hexd)
        for n in range(SHORT_ID_LEN, len(hexd) + 1, 4):
            link = self.links / hexd[:n]
            try:
                os.symlink(target, link)
                return link.name
            except FileExistsError:
                if os.readlink(link) == target:
                    return link.name
        return hexd  # unreachable in practice: the full hex is unique

    def names(self) -> list[str]:
        return [p.name for p in self.dir.iterdir()]

    def remove(self, name: str) -> None:
        shutil.rmtree(self.dir / name, ignore_errors=True)
        for link in self.links.iterdir():
            if link.is_symlink() and os.readlink(link).endswith(os.sep + name):
                try:
                    link.unlink()
                except OSError as e:  # pragma: no cover - raced with another remover
                    if e.errno != errno.ENOENT:
                        raise
