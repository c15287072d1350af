"""Layer unpacking: OCI whiteouts in overlayfs form, attributes kept, escapes refused, diff IDs verified."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from podfleet.images.interface import DigestMismatch
from podfleet.images.layers import InvalidLayer, diff_id_of, unpack_layer

MTIME = 1_600_000_000


Entry = tuple[tarfile.TarInfo, bytes]


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = MTIME
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for k, v in attrs.items():
        setattr(info, k, v)
    info.size = len(data) if kind in (tarfile.REGTYPE,) else 0
    return info, data


def make_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def unpack(tmp: Path, raw: bytes, expected: str | None = None) -> Path:
    blob = tmp / "blob"
    blob.write_bytes(raw)
    layers = tmp / "layers"
    layers.mkdir(exist_ok=True)
    diff = unpack_layer(blob, layers, expected)
    return layers / diff.split(":", 1)[1]


def test_whiteouts_become_overlay_form(tmp_path: Path) -> None:
    d = tarfile.DIRTYPE
    root = unpack(tmp_path, make_tar([
        entry("etc", d), entry("etc/.wh.old"), entry("var", d), entry("var/.wh..wh..opq"),
        entry("var/new", data=b"n"), entry("usr/lib/.wh.gone"), entry("etc/.wh..wh.plnk"),
    ]))
    for path in (root / "etc" / "old", root / "usr" / "lib" / "gone"):
        st = os.lstat(path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "var", "trusted.overlay.opaque") == b"y"
    assert (root / "var" / "new").read_text() == "n"
    assert not (root / "etc" / ".wh..wh.plnk").exists() and not (root / "etc" / ".wh.old").exists()


def test_owners_modes_links_devices_and_times_are_kept(tmp_path: Path) -> None:
    d = tarfile.DIRTYPE
    root = unpack(tmp_path, make_tar([
        entry("./", d, mode=0o755),
        entry("bin", d),
        entry("bin/su", data=b"su", mode=0o4755, uid=0, gid=0),
        entry("home/user", d, mode=0o700, uid=1000, gid=1001),
        entry("home/user/f", data=b"x", mode=0o600, uid=1000, gid=1001),
        entry("bin/sh", tarfile.SYMTYPE, linkname="busybox", uid=5, gid=6),
        entry("bin/su2", tarfile.LNKTYPE, linkname="bin/su"),
        entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        entry("run/fifo", tarfile.FIFOTYPE, mode=0o600),
        entry("tmp", d, mode=0o1777),
    ]))
    su = os.lstat(root / "bin" / "su")
    assert stat.S_IMODE(su.st_mode) == 0o4755 and su.st_mtime == MTIME
    home = os.lstat(root / "home" / "user")
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (1000, 1001, 0o700)
    assert home.st_mtime == MTIME  # directory times are set after their contents
    sh = os.lstat(root / "bin" / "sh")
    assert stat.S_ISLNK(sh.st_mode) and os.readlink(root / "bin" / "sh") == "busybox" and sh.st_uid == 5
    assert os.lstat(root / "bin" / "su2").st_ino == su.st_ino
    null = os.lstat(root / "dev" / "null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.lstat(root / "run" / "fifo").st_mode)
    assert stat.S_IMODE(os.lstat(root / "tmp").st_mode) == 0o1777


def test_xattrs_are_kept_but_never_trusted_ones(tmp_path: Path) -> None:
    info, data = entry("f", data=b"x")
    info.pax_headers = {"SCHILY.xattr.user.note": "hello", "SCHILY.xattr.trusted.overlay.redirect": "/etc"}
    root = unpack(tmp_path, make_tar([(info, data)]))
    assert os.getxattr(root / "f", "user.note") == b"hello"
    with pytest.raises(OSError):
        os.getxattr(root / "f", "trusted.overlay.redirect")


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/../evil"])
def test_dotdot_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidLayer, match="escapes"):
        unpack(tmp_path, make_tar([entry(name, data=b"x")]))
    assert not (tmp_path / "evil").exists() and os.listdir(tmp_path / "layers") == []


@pytest.mark.parametrize("target", ["absolute", "relative"])
def test_nothing_is_written_or_removed_through_a_symlink(tmp_path: Path, target: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("precious")
    link = str(outside) if target == "absolute" else "../../outside"
    for victim in ("etc/passwd", "etc/.wh.keep", "etc/.wh..wh..opq"):
        with pytest.raises(InvalidLayer, match="symlink"):
            unpack(tmp_path, make_tar([entry("etc", tarfile.SYMTYPE, linkname=link), entry(victim, data=b"x")]))
    assert sorted(os.listdir(outside)) == ["keep"] and (outside / "keep").read_text() == "precious"
    assert os.listxattr(outside) == [] and os.listdir(tmp_path / "layers") == []


def test_hard_links_never_follow_symlinks_or_leave_the_layer(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s")
    root = unpack(tmp_path, make_tar([entry("s", tarfile.SYMTYPE, linkname=str(secret)),
                                      entry("h", tarfile.LNKTYPE, linkname="s")]))
    assert os.path.islink(root / "h") and os.stat(secret).st_nlink == 1
    with pytest.raises(InvalidLayer):
        unpack(tmp_path, make_tar([entry("h", tarfile.LNKTYPE, linkname="../secret")]))
    assert os.stat(secret).st_nlink == 1


def test_diff_id_is_the_same_for_every_compression(tmp_path: Path) -> None:
    raw = make_tar([entry("a", data=b"a" * 10000), entry("d", tarfile.DIRTYPE)])
    expected = "sha256:" + hashlib.sha256(raw).hexdigest()
    for i, blob in enumerate([raw, gzip.compress(raw), zstandard.ZstdCompressor().compress(raw)]):
        (tmp_path / f"b{i}").write_bytes(blob)
        assert diff_id_of(tmp_path / f"b{i}") == expected
        root = unpack(tmp_path, blob, expected)
        assert root.name == expected.split(":")[1] and (root / "a").read_bytes() == b"a" * 10000


def test_wrong_diff_id_or_corrupt_blob_leaves_nothing(tmp_path: Path) -> None:
    raw = make_tar([entry("a", data=b"a")])
    with pytest.raises(DigestMismatch, match="diff ID"):
        unpack(tmp_path, raw, "sha256:" + "0" * 64)
    assert os.listdir(tmp_path / "layers") == []
    with pytest.raises(InvalidLayer, match="corrupt"):
        unpack(tmp_path, gzip.compress(raw + b"\0" * 4096)[:-30])
    assert os.listdir(tmp_path / "layers") == []


def test_second_unpack_of_a_layer_keeps_the_first(tmp_path: Path) -> None:
    raw = make_tar([entry("a", data=b"a")])
    first = unpack(tmp_path, raw)
    inode = os.stat(first / "a").st_ino
    assert unpack(tmp_path, raw) == first and os.stat(first / "a").st_ino == inode
    assert os.listdir(tmp_path / "layers") == [first.name]
