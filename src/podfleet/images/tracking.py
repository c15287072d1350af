"""A pull's byte counts turned into throttled PullProgress snapshots, and fanned out to its listeners.

`PullTracker` keeps every layer's state and calls `emit` on each layer's start and end, and at most
every `interval` seconds per layer in between; an update the throttle held back goes out when that
layer's interval is up, so a stalled download still shows its last bytes. `Listeners` delivers
values by key, so each caller sharing a single-flight pull or blob download hears its progress.
Everything here runs on the event loop and does no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Generic, TypeVar

from podfleet.images.interface import LayerProgress, LayerState, ProgressCallback, PullProgress

log = logging.getLogger("podfleet.images")
T = TypeVar("T")
INTERVAL = 0.1
_EARLY = 0.001  # a timer may fire this much early (loop clock resolution) and still count as due
CallLater = Callable[[float, Callable[[], None]], asyncio.TimerHandle]


class Listeners(Generic[T]):
    """Callbacks by key (a pull flight, a blob digest), for work that many callers share."""

    def __init__(self) -> None:
        self._by_key: dict[Hashable, list[Callable[[T], None]]] = {}

    @contextlib.contextmanager
    def listening(self, key: Hashable, fn: Callable[[T], None] | None) -> Iterator[None]:
        if fn is None:
            yield
            return
        fns = self._by_key.setdefault(key, [])
        fns.append(fn)
        try:
            yield
        finally:
            fns.remove(fn)
            if not fns and self._by_key.get(key) is fns:
                del self._by_key[key]

    def publish(self, key: Hashable, value: T) -> None:
        for fn in list(self._by_key.get(key, ())):
            try:
                fn(value)
            except Exception:  # one listener's bug must not fail a download that others share
                log.exception("image pull progress listener failed")


class PullTracker:
    """The layers of one pull (blob digest and manifest size each, by manifest index)."""

    def __init__(self, layers: Sequence[tuple[str, int]], emit: ProgressCallback, *, began: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic, interval: float = INTERVAL,
                 call_later: CallLater | None = None) -> None:
        self._emit = emit
        self._monotonic = monotonic
        self._began = monotonic() if began is None else began
        self._interval = interval
        self._call_later = call_later
        self._layers = [LayerProgress(d, LayerState.WAITING, 0, max(size, 0)) for d, size in layers]
        self._sent = [-math.inf] * len(self._layers)  # when each layer was last emitted
        self._held: set[int] = set()  # layers whose latest update the throttle held back
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    # ------------------------------------------------------------------ what the store reports
    def fetched(self, i: int, n: int) -> None:
        """`n` bytes of layer `i` have arrived so far (0: its download began)."""
        layer = self._layers[i]
        if layer.finished or self._closed:
            return
        starting = layer.state is LayerState.WAITING
        self._layers[i] = dataclasses.replace(layer, state=LayerState.DOWNLOADING, bytes_done=n)
        if starting:
            self._send(i)
        else:
            self._throttled(i)

    def unpacking(self, i: int) -> None:
        self._complete(i, LayerState.UNPACKING)

    def done(self, i: int) -> None:
        self._complete(i, LayerState.DONE)

    def present(self, i: int) -> None:
        self._change(i, dataclasses.replace(self._layers[i], state=LayerState.PRESENT, bytes_done=0))

    def close(self) -> None:
        """No more emissions (the pull ended, one way or the other)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------------ internals
    def _complete(self, i: int, state: LayerState) -> None:
        layer = self._layers[i]
        done = max(layer.bytes_done, layer.bytes_total)  # a blob already stored counts as fetched
        self._change(i, dataclasses.replace(layer, state=state, bytes_done=done, bytes_total=layer.bytes_total or done))

    def _change(self, i: int, layer: LayerProgress) -> None:
        if self._closed or self._layers[i] == layer:
            return
        self._layers[i] = layer
        self._send(i)

    def _throttled(self, i: int) -> None:
        if self._monotonic() - self._sent[i] >= self._interval - _EARLY:
            self._send(i)
            return
        self._held.add(i)
        self._schedule()

    def _send(self, i: int) -> None:
        self._held.discard(i)
        now = self._monotonic()
        self._sent[i] = now
        fetched = [layer for layer in self._layers if layer.state is not LayerState.PRESENT]
        self._emit(PullProgress(self._layers[i], tuple(self._layers), sum(la.bytes_done for la in fetched),
                                sum(la.bytes_total for la in fetched), now - self._began))

    def _schedule(self) -> None:
        if self._timer is not None or not self._held:
            return
        delay = max(0.0, min(self._sent[i] for i in self._held) + self._interval - self._monotonic())
        call_later = self._call_later or asyncio.get_running_loop().call_later
        self._timer = call_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = self._monotonic()
        for i in sorted(i for i in self._held if now - self._sent[i] >= self._interval - _EARLY):
            self._send(i)
        self._schedule()
