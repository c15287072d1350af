"""Controller expectations: how many creates and which deletes a controller is still waiting to see.

A replica set that just asked for 3 pods must not ask again before its informer has seen them, or a
burst of syncs would double the pods. Until the expected creations/deletions are observed (or the
expectation expires) the controller skips managing replicas and only updates status.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podfleet.clock import Clock

EXPECTATIONS_TIMEOUT = 300.0


@dataclass
class _Expectation:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    timestamp: float = 0.0


class Expectations:
    def __init__(self, clock: Clock, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._by_key: dict[str, _Expectation] = {}

    def satisfied(self, key: str) -> bool:
        e = self._by_key.get(key)
        if e is None:
            return True
        if e.adds <= 0 and not e.deletes:
            return True
        return self.clock.monotonic() - e.timestamp > self.timeout

    def expect(self, key: str, adds: int, deletes: list[str]) -> None:
        """Creations and deletions expected together (a DaemonSet's sync does both at once)."""
        self._by_key[key] = _Expectation(adds=adds, deletes=set(deletes), timestamp=self.clock.monotonic())

    def expect_creations(self, key: str, n: int) -> None:
        self.expect(key, n, [])

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        self.expect(key, 0, pod_keys)

    def creation_observed(self, key: str) -> None:
        e = self._by_key.get(key)
        if e is not None and e.adds > 0:
            e.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.deletes.discard(pod_key)

    def delete(self, key: str) -> None:
        self._by_key.pop(key, None)
