"""Unpacking image layers (tar, gzip, zstd) into directories overlayfs can stack.

OCI whiteouts become overlayfs whiteouts: `.wh.<name>` turns into a 0/0 character device and
`.wh..wh..opq` into the `trusted.overlay.opaque=y` attribute on its directory. Entries that would
escape the layer directory are refused.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import IO

import zstandard

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def open_layer(path: Path) -> IO[bytes]:
    """A decompressed stream of the layer blob, whatever its compression."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        dctx = zstandard.ZstdDecompressor()
        return io.BufferedReader(dctx.stream_reader(open(path, "rb")))
    return open(path, "rb")


def _safe(dest: Path, name: str) -> Path:
    target = Path(os.path.normpath(dest / name.lstrip("/")))
    if target != dest and dest not in target.parents:
        raise ValueError(f"layer entry {name!r} escapes the layer directory")
    return target


def unpack_layer(blob: Path, dest: Path) -> None:
    """Extract one layer into `dest` (created; replaced if a previous attempt left it half-done)."""
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tmp = tmp.resolve()
    with open_layer(blob) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = member.name
            base = os.path.basename(name.rstrip("/"))
            parent = _safe(tmp, os.path.dirname(name.rstrip("/")))
            if base == OPAQUE:
                parent.mkdir(parents=True, exist_ok=True)
                os.setxattr(parent, "trusted.overlay.opaque", b"y")
                continue
            if base.startswith(WHITEOUT):
                parent.mkdir(parents=True, exist_ok=True)
                target = parent / base[len(WHITEOUT):]
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
                os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
                continue
            target = _safe(tmp, name)
            if target == tmp:
                continue  # the layer root itself ("./")
            if member.islnk():
                _safe(tmp, member.linkname)
            # A symlinked directory from an earlier entry must not carry writes outside the layer.
            real_parent = os.path.realpath(target.parent)
            if real_parent != str(tmp) and not real_parent.startswith(str(tmp) + os.sep):
                raise ValueError(f"layer entry {name!r} escapes the layer directory through a symlink")
            if target.exists() or target.is_symlink():
                if target.is_dir() and not target.is_symlink() and member.isdir():
                    pass
                elif target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            tar.extract(member, tmp, set_attrs=True, numeric_owner=True, filter="fully_trusted")
    if dest.exists():
        shutil.rmtree(tmp)  # another pull unpacked the same layer first: keep theirs
    else:
        os.replace(tmp, dest)
