"""Secrets at rest: ciphertext in the store, plaintext through the wrapper, keys bound to their key
names and storage keys, rotation, and a missing or broken keyring as an error naming the file."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podfleet.cluster.secrets_commands import rotate
from podfleet.storage.encrypted import EncryptingStorage, Keyring, KeyringError, keyring_for, read_keys
from podfleet.storage.factory import open_storage
from podfleet.storage.interface import Storage

SECRET = b'{"data":{"password":"aHVudGVyMg=="}}'


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[Storage, EncryptingStorage, Keyring]]:
    inner = open_storage(f"sqlite://{tmp_path / 'state.db'}")
    await inner.start()
    keyring = Keyring(keyring_for(tmp_path))
    await keyring.open(inner)
    assert keyring.path.stat().st_mode & 0o777 == 0o600  # made on first use, secret
    yield inner, EncryptingStorage(inner, keyring), keyring
    await inner.close()


async def test_secrets_are_ciphertext_underneath_and_plaintext_through(
        stores: tuple[Storage, EncryptingStorage, Keyring]) -> None:
    inner, enc, _ = stores
    await enc.create("/registry/secrets/ns/db", SECRET)
    await enc.create("/registry/configmaps/ns/cfg", b"plain")
    raw = await inner.get("/registry/secrets/ns/db")
    assert raw is not None and raw.value.startswith(b"k8s:enc:aesgcm:v1:key-") and b"aHVudGVy" not in raw.value
    assert (await inner.get("/registry/configmaps/ns/cfg")).value == b"plain"  # type: ignore[union-attr]
    assert (await enc.get("/registry/secrets/ns/db")).value == SECRET  # type: ignore[union-attr]
    assert [kv.value for kv in (await enc.list("/registry/secrets/")).items] == [SECRET]


async def test_a_value_moved_to_another_key_does_not_decrypt(
        stores: tuple[Storage, EncryptingStorage, Keyring]) -> None:
    inner, enc, _ = stores
    await enc.create("/registry/secrets/ns/a", SECRET)
    stolen = (await inner.get("/registry/secrets/ns/a")).value  # type: ignore[union-attr]
    await inner.create("/registry/secrets/ns/b", stolen)
    with pytest.raises(KeyringError):
        await enc.get("/registry/secrets/ns/b")


async def test_plaintext_from_before_is_read_as_it_is(stores: tuple[Storage, EncryptingStorage, Keyring]) -> None:
    inner, enc, _ = stores
    await inner.create("/registry/secrets/ns/old", SECRET)
    assert (await enc.get("/registry/secrets/ns/old")).value == SECRET  # type: ignore[union-attr]


async def test_rotation_rewrites_with_the_new_key_and_a_running_keyring_follows(
        tmp_path: Path, stores: tuple[Storage, EncryptingStorage, Keyring]) -> None:
    inner, enc, keyring = stores
    await enc.create("/registry/secrets/ns/db", SECRET)
    await inner.close()  # the rotation opens the store itself, as the command does
    name, count = await rotate(tmp_path, f"sqlite://{tmp_path / 'state.db'}")
    assert count == 1 and read_keys(keyring.path)[0]["name"] == name and len(read_keys(keyring.path)) == 2
    await inner.start()
    raw = await inner.get("/registry/secrets/ns/db")
    assert raw is not None and raw.value.startswith(f"k8s:enc:aesgcm:v1:{name}:".encode())
    keyring.reload()  # a server re-reads it when the file changes
    assert (await enc.get("/registry/secrets/ns/db")).value == SECRET  # type: ignore[union-attr]


async def test_a_missing_or_broken_keyring_is_an_error_naming_the_file(
        tmp_path: Path, stores: tuple[Storage, EncryptingStorage, Keyring]) -> None:
    inner, enc, keyring = stores
    await enc.create("/registry/secrets/ns/db", SECRET)
    os.unlink(keyring.path)
    with pytest.raises(KeyringError) as e:
        await Keyring(keyring.path).open(inner)  # never a fresh key while Secrets are encrypted
    assert str(keyring.path) in str(e.value)
    keyring.path.write_text(json.dumps({"keys": [{"name": "k", "secret": "c2hvcnQ="}]}))
    with pytest.raises(KeyringError) as e:
        await Keyring(keyring.path).open(inner)
    assert str(keyring.path) in str(e.value) and "32 bytes" in str(e.value)
