"""The storage contract against the embedded backends (SQLite on disk, and the in-memory fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from podfleet.storage.factory import open_storage
from podfleet.storage.interface import Storage
from storage_helpers import CONTRACT


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    url = f"sqlite://{tmp_path / 'state.db'}" if request.param == "sqlite" else "memory://"
    s = open_storage(url)
    await s.start()
    yield s
    await s.close()


@pytest.mark.parametrize("check", CONTRACT, ids=[c.__name__ for c in CONTRACT])
async def test_contract(store: Storage, check: Callable[..., Any]) -> None:
    await check(store, "/t")


def test_bad_urls() -> None:
    for url in ("sqlite://relative.db", "postgres://x", "etcd://"):
        with pytest.raises(ValueError):
            open_storage(url)
