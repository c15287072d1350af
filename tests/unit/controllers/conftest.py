"""Fixtures for the controller unit tests (helpers live in tests/controllers_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from controllers_helpers import Cluster
from podfleet.api.resources import NAMESPACES
from podfleet.apiserver.store import Store
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    clock = FakeClock()
    storage = MemoryStorage()
    await storage.start()
    client = LocalClient(Store(storage, clock))
    for ns in ("default", "kube-node-lease"):
        await client.create(NAMESPACES, {"metadata": {"name": ns}})
    c = Cluster(client, clock)
    try:
        yield c
    finally:
        if c.manager is not None:
            await c.manager.stop()
        await storage.close()
