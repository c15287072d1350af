"""The OCIRuntime contract against conmon + runc on a busybox rootfs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from oci_runtime_contract import CHECKS, OCIHarness
from podfleet.runtime.oci import ConmonRuntime
from podfleet.runtime.spec import ContainerConfig, build_spec
from runtime_helpers import busybox_rootfs

pytestmark = pytest.mark.integration


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[OCIHarness]:
    rt = ConmonRuntime(tmp_path / "state")
    rootfs = str(busybox_rootfs(tmp_path / "rootfs"))
    yield OCIHarness(rt, tmp_path, lambda: build_spec(ContainerConfig(rootfs=rootfs, args=["sleep", "1000"],
                                                                     readonly_rootfs=True)))
    for st in await rt.list_containers():
        await rt.delete(st.id)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_contract(harness: OCIHarness, check: Callable[[OCIHarness], Awaitable[None]]) -> None:
    await check(harness)
