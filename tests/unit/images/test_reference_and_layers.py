"""Reference parsing as Docker does it, and layer unpacking with OCI whiteouts."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from podfleet.images.layers import unpack_layer
from podfleet.images.reference import parse_reference
from podfleet.images.registry import credentials_from_dockerconfig


@pytest.mark.parametrize(("ref", "expect"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("user/app", "docker.io/user/app:latest"),
    ("127.0.0.1:5000/a/b:tag", "127.0.0.1:5000/a/b:tag"),
    ("localhost/x", "localhost/x:latest"),
    ("quay.io/a/b@sha256:" + "a" * 64, "quay.io/a/b@sha256:" + "a" * 64),
])
def test_parse(ref: str, expect: str) -> None:
    assert str(parse_reference(ref)) == expect


def test_plain_http_only_on_loopback() -> None:
    assert parse_reference("127.0.0.1:5000/a").plain_http
    assert parse_reference("localhost:5000/a").plain_http
    assert not parse_reference("quay.io/a").plain_http
    with pytest.raises(ValueError):
        parse_reference("Upper/Case")


def _tar(path: Path, entries: list[tuple[str, str | None]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                data = content.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_whiteouts_become_overlay_form(tmp_path: Path) -> None:
    blob = _tar(tmp_path / "l.tar", [("etc", None), ("etc/.wh.old", ""), ("var", None), ("var/.wh..wh..opq", ""),
                                     ("var/new", "n")])
    dest = tmp_path / "layer"
    unpack_layer(blob, dest)
    wh = os.lstat(dest / "etc" / "old")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == os.makedev(0, 0)
    assert os.getxattr(dest / "var", "trusted.overlay.opaque") == b"y"
    assert (dest / "var" / "new").read_text() == "n"


def test_escaping_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        unpack_layer(_tar(tmp_path / "bad.tar", [("../evil", "x")]), tmp_path / "l1")
    evil = tmp_path / "sym.tar"
    with tarfile.open(evil, "w") as tar:
        link = tarfile.TarInfo("etc")
        link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path / "outside")
        tar.addfile(link)
        f = tarfile.TarInfo("etc/passwd")
        f.size = 1
        tar.addfile(f, io.BytesIO(b"x"))
    (tmp_path / "outside").mkdir()
    with pytest.raises(ValueError, match="symlink"):
        unpack_layer(evil, tmp_path / "l2")
    assert not (tmp_path / "outside" / "passwd").exists()


def test_dockerconfigjson_credentials() -> None:
    import base64
    import json

    cfg = {"auths": {"127.0.0.1:5000": {"auth": base64.b64encode(b"u:p").decode()}}}
    data = {".dockerconfigjson": base64.b64encode(json.dumps(cfg).encode()).decode()}
    creds = credentials_from_dockerconfig(data, "127.0.0.1:5000")
    assert creds is not None and (creds.username, creds.password) == ("u", "p")
    assert credentials_from_dockerconfig(data, "quay.io") is None
