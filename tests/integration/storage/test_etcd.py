"""EtcdStorage against a real etcd that the tests disturb: compaction under an open watch, two
clients (two API servers' worth) watching each other's writes, and etcd restarted or killed with
`kill -9` under a write load — every acknowledged write is there afterwards and watches resume
without a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from podfleet.storage.etcd import EtcdStorage
from podfleet.storage.interface import Compacted, KeyValue, StorageUnavailable, WatchEvent
from storage_helpers import EtcdProcess, etcd_available, running_etcd

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not etcd_available(), reason="etcd is not installed (Debian's etcd-server)")]


@pytest.fixture
def etcd() -> Iterator[EtcdProcess]:
    with running_etcd() as member:
        yield member


@pytest.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[EtcdStorage]:
    s = EtcdStorage.from_url(etcd.url)
    await s.start()
    yield s
    await s.close()


async def test_a_watch_that_falls_behind_a_compaction_gets_compacted(store: EtcdStorage, etcd: EtcdProcess) -> None:
    """A watch reopened (here: after etcd restarted) at a revision compacted meanwhile raises
    `Compacted` — the API's 410 Gone — rather than resuming with a hole."""
    start = await store.current_revision()
    watch = store.watch("/c/", start)
    first = await store.create("/c/a", b"1")
    assert (await asyncio.wait_for(anext(watch), 10)).kv == first
    etcd.stop()
    etcd.start()
    other = EtcdStorage.from_url(etcd.url)
    await other.start()
    try:
        await other.update("/c/a", b"2")
        last = await other.update("/c/a", b"3")
        await other.compact(last.mod_revision)
    finally:
        await other.close()
    with pytest.raises(Compacted) as caught:
        await asyncio.wait_for(anext(watch), 30)
    assert caught.value.compacted == last.mod_revision


async def test_two_clients_see_each_others_writes_in_order_without_gaps(store: EtcdStorage,
                                                                        etcd: EtcdProcess) -> None:
    """The basis of several API servers on one etcd: each one's watch is fed by etcd, so a watch
    through either client sees every write made through both, in revision order."""
    other = EtcdStorage.from_url(etcd.url)
    await other.start()
    start = await store.current_revision()
    per_client = 200
    total = 2 * (per_client + 2 * len(range(0, per_client, 3)))  # creates, and an update and delete every third
    received: dict[str, list[WatchEvent]] = {"a": [], "b": []}

    async def watch(name: str, s: EtcdStorage) -> None:
        async for ev in s.watch("/two/", start):
            received[name].append(ev)
            if len(received[name]) == total:
                return

    async def write(name: str, s: EtcdStorage) -> list[int]:
        revs = []
        for i in range(per_client):
            kv = await s.create(f"/two/{name}{i:03d}", name.encode())
            revs.append(kv.mod_revision)
            if i % 3 == 0:
                revs.append((await s.update(kv.key, b"again", expected_revision=kv.mod_revision)).mod_revision)
                revs.append((await s.delete(kv.key)).mod_revision)
        return revs

    try:
        watchers = [asyncio.create_task(watch("a", store)), asyncio.create_task(watch("b", other))]
        written = await asyncio.gather(write("a", store), write("b", other))
        acknowledged = sorted(written[0] + written[1])
        assert len(acknowledged) == total
        await asyncio.wait_for(asyncio.gather(*watchers), 30)
        for events in received.values():
            assert [e.kv.mod_revision for e in events] == acknowledged
        assert [(e.type, e.kv.key, e.kv.value) for e in received["a"]] == \
               [(e.type, e.kv.key, e.kv.value) for e in received["b"]]
    finally:
        await other.close()


@pytest.mark.parametrize("how", ["restart", "kill -9"])
async def test_acknowledged_writes_survive_etcd_going_down_under_load(store: EtcdStorage, etcd: EtcdProcess,
                                                                      how: str) -> None:
    start = await store.current_revision()
    acked: list[KeyValue] = []
    refused = 0
    stop = asyncio.Event()
    progress = asyncio.Event()  # set at every write, refusal and event: `until` re-checks then
    seen: list[WatchEvent] = []

    async def writer(n: int) -> None:
        nonlocal refused
        i = 0
        while not stop.is_set():
            i += 1  # a new key each try: a refused write may still have been applied
            try:
                acked.append(await store.create(f"/load/w{n}-{i:05d}", b"x" * 100))
                progress.set()
            except StorageUnavailable:
                refused += 1
                progress.set()
                await asyncio.sleep(0.02)  # load generator backing off, not a test wait

    async def watcher() -> None:
        async for ev in store.watch("/load/", start):
            seen.append(ev)
            progress.set()

    async def until(condition: Callable[[], bool], timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                progress.clear()
                await progress.wait()

    writers = [asyncio.create_task(writer(n)) for n in range(8)]
    watching = asyncio.create_task(watcher())
    try:
        await until(lambda: len(acked) >= 300)
        if how == "restart":
            etcd.stop()
        else:
            etcd.kill()
        down_at = len(acked)
        await until(lambda: refused > 0)  # the writers noticed
        etcd.start()
        await until(lambda: len(acked) >= down_at + 300)  # reconnected and writing again
        stop.set()
        await asyncio.gather(*writers)
        last = max(kv.mod_revision for kv in acked)
        await until(lambda: bool(seen) and seen[-1].kv.mod_revision >= last)
    finally:
        stop.set()
        watching.cancel()
        for t in writers:
            t.cancel()
        await asyncio.gather(*writers, watching, return_exceptions=True)
    for kv in acked:
        assert await store.get(kv.key) == kv, kv.key
    # The watch reopened after the outage where it had left off: every acknowledged write once, in order.
    revs = [e.kv.mod_revision for e in seen]
    assert revs == sorted(set(revs))
    assert {kv.mod_revision for kv in acked} <= set(revs)
    listed = await store.list("/load/")
    assert {kv.key for kv in acked} <= {kv.key for kv in listed.items}
