"""A scheduler over an in-process store with the `default` namespace (started by each test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podfleet.api.resources import NAMESPACES
from podfleet.apiserver.store import Store
from podfleet.client.local import LocalClient
from podfleet.scheduler.scheduler import Scheduler
from podfleet.storage.memory import MemoryStorage


@pytest.fixture
async def env() -> AsyncIterator[tuple[LocalClient, Scheduler]]:
    storage = MemoryStorage()
    await storage.start()
    client = LocalClient(Store(storage))
    await client.create(NAMESPACES, {"metadata": {"name": "default"}})
    sched = Scheduler(client, retry_seconds=0.2)
    yield client, sched
    await sched.stop()
    await storage.close()
