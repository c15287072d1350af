"""A `Store` on in-memory storage with a fake clock and the `default` namespace, for the API
server's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podfleet.api.resources import NAMESPACES
from podfleet.apiserver.store import Store, WriteOptions
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = MemoryStorage()
    await s.start()
    st = Store(s, FakeClock())
    await st.create(NAMESPACES, "", {"metadata": {"name": "default"}}, WriteOptions())
    yield st
    await s.close()
