"""The agent's image puller on fakes: `Pulling` events carrying progress at most every 5 s of (fake)
time and none for quick pulls, then `Pulled`; and what that leaves in the API for `kubectl describe`."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import pytest

from podfleet.agent.image_puller import PROGRESS_EVERY, ImagePuller
from podfleet.api.resources import EVENTS
from podfleet.client.events import EventRecorder
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock
from podfleet.images.fake import FakeImageStore

REF = "registry.test/lib/app:1"
MiB = 1 << 20
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
       "spec": {}}


class Events(EventRecorder):
    """Records what the puller emits, and when (fake monotonic time)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.seen: list[tuple[float, str, str]] = []

    def emit(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((self.clock.monotonic(), reason, message))


@dataclass
class Rig:
    clock: FakeClock
    images: FakeImageStore
    events: Events
    puller: ImagePuller

    async def pull(self, container: dict[str, Any], seconds: float) -> None:
        """Pull with the fake store taking a second per MiB, while fake time moves on by `seconds`."""
        await pull_while_time_passes(self.clock, self.puller.pull(POD, container), seconds)


async def pull_while_time_passes(clock: FakeClock, pull: Awaitable[Any], seconds: float) -> None:
    """The pull runs here until its first fake sleep; only then does the driver task start moving time."""
    driver = asyncio.create_task(clock.advance(seconds))
    await pull
    await driver


@pytest.fixture
def rig() -> Rig:
    clock = FakeClock()
    images = FakeImageStore(monotonic=clock.monotonic)
    images.pull_chunk = MiB
    images.pull_pause = lambda: clock.sleep(1)
    events = Events(clock)
    return Rig(clock, images, events, ImagePuller(images, None, events, clock))  # type: ignore[arg-type]


async def test_a_long_pull_gets_a_progress_event_every_5s_then_pulled(rig: Rig) -> None:
    rig.images.add_remote(REF, layer_sizes=[10 * MiB, 30 * MiB])
    start = rig.clock.monotonic()
    await rig.pull({"image": REF}, 40)
    pulling = [(t - start, m) for t, r, m in rig.events.seen if r == "Pulling"]
    assert pulling == [(0, f'Pulling image "{REF}"'),
                       (5, f'Pulling image "{REF}": 6.0 MiB of 40.0 MiB (15%)'),
                       (10, f'Pulling image "{REF}": 10.0 MiB of 40.0 MiB (25%)'),
                       (15, f'Pulling image "{REF}": 16.0 MiB of 40.0 MiB (40%)'),
                       (20, f'Pulling image "{REF}": 21.0 MiB of 40.0 MiB (52%)'),
                       (25, f'Pulling image "{REF}": 26.0 MiB of 40.0 MiB (65%)'),
                       (30, f'Pulling image "{REF}": 31.0 MiB of 40.0 MiB (77%)'),
                       (35, f'Pulling image "{REF}": 36.0 MiB of 40.0 MiB (90%)')]
    assert all(b - a >= PROGRESS_EVERY for (a, _), (b, _) in itertools.pairwise(pulling))
    assert rig.events.seen[-1][1:] == ("Pulled", f'Successfully pulled image "{REF}" in 40.000s')
    assert len(rig.events.seen) == len(pulling) + 1


async def test_a_pull_done_within_5s_gets_no_progress_event(rig: Rig) -> None:
    rig.images.add_remote(REF, layer_sizes=[2 * MiB, 2 * MiB])
    await rig.pull({"image": REF}, 4.9)  # 4 MiB at 1 MiB/s: done after 4 s
    assert [(r, m) for _, r, m in rig.events.seen] == [
        ("Pulling", f'Pulling image "{REF}"'), ("Pulled", f'Successfully pulled image "{REF}" in 4.000s')]


async def test_a_present_image_is_not_pulled_and_an_always_pull_of_present_layers_is_quiet(rig: Rig) -> None:
    rig.images.add_remote(REF, layer_sizes=[50 * MiB])
    await rig.pull({"image": REF}, 50)
    rig.events.seen.clear()
    await rig.pull({"image": REF}, 0)
    assert [(r, m) for _, r, m in rig.events.seen] == [
        ("Pulled", f'Container image "{REF}" already present on machine')]
    rig.events.seen.clear()
    await rig.pull({"image": REF, "imagePullPolicy": "Always"}, 0)  # contacts the registry: every layer present
    assert [r for _, r, _ in rig.events.seen] == ["Pulling", "Pulled"]


async def test_what_kubectl_describe_would_list(client: LocalClient) -> None:
    """Through the real recorder: each progress message is an Event of its own (count 1: the recorder
    folds only identical messages), so a 12 s pull leaves Pulling, two progress Pullings, Pulled."""
    clock = FakeClock()
    images = FakeImageStore(monotonic=clock.monotonic)
    images.pull_chunk, images.pull_pause = MiB, (lambda: clock.sleep(1))
    images.add_remote(REF, layer_sizes=[12 * MiB])
    events = EventRecorder(client, "kubelet", host="n1", clock=clock)
    pod = {**POD, "metadata": {**POD["metadata"], "uid": "u2"}}
    await pull_while_time_passes(clock, ImagePuller(images, client, events, clock).pull(pod, {"image": REF}), 12)
    await events.flush()
    items = sorted((await client.list(EVENTS, "default"))["items"], key=lambda e: e["metadata"]["name"])
    assert [(e["reason"], e["message"], e["count"]) for e in items] == [
        ("Pulling", f'Pulling image "{REF}"', 1),
        ("Pulling", f'Pulling image "{REF}": 6.0 MiB of 12.0 MiB (50%)', 1),
        ("Pulling", f'Pulling image "{REF}": 11.0 MiB of 12.0 MiB (91%)', 1),
        ("Pulled", f'Successfully pulled image "{REF}" in 12.000s', 1)]
