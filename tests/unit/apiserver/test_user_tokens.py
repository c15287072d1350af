"""User credentials in the token file: groups plus system:authenticated, expiry, revocation by removal."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from podfleet.api.errors import Unauthorized
from podfleet.apiserver.auth import TokenAuthenticator, TokenFile, UserInfo
from podfleet.cluster.user_commands import parse_duration


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_user_token_authenticates_with_its_groups(tmp_path: Path) -> None:
    tf = TokenFile.load_or_create(tmp_path / "tokens.json")
    token = tf.issue_user_token("jane", ("dev", "system:authenticated"))
    auth = TokenAuthenticator(TokenFile.load_or_create(tmp_path / "tokens.json"))
    assert auth.authenticate(token) == UserInfo("jane", ("dev", "system:authenticated"))
    # issuing again replaces the token: the old one stops working
    newer = TokenFile.load_or_create(tmp_path / "tokens.json").issue_user_token("jane")
    os.utime(tmp_path / "tokens.json", (2e9, 2e9))  # a distinct mtime, whatever the file system's resolution
    with pytest.raises(Unauthorized):
        auth.authenticate(token)
    assert auth.authenticate(newer) == UserInfo("jane", ("system:authenticated",))


def test_expired_and_removed_tokens_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    clock = Clock()
    token = TokenFile.load_or_create(path).issue_user_token("temp", (), expires=1060.0)
    auth = TokenAuthenticator(TokenFile.load_or_create(path), now=clock)
    assert auth.authenticate(token).name == "temp"
    clock.t = 1060.0
    with pytest.raises(Unauthorized):
        auth.authenticate(token)
    other = TokenFile.load_or_create(path).issue_user_token("other")
    assert auth.authenticate(other).name == "other"
    data = json.loads(path.read_text())
    del data["users"]["other"]
    path.write_text(json.dumps(data))
    os.utime(path, (2e9, 2e9))
    with pytest.raises(Unauthorized):
        auth.authenticate(other)


def test_unknown_tokens_go_to_the_fallback(tmp_path: Path) -> None:
    class Fallback:
        def authenticate(self, token: str | None) -> UserInfo:
            return UserInfo("via-fallback")

    auth = TokenAuthenticator(TokenFile.load_or_create(tmp_path / "tokens.json"), fallback=Fallback())
    assert auth.authenticate("eyJ...").name == "via-fallback"


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h30m", 5400), ("7d", 604800), ("1.5h", 5400),
                                               ("500ms", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "h", "5x", "1h 2m", "0s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_a_token_file_caught_mid_write_is_read_again_later(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = TokenFile.load_or_create(path).issue_user_token("jane")
    auth = TokenAuthenticator(TokenFile.load_or_create(path))
    assert auth.authenticate(token).name == "jane"
    whole = path.read_text()
    path.write_text(whole[: len(whole) // 2])
    os.utime(path, (2e9, 2e9))
    assert auth.authenticate(token).name == "jane"  # what it last read, not a 500
    data = json.loads(whole)
    del data["users"]["jane"]
    path.write_text(json.dumps(data))
    os.utime(path, (2e9, 2e9))  # the same mtime as the broken version: still read again
    with pytest.raises(Unauthorized):
        auth.authenticate(token)
