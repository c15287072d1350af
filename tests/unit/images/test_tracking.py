"""PullTracker's throttling (fake time, a hand-run timer) and Listeners' fan-out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from podfleet.images.interface import LayerState, PullProgress
from podfleet.images.tracking import Listeners, PullTracker

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@dataclass
class Timer:
    """Stands in for loop.call_later: records what was scheduled; the test fires it."""

    delay: float
    fn: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Rig:
    now: float = 100.0
    seen: list[PullProgress] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)

    def tracker(self, layers: list[tuple[str, int]]) -> PullTracker:
        def call_later(delay: float, fn: Callable[[], None]) -> Timer:
            self.timers.append(Timer(delay, fn))
            return self.timers[-1]

        return PullTracker(layers, self.seen.append, began=self.now, monotonic=lambda: self.now,
                           call_later=call_later)  # type: ignore[arg-type]

    def fire(self) -> None:
        timer = self.timers.pop(0)
        assert not timer.cancelled
        self.now += timer.delay
        timer.fn()


def test_start_and_end_always_go_out_bytes_at_most_every_100ms_per_layer() -> None:
    rig = Rig()
    t = rig.tracker([(A, 1000), (B, 3000)])
    t.fetched(0, 0)
    t.fetched(1, 0)
    assert [(p.layer.digest, p.layer.state) for p in rig.seen] == [(A, LayerState.DOWNLOADING),
                                                                   (B, LayerState.DOWNLOADING)]
    assert rig.seen[0].layers[1].state is LayerState.WAITING  # every snapshot carries every layer
    t.fetched(0, 100)
    t.fetched(0, 200)
    t.fetched(1, 300)
    assert len(rig.seen) == 2  # held back: both layers spoke less than 100 ms ago
    rig.now += 0.1
    t.fetched(0, 400)
    assert (rig.seen[-1].layer.digest, rig.seen[-1].layer.bytes_done) == (A, 400)
    assert (rig.seen[-1].bytes_done, rig.seen[-1].bytes_total) == (400 + 300, 4000)
    t.done(0)
    assert rig.seen[-1].layer.state is LayerState.DONE and rig.seen[-1].layer.bytes_done == 1000
    assert not rig.seen[-1].finished


def test_a_held_back_update_goes_out_when_its_interval_is_up() -> None:
    rig = Rig()
    t = rig.tracker([(A, 1000)])
    t.fetched(0, 0)
    rig.now += 0.03
    t.fetched(0, 500)  # then the download stalls
    assert len(rig.seen) == 1 and len(rig.timers) == 1
    assert rig.timers[0].delay == pytest.approx(0.07)
    rig.fire()
    assert rig.seen[-1].layer.bytes_done == 500 and not rig.timers
    t.fetched(0, 600)  # due again only at +0.1: held, timer set for then
    t.close()
    assert rig.timers[0].cancelled
    t.fetched(0, 700)
    t.done(0)
    assert len(rig.seen) == 2  # nothing after close


def test_present_layers_count_in_no_totals_and_the_last_layer_finishes_the_pull() -> None:
    rig = Rig()
    t = rig.tracker([(A, 1000), (B, 3000)])
    t.present(0)
    rig.now += 2
    t.unpacking(1)  # the blob was already stored: it counts as fetched
    t.done(1)
    last = rig.seen[-1]
    assert [la.state for la in last.layers] == [LayerState.PRESENT, LayerState.DONE]
    assert (last.bytes_done, last.bytes_total, last.elapsed, last.finished) == (3000, 3000, 2.0, True)
    assert [p.layer.state for p in rig.seen] == [LayerState.PRESENT, LayerState.UNPACKING, LayerState.DONE]


def test_an_unknown_size_is_learned_when_the_layer_completes() -> None:
    rig = Rig()
    t = rig.tracker([(A, -1)])
    t.fetched(0, 0)
    assert rig.seen[-1].layer.bytes_total == 0
    rig.now += 1
    t.fetched(0, 700)
    t.done(0)
    assert (rig.seen[-1].layer.bytes_done, rig.seen[-1].layer.bytes_total) == (700, 700)


def test_listeners_fan_out_by_key_and_a_failing_one_does_not_stop_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    listeners: Listeners[int] = Listeners()
    got: list[tuple[str, int]] = []

    def broken(n: int) -> None:
        raise RuntimeError("display bug")

    with listeners.listening("k", broken), listeners.listening("k", lambda n: got.append(("one", n))), \
            listeners.listening("k", None), listeners.listening("other", lambda n: got.append(("other", n))):
        with caplog.at_level(logging.ERROR, "podfleet.images"):
            listeners.publish("k", 1)
        listeners.publish("other", 2)
    listeners.publish("k", 3)  # nobody left
    assert got == [("one", 1), ("other", 2)]
    assert "progress listener failed" in caplog.text
    assert not listeners._by_key
