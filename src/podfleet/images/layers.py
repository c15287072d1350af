"""Unpacking image layers (tar; gzip, zstd or uncompressed) into directories overlayfs can stack.

Each layer is extracted once into its own directory named by its diff ID (the sha256 of the
uncompressed tar), which is computed while extracting and checked against what the image config
claims, so one image can never plant content under another layer's name.

OCI whiteouts become overlayfs whiteouts: `.wh.<name>` turns into a 0/0 character device `<name>`,
`.wh..wh..opq` into the `trusted.overlay.opaque=y` attribute on its directory. Extraction is done by
hand rather than by `tarfile.extract` so that nothing can reach outside the layer directory: names
with `..` and entries below a symlink are refused, hard links never follow symlinks, and the
`trusted.*` attributes overlayfs obeys cannot be smuggled in through pax headers. Owners, modes
(setuid included), times, device nodes and other xattrs are kept as they are in the tar.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol, cast

import zstandard

from podfleet.images.interface import DigestMismatch, ImageError

log = logging.getLogger("podfleet.images")

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
META_PREFIX = ".wh..wh."  # aufs metadata (.wh..wh.plnk and friends): ignored
OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20


class InvalidLayer(ImageError):
    """A layer that cannot be unpacked safely (corrupt, or trying to escape its directory)."""


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _HashingReader:
    """A read-only stream that hashes everything read through it (the diff ID)."""

    def __init__(self, raw: Readable) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def compression_of(path: Path) -> str:
    """`gzip`, `zstd` or `none`, from the blob's magic bytes (more reliable than media types)."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


@contextlib.contextmanager
def open_layer(path: Path) -> Iterator[Readable]:
    """A decompressed stream of a layer blob, whatever its compression."""
    kind = compression_of(path)
    with open(path, "rb") as f:
        if kind == "gzip":
            with gzip.GzipFile(fileobj=f, mode="rb") as g:
                yield g
        elif kind == "zstd":
            with zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True) as z:
                yield z
        else:
            yield f


def diff_id_of(path: Path) -> str:
    """sha256 of the uncompressed layer."""
    with open_layer(path) as stream:
        reader = _HashingReader(stream)
        reader.drain()
        return reader.digest


def _clean_name(name: str) -> str:
    """The entry's path relative to the layer root, or "" for the root itself; refuses escapes."""
    norm = os.path.normpath(name.lstrip("/")) if name.lstrip("/") else "."
    if norm == ".." or norm.startswith("../"):
        raise InvalidLayer(f"layer entry {name!r} escapes the layer directory")
    return "" if norm == "." else norm


class _Extractor:
    """Applies one layer tar to a fresh directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir_times: list[tuple[str, float]] = []

    def _parent(self, rel: str) -> str:
        """The real path of `rel`'s parent, creating missing directories; refuses symlinked parents."""
        cur = str(self.root)
        for part in rel.split("/")[:-1]:
            cur = os.path.join(cur, part)
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                os.mkdir(cur, 0o755)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise InvalidLayer(f"layer entry {rel!r} escapes the layer directory through a symlink")
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidLayer(f"layer entry {rel!r} is below a non-directory")
        return cur

    def _clear(self, path: str, keep_dir: bool) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def apply(self, tar: tarfile.TarFile) -> None:
        for member in tar:
            self._entry(tar, member)
        for path, mtime in reversed(self.dir_times):
            os.utime(path, (mtime, mtime), follow_symlinks=False)

    def _entry(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        rel = _clean_name(m.name)
        if not rel:
            if m.isdir():
                self._attrs(str(self.root), m)
            return
        base = rel.rsplit("/", 1)[-1]
        parent = self._parent(rel)
        if base == OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
            return
        if base.startswith(META_PREFIX):
            return
        if base.startswith(WHITEOUT_PREFIX):
            if base == WHITEOUT_PREFIX:
                raise InvalidLayer(f"whiteout {m.name!r} names nothing")
            target = os.path.join(parent, base[len(WHITEOUT_PREFIX):])
            self._clear(target, keep_dir=False)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            return
        path = os.path.join(parent, base)
        self._clear(path, keep_dir=m.isdir())
        if m.isdir():
            if not os.path.isdir(path):
                os.mkdir(path, 0o700)
        elif m.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                src = tar.extractfile(m)
                if src is not None:
                    shutil.copyfileobj(src, out, _CHUNK)
        elif m.issym():
            os.symlink(m.linkname, path)
        elif m.islnk():
            link_rel = _clean_name(m.linkname)
            if not link_rel:
                raise InvalidLayer(f"hard link {m.name!r} to the layer root")
            source = os.path.join(self._parent(link_rel), link_rel.rsplit("/", 1)[-1])
            try:
                os.link(source, path, follow_symlinks=False)
            except OSError as e:
                raise InvalidLayer(f"hard link {m.name!r} to {m.linkname!r}: {e.strerror}") from e
            return  # a hard link shares its target's inode and attributes
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor) if not m.isfifo() else 0)
        else:
            log.debug("skipping layer entry %r of tar type %r", m.name, m.type)
            return
        self._attrs(path, m)

    def _attrs(self, path: str, m: tarfile.TarInfo) -> None:
        os.lchown(path, m.uid, m.gid)
        if not m.issym():
            os.chmod(path, m.mode & 0o7777)  # after chown, which clears setuid/setgid
        for key, value in m.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr."):]
            if name.startswith("trusted."):
                continue  # overlayfs obeys trusted.overlay.*: never from a layer
            try:
                os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL):
                    raise
                log.debug("xattr %s on %s not kept: %s", name, path, e)
        if m.isdir():
            self.dir_times.append((path, m.mtime))
        else:
            os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)


def apply_layer(stream: Readable, root: Path) -> None:
    """Extract an uncompressed layer tar stream into `root` (an existing, normally empty, directory)."""
    try:
        with tarfile.open(fileobj=cast(IO[bytes], stream), mode="r|") as tar:
            _Extractor(root).apply(tar)
    except (tarfile.TarError, EOFError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile) as e:
        raise InvalidLayer(f"corrupt layer: {e}") from e


def unpack_layer(blob: Path, layers_dir: Path, expected_diff_id: str | None = None) -> str:
    """Unpack `blob` into `layers_dir/<diff-id hex>` and return the diff ID.

    Extraction goes to a private temporary directory renamed into place only when complete and
    verified, so a crash or a wrong diff ID leaves nothing behind; if another process finished the
    same layer first, its copy is kept.
    """
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=layers_dir))
    try:
        os.chmod(tmp, 0o755)
        with open_layer(blob) as stream:
            reader = _HashingReader(stream)
            apply_layer(reader, tmp)
            try:
                reader.drain()
            except (EOFError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile) as e:
                raise InvalidLayer(f"corrupt layer: {e}") from e
        diff_id = reader.digest
        if expected_diff_id and diff_id != expected_diff_id:
            raise DigestMismatch(f"layer diff ID mismatch: the image config says {expected_diff_id}, "
                                 f"the layer content is {diff_id}")
        dest = layers_dir / diff_id.split(":", 1)[1]
        try:
            os.rename(tmp, dest)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        return diff_id
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
