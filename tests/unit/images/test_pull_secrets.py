"""imagePullSecrets: dockerconfigjson / dockercfg Secret data → credentials for one registry."""

from __future__ import annotations

import base64
import json

from podfleet.images.pull_secrets import credentials_from_dockerconfig


def secret(cfg: object, key: str = ".dockerconfigjson") -> dict[str, str]:
    return {key: base64.b64encode(json.dumps(cfg).encode()).decode()}


def auth(user: str, pw: str) -> str:
    return base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_auth_field_and_exact_host_port() -> None:
    data = secret({"auths": {"127.0.0.1:5000": {"auth": auth("u", "p:with:colons")}}})
    creds = credentials_from_dockerconfig(data, "127.0.0.1:5000")
    assert creds is not None and (creds.username, creds.password) == ("u", "p:with:colons")
    assert credentials_from_dockerconfig(data, "127.0.0.1:5001") is None
    assert credentials_from_dockerconfig(data, "quay.io") is None
    assert "p:with" not in repr(creds)


def test_docker_hub_aliases_urls_and_username_password_fields() -> None:
    data = secret({"auths": {"https://index.docker.io/v1/": {"username": "hub", "password": "pw"}}})
    creds = credentials_from_dockerconfig(data, "docker.io")
    assert creds is not None and (creds.username, creds.password) == ("hub", "pw")
    data = secret({"auths": {"https://registry.example.com/v2/": {"auth": auth("a", "b"),
                                                                  "identitytoken": "refresh"}}})
    creds = credentials_from_dockerconfig(data, "registry.example.com")
    assert creds is not None and creds.identity_token == "refresh"


def test_wildcards_match_one_label_and_exact_keys_win() -> None:
    data = secret({"auths": {"*.example.com": {"auth": auth("wild", "1")},
                             "a.example.com": {"auth": auth("exact", "2")}}})
    assert credentials_from_dockerconfig(data, "a.example.com").username == "exact"  # type: ignore[union-attr]
    assert credentials_from_dockerconfig(data, "b.example.com").username == "wild"  # type: ignore[union-attr]
    assert credentials_from_dockerconfig(data, "x.b.example.com") is None


def test_legacy_dockercfg_and_malformed_secrets() -> None:
    data = secret({"127.0.0.1:5000": {"auth": auth("old", "x")}}, ".dockercfg")
    assert credentials_from_dockerconfig(data, "127.0.0.1:5000").username == "old"  # type: ignore[union-attr]
    assert credentials_from_dockerconfig({".dockerconfigjson": "!!!notbase64"}, "x.io") is None
    assert credentials_from_dockerconfig({".dockerconfigjson": base64.b64encode(b"[1]").decode()}, "x.io") is None
    assert credentials_from_dockerconfig({}, "x.io") is None
