"""The storage contract against every backend: SQLite on disk, the in-memory fake, and a real etcd
(plaintext, and TLS with a client certificate); and the Secrets-encrypting wrapper, on keys it
encrypts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from podfleet.storage.encrypted import SECRETS_PREFIX, EncryptingStorage, Keyring
from podfleet.storage.factory import open_storage
from podfleet.storage.interface import Storage
from storage_helpers import CONTRACT


@pytest.fixture(params=["sqlite", "memory", "etcd", "etcd-tls", "encrypted"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "encrypted":
        inner = open_storage("memory://")
        keyring = Keyring(tmp_path / "keys.json")
        encrypted = EncryptingStorage(inner, keyring)
        await encrypted.start()
        await keyring.open(inner)
        yield encrypted
        await encrypted.close()
        return
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'state.db'}"
    elif request.param == "memory":
        url = "memory://"
    else:
        url = request.getfixturevalue("etcd_tls_member" if request.param == "etcd-tls" else "etcd_member").url
    s = open_storage(url)
    await s.start()
    yield s
    await s.close()


@pytest.fixture
def prefix(store: Storage) -> str:
    """Keys of their own for each test: the etcd member outlives a test, the other stores do not."""
    if isinstance(store, EncryptingStorage):
        return f"{SECRETS_PREFIX}t-{uuid.uuid4().hex[:8]}"  # keys it encrypts
    return f"/t-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("check", CONTRACT, ids=[c.__name__ for c in CONTRACT])
async def test_contract(store: Storage, prefix: str, check: Callable[..., Any]) -> None:
    await check(store, prefix)


def test_bad_urls() -> None:
    for url in ("sqlite://relative.db", "postgres://x", "etcd://", "etcd://h:port", "etcd://h:99999",
                "etcd://h:2379/path", "etcd://h:2379?cafile=/ca.crt", "etcds://h?certfile=/c.crt",
                "etcds://h?cafile=relative.crt", "etcds://h?user=x"):
        with pytest.raises(ValueError):
            open_storage(url)
