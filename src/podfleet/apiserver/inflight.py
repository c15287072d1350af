"""A cap on requests being served at once, as kube-apiserver's `--max-requests-inflight` and
`--max-mutating-requests-inflight`.

Without it a burst of expensive requests (large lists, heavy patches) is all accepted at once: every
one of them holds its decoded objects in memory and they share one event loop, so every request gets
slow and the process can run out of memory. Past the cap the server answers at once with 429
`TooManyRequests` and `Retry-After`, which client-go and kubectl honour by backing off and retrying.

Reads and writes are counted separately so a flood of lists cannot starve the writes (node heartbeats,
status updates) and the other way round. Long-running requests (watches and the log, exec, attach,
port-forward and proxy subresources) are not counted: they are open for minutes and would hold the
slots that short requests need, exactly as kube-apiserver's long-running request check exempts them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager

from podfleet.api.errors import TooManyRequests

# kube-apiserver's defaults for the two flags.
DEFAULT_MAX_REQUESTS_INFLIGHT = 400
DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT = 200

# What kube-apiserver answers past the cap, and how long it asks clients to wait.
TOO_MANY_REQUESTS_MESSAGE = "Too many requests, please try again later."
RETRY_AFTER_SECONDS = 1

# kube-apiserver's BasicLongRunningRequestCheck: these verbs and subresources stream for as long as
# the client wants, so they are never counted.
LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "log", "portforward", "proxy"})
# kube-apiserver counts every other verb as mutating.
NON_MUTATING_VERBS = frozenset({"get", "list", "watch"})


class RequestKind(enum.Enum):
    READONLY = "readonly"
    MUTATING = "mutating"
    LONG_RUNNING = "long-running"


def classify(verb: str, subresource: str = "", groups: tuple[str, ...] = ()) -> RequestKind:
    """Which budget a request draws from, given its verb (get, list, watch, create, update, patch,
    delete, deletecollection, ...), subresource and the caller's groups. `system:masters` is never
    counted, as kube-apiserver exempts it, so an administrator can always reach an overloaded server."""
    if "system:masters" in groups or verb in LONG_RUNNING_VERBS or subresource in LONG_RUNNING_SUBRESOURCES:
        return RequestKind.LONG_RUNNING
    return RequestKind.READONLY if verb in NON_MUTATING_VERBS else RequestKind.MUTATING


class InflightLimiter:
    """Counts requests being served per kind; `admit` raises `TooManyRequests` past a kind's cap.

    A cap of 0 means no limit, as for kube-apiserver's flags. Single-threaded: it lives on the event
    loop, so plain integers are enough.
    """

    def __init__(self, max_readonly: int = DEFAULT_MAX_REQUESTS_INFLIGHT,
                 max_mutating: int = DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT) -> None:
        if max_readonly < 0 or max_mutating < 0:
            raise ValueError("in-flight limits must be >= 0 (0 means no limit)")
        self._limits = {RequestKind.READONLY: max_readonly, RequestKind.MUTATING: max_mutating}
        self._inflight = {RequestKind.READONLY: 0, RequestKind.MUTATING: 0}
        self.rejected = {RequestKind.READONLY: 0, RequestKind.MUTATING: 0}

    def inflight(self, kind: RequestKind) -> int:
        return self._inflight.get(kind, 0)

    def limit(self, kind: RequestKind) -> int:
        return self._limits.get(kind, 0)

    @contextmanager
    def admit(self, kind: RequestKind) -> Iterator[None]:
        """Hold one slot of `kind` while the block runs (long-running requests hold none).

        Raises `TooManyRequests` (429, reason TooManyRequests, `retry_after` for the Retry-After
        header) when every slot of that kind is taken."""
        if kind is RequestKind.LONG_RUNNING:
            yield
            return
        limit = self._limits[kind]
        if limit and self._inflight[kind] >= limit:
            self.rejected[kind] += 1
            raise TooManyRequests(TOO_MANY_REQUESTS_MESSAGE, retry_after=RETRY_AFTER_SECONDS)
        self._inflight[kind] += 1
        try:
            yield
        finally:
            self._inflight[kind] -= 1
