"""PrestartedPool: every thread exists from the start, and `submit` neither starts threads nor asks
the idle-thread semaphore."""

from __future__ import annotations

import threading

import pytest

from podfleet.pools import PrestartedPool


def _named(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def test_all_threads_exist_from_the_start_and_all_of_them_work() -> None:
    pool = PrestartedPool(5, "pf-test-pre")
    try:
        assert len(_named("pf-test-pre")) == 5
        everyone = threading.Barrier(5, timeout=5)  # only passes if five tasks run at once
        names = [f.result(5) for f in [pool.submit(lambda: (everyone.wait(), threading.current_thread().name)[1])
                                       for _ in range(5)]]
        assert sorted(names) == sorted(_named("pf-test-pre"))
        assert len(_named("pf-test-pre")) == 5
    finally:
        pool.shutdown(wait=True)


def test_submit_does_not_ask_for_idle_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = PrestartedPool(1, "pf-test-pre1")
    try:
        def refuse(*_a: object, **_k: object) -> bool:
            raise AssertionError("submit asked the idle-thread semaphore")

        monkeypatch.setattr(pool._idle_semaphore, "acquire", refuse)
        assert [pool.submit(lambda i=i: i * 2).result(5) for i in range(3)] == [0, 2, 4]
    finally:
        pool.shutdown(wait=True)
