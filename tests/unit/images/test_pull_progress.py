"""Pull progress from the real store (the aiohttp fake registry): bytes per layer, callers sharing a
pull or a blob download all hear it, layers already here are "present"; and `podfleet images pull`'s
plain output (stdout is not a terminal under pytest)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from image_helpers import FakeRegistry, layer_blob
from podfleet.images.commands import register
from podfleet.images.interface import LayerState, PullProgress
from podfleet.images.progress import human_bytes, short_digest
from podfleet.images.store import OverlayImageStore


@pytest.fixture
async def reg() -> AsyncIterator[FakeRegistry]:
    r = FakeRegistry()
    await r.start()
    yield r
    await r.stop()


def noise(name: str, size: int) -> bytes:
    """A plain-tar layer of incompressible bytes, so it streams in many chunks."""
    return layer_blob({name: os.urandom(size // 2).hex()}, "none")


def states(seen: list[PullProgress], digest: str) -> list[LayerState]:
    out: list[LayerState] = []
    for p in seen:
        if p.layer.digest == digest and (not out or out[-1] is not p.layer.state):
            out.append(p.layer.state)
    return out


async def test_a_multi_layer_pull_reports_every_layer_from_start_to_end(reg: FakeRegistry, tmp_path: Path) -> None:
    layers = [noise("a", 600_000), noise("b", 300_000), noise("c", 10)]
    reg.add_image("lib/big", "1", layers)
    seen: list[PullProgress] = []
    await OverlayImageStore(tmp_path / "images").ensure(f"{reg.address}/lib/big:1", progress=seen.append)
    last = seen[-1]
    assert last.finished and last.bytes_done == last.bytes_total == sum(len(b) for b in layers)
    assert [(la.bytes_done, la.bytes_total) for la in last.layers] == [(len(b), len(b)) for b in layers]
    for la in last.layers:
        assert states(seen, la.digest) == [LayerState.DOWNLOADING, LayerState.UNPACKING, LayerState.DONE]
    big = [p.layer.bytes_done for p in seen if p.layer.digest == last.layers[0].digest]
    assert big[0] == 0 and big == sorted(big)
    chunks = [p for p in seen if p.layer.digest == last.layers[0].digest and p.layer.state is LayerState.DOWNLOADING]
    assert len(chunks) <= 2 + last.elapsed / 0.1  # ~10 chunks of 64 KiB, throttled to one per 100 ms


async def test_callers_sharing_a_pull_or_a_blob_all_hear_its_progress(reg: FakeRegistry, tmp_path: Path) -> None:
    base, top, other = noise("base", 400_000), noise("top", 1000), noise("other", 1000)
    reg.add_image("lib/one", "1", [base, top])
    reg.add_image("lib/two", "1", [base, other])
    store = OverlayImageStore(tmp_path / "images")
    first: list[PullProgress] = []
    again: list[PullProgress] = []
    two: list[PullProgress] = []
    one_ref, two_ref = f"{reg.address}/lib/one:1", f"{reg.address}/lib/two:1"
    await asyncio.gather(store.ensure(one_ref, progress=first.append), store.ensure(one_ref, progress=again.append),
                         store.ensure(two_ref, progress=two.append))
    assert sum(1 for m, p in reg.requests if m == "GET" and p.endswith("/lib/one/manifests/1")) == 1  # one flight
    assert first[-1] == again[-1] and first[-1].finished
    assert two[-1].finished and two[-1].layers[0] == first[-1].layers[0]  # the shared base, as the other saw it
    assert two[-1].bytes_done == two[-1].bytes_total == len(base) + len(other)
    three: list[PullProgress] = []
    reg.add_image("lib/three", "1", [base, noise("three", 1000)])
    await store.ensure(f"{reg.address}/lib/three:1", progress=three.append)
    assert [la.state for la in three[-1].layers] == [LayerState.PRESENT, LayerState.DONE]
    assert three[-1].bytes_total == len(reg.blobs[three[-1].layers[1].digest])  # what was already here is not counted


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="podfleet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    rc: int = args.func(args)
    return rc


async def test_pull_command_prints_a_line_per_layer_and_a_summary_when_not_on_a_terminal(
        reg: FakeRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layers = [noise("a", 200_000), noise("b", 100_000)]
    reg.add_image("lib/app", "1", layers)
    data = str(tmp_path / "node")
    ref = f"{reg.address}/lib/app:1"
    digests = [short_digest("sha256:" + hashlib.sha256(b).hexdigest()) for b in layers]
    assert await asyncio.to_thread(cli, "images", "--data-dir", data, "pull", ref) == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(out[:2]) == sorted(f"{d}: {human_bytes(len(b))} done" for d, b in zip(digests, layers, strict=True))
    assert re.fullmatch(rf"total: {re.escape(human_bytes(sum(map(len, layers))))} in \d+\.\ds, average .+/s", out[2])
    assert out[3].startswith(f"Pulled image: {ref} (") and len(out) == 4
    assert "\x1b" not in "".join(out)
    assert await asyncio.to_thread(cli, "images", "--data-dir", data, "pull", ref) == 0
    assert capsys.readouterr().out.splitlines()[:3] == [f"{d}: already present" for d in digests] + [
        "total: nothing to download (all layers already present)"]
