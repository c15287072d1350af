"""The storage contract: one suite of checks every `Storage` backend must pass.

Backends' test modules call these with a started store; keys are namespaced by a unique prefix so
a shared backend (etcd) can run them side by side.
"""

from __future__ import annotations

import asyncio

import pytest

from podfleet.storage.interface import Compacted, KeyExists, KeyNotFound, RevisionMismatch, Storage, WatchEvent


async def check_revisions_and_crud(s: Storage, p: str) -> None:
    r0 = await s.current_revision()
    a = await s.create(f"{p}/a", b"1")
    assert a.mod_revision > r0 and a.create_revision == a.mod_revision
    with pytest.raises(KeyExists):
        await s.create(f"{p}/a", b"again")
    b = await s.update(f"{p}/a", b"2", expected_revision=a.mod_revision)
    assert b.mod_revision > a.mod_revision and b.create_revision == a.create_revision
    with pytest.raises(RevisionMismatch):
        await s.update(f"{p}/a", b"3", expected_revision=a.mod_revision)
    got = await s.get(f"{p}/a")
    assert got is not None and got.value == b"2" and got.mod_revision == b.mod_revision
    old = await s.get(f"{p}/a", revision=a.mod_revision)
    assert old is not None and old.value == b"1"
    with pytest.raises(KeyNotFound):
        await s.update(f"{p}/missing", b"x")
    with pytest.raises(RevisionMismatch):
        await s.delete(f"{p}/a", expected_revision=a.mod_revision)
    d = await s.delete(f"{p}/a")
    assert d.value == b"2" and d.mod_revision > b.mod_revision
    assert await s.get(f"{p}/a") is None
    with pytest.raises(KeyNotFound):
        await s.delete(f"{p}/a")
    again = await s.create(f"{p}/a", b"new")  # re-create after delete
    assert again.create_revision == again.mod_revision > d.mod_revision
    assert await s.current_revision() >= again.mod_revision


async def check_list(s: Storage, p: str) -> None:
    revs = [(await s.create(f"{p}/items/{i:02d}", str(i).encode())).mod_revision for i in range(7)]
    await s.create(f"{p}/itemsX", b"not under the prefix")
    page = await s.list(f"{p}/items/", limit=3)
    assert [kv.key for kv in page.items] == [f"{p}/items/00", f"{p}/items/01", f"{p}/items/02"]
    assert page.more and page.revision >= revs[-1]
    rest = await s.list(f"{p}/items/", revision=page.revision, start_after=page.items[-1].key)
    assert [kv.value for kv in rest.items] == [b"3", b"4", b"5", b"6"] and not rest.more
    await s.delete(f"{p}/items/03")
    await s.update(f"{p}/items/04", b"changed")
    now = await s.list(f"{p}/items/")
    assert [kv.value for kv in now.items] == [b"0", b"1", b"2", b"changed", b"5", b"6"]
    then = await s.list(f"{p}/items/", revision=revs[-1])
    assert [kv.value for kv in then.items] == [b"0", b"1", b"2", b"3", b"4", b"5", b"6"]
    early = await s.list(f"{p}/items/", revision=revs[2])
    assert len(early.items) == 3


async def _collect(it: object, n: int, timeout: float = 10) -> list[WatchEvent]:
    out: list[WatchEvent] = []

    async def run() -> None:
        async for ev in it:  # type: ignore[attr-defined]
            out.append(ev)
            if len(out) >= n:
                return

    await asyncio.wait_for(run(), timeout)
    return out


async def check_watch_history_then_live(s: Storage, p: str) -> None:
    start = await s.current_revision()
    await s.create(f"{p}/w/a", b"1")
    await s.update(f"{p}/w/a", b"2")
    watch = s.watch(f"{p}/w/", start)
    task = asyncio.create_task(_collect(watch, 5))
    await asyncio.sleep(0.05)
    await s.create(f"{p}/other", b"ignored")
    await s.create(f"{p}/w/b", b"3")
    await s.delete(f"{p}/w/a")
    await s.update(f"{p}/w/b", b"4")
    events = await task
    assert [(e.type, e.kv.key[len(p):], e.kv.value) for e in events] == [
        ("ADDED", "/w/a", b"1"), ("MODIFIED", "/w/a", b"2"), ("ADDED", "/w/b", b"3"),
        ("DELETED", "/w/a", b"2"), ("MODIFIED", "/w/b", b"4")]
    revs = [e.kv.mod_revision for e in events]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)
    assert events[1].prev is not None and events[1].prev.value == b"1"


async def check_many_watchers_no_gaps(s: Storage, p: str, watchers: int = 100, writes: int = 30) -> None:
    start = await s.current_revision()
    tasks = [asyncio.create_task(_collect(s.watch(f"{p}/many/", start), writes, 30)) for _ in range(watchers)]
    await asyncio.sleep(0.1)

    async def writer(i: int) -> int:
        return (await s.create(f"{p}/many/{i}", b"x")).mod_revision

    written = sorted(await asyncio.gather(*(writer(i) for i in range(writes))))
    results = await asyncio.gather(*tasks)
    for events in results:
        assert [e.kv.mod_revision for e in events] == written


async def check_compaction(s: Storage, p: str) -> None:
    a = await s.create(f"{p}/c/a", b"1")
    await s.update(f"{p}/c/a", b"2")
    b = await s.update(f"{p}/c/a", b"3")
    await s.compact(b.mod_revision)
    with pytest.raises(Compacted):
        await _collect(s.watch(f"{p}/c/", a.mod_revision), 1, 5)
    with pytest.raises(Compacted):
        await s.list(f"{p}/c/", revision=a.mod_revision)
    got = await s.get(f"{p}/c/a")
    assert got is not None and got.value == b"3"  # live values survive compaction
    nxt = await s.update(f"{p}/c/a", b"4")
    events = await _collect(s.watch(f"{p}/c/", b.mod_revision), 1, 5)
    assert events[0].kv.mod_revision == nxt.mod_revision


async def check_concurrent_writers(s: Storage, p: str) -> None:
    await s.create(f"{p}/counter", b"0")

    async def bump() -> None:
        while True:
            kv = await s.get(f"{p}/counter")
            assert kv is not None
            try:
                await s.update(kv.key, str(int(kv.value) + 1).encode(), expected_revision=kv.mod_revision)
                return
            except RevisionMismatch:
                continue

    await asyncio.gather(*(bump() for _ in range(20)))
    final = await s.get(f"{p}/counter")
    assert final is not None and final.value == b"20"


CONTRACT = [check_revisions_and_crud, check_list, check_watch_history_then_live, check_many_watchers_no_gaps,
            check_compaction, check_concurrent_writers]
