"""Fixtures every unit test directory may use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podfleet.api.resources import NAMESPACES
from podfleet.apiserver.store import Store
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage


@pytest.fixture
async def client() -> AsyncIterator[LocalClient]:
    """An in-process API client on a fresh in-memory store with the `default` namespace."""
    storage = MemoryStorage()
    await storage.start()
    c = LocalClient(Store(storage, FakeClock()))
    await c.create(NAMESPACES, {"metadata": {"name": "default"}})
    try:
        yield c
    finally:
        await storage.close()
