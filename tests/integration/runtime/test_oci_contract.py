"""The OCIRuntime contract against conmon + runc on a busybox rootfs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from oci_runtime_contract import CHECKS, OCIHarness
from podfleet.runtime.interface import StdinMode
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


async def test_attached_terminal_takes_the_last_of_quick_resizes(harness: OCIHarness) -> None:
    """kubectl sends two sizes at once on attach; conmon reads only the first line of a read."""
    spec = harness.sleeper()
    spec["process"]["args"], spec["process"]["terminal"] = ["sh"], True
    await harness.runtime.run("c-tty", harness.work / "bundles" / "c-tty", spec, harness.work / "logs" / "0.log",
                              stdin=StdinMode.OPEN)
    attached = await harness.runtime.attach("c-tty")
    try:
        for size in ((101, 31), (100, 30), (120, 40), (80, 24)):
            attached.resize(*size)
        out = b""
        async with asyncio.timeout(20):
            while b"24 80" not in out:  # settles on the last size; the shell answers each poke
                await attached.write_stdin(b"stty size\n")
                out += (await attached.read())[1]
    finally:
        attached.close()
