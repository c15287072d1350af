"""The OCIRuntime contract against the in-memory fake (the real one: tests/integration/runtime)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from oci_runtime_contract import CHECKS, OCIHarness
from podfleet.runtime.fake import FakeRuntime


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_contract(tmp_path: Path, check: Callable[[OCIHarness], Awaitable[None]]) -> None:
    await check(OCIHarness(FakeRuntime(), tmp_path, lambda: {"process": {"args": ["sleep", "1000"]}}))
