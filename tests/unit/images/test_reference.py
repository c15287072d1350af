"""Reference parsing and normalization as Docker does it, and which registries get plain HTTP."""

from __future__ import annotations

import pytest

from podfleet.images.reference import parse_reference

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(("ref", "expect"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("user/app", "docker.io/user/app:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("127.0.0.1:5000/a/b:tag", "127.0.0.1:5000/a/b:tag"),
    ("host:5000/a/b:tag", "host:5000/a/b:tag"),
    ("localhost/x", "localhost/x:latest"),
    ("[::1]:5000/x:1", "[::1]:5000/x:1"),
    ("quay.io/a/b@" + D, "quay.io/a/b@" + D),
    ("quay.io/a/b:1@" + D, "quay.io/a/b:1@" + D),
    ("a__b/c-d.e:v1.2_3", "docker.io/a__b/c-d.e:v1.2_3"),
])
def test_normalized_like_docker(ref: str, expect: str) -> None:
    assert str(parse_reference(ref)) == expect


def test_parts_and_keys() -> None:
    r = parse_reference("host:5000/a/b:1@" + D)
    assert (r.registry, r.repository, r.tag, r.digest) == ("host:5000", "a/b", "1", D)
    assert r.key == "host:5000/a/b@" + D  # a digest wins over the tag
    assert parse_reference("busybox").key == "docker.io/library/busybox:latest"
    assert parse_reference("busybox").api_host == "registry-1.docker.io"


@pytest.mark.parametrize("bad", [
    "", " busybox", "Upper/Case", "busybox:", "busybox:-x", "a//b", "a/b/", "busybox@sha256:abc",
    "busybox@md5:" + "a" * 32, "-x", "x/" + "a" * 260, "a" * 64, "bad host/x",
])
def test_malformed_references_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_reference(bad)


@pytest.mark.parametrize(("ref", "plain"), [
    ("127.0.0.1:5000/a", True), ("localhost:5000/a", True), ("localhost/a", True), ("[::1]:5000/a", True),
    ("127.0.0.2:5000/a", True), ("quay.io/a", False), ("10.0.0.1:5000/a", False), ("busybox", False),
    ("localhost.example.com/a", False),
])
def test_plain_http_only_for_loopback(ref: str, plain: bool) -> None:
    assert parse_reference(ref).plain_http is plain
