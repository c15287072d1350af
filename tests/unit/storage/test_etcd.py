"""EtcdStorage beyond the shared contract: URLs, start and close, endpoints, large lists off the
event loop, and kube-apiserver-style compaction shared by several servers."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from podfleet.storage import etcd as etcd_mod
from podfleet.storage.etcd import EtcdStorage, EtcdTLS, parse_etcd_url, prefix_end
from podfleet.storage.interface import Compacted, StorageUnavailable, WatchEvent
from storage_helpers import EtcdProcess, free_port


@pytest.fixture
async def store(etcd_member: EtcdProcess) -> AsyncIterator[EtcdStorage]:
    s = EtcdStorage.from_url(etcd_member.url)
    await s.start()
    yield s
    await s.close()


@pytest.fixture
def p() -> str:
    return f"/u-{uuid.uuid4().hex[:8]}"


def test_urls() -> None:
    assert parse_etcd_url("etcd://127.0.0.1:2379") == (["127.0.0.1:2379"], None)
    assert parse_etcd_url("etcd://a,b:2380,[::1]") == (["a:2379", "b:2380", "[::1]:2379"], None)
    assert parse_etcd_url("etcds://e1:2379,e2:2379?cafile=/ca&certfile=/c&keyfile=/k") == (
        ["e1:2379", "e2:2379"], EtcdTLS("/ca", "/c", "/k"))
    assert parse_etcd_url("etcds://e1") == (["e1:2379"], EtcdTLS())
    for bad in ("etcd://", "etcd://a:0", "etcd://a:b", "etcd://u@a", "etcds://a?keyfile=/k", "etcd://[::1"):
        with pytest.raises(ValueError):
            parse_etcd_url(bad)


def test_prefix_end() -> None:
    assert prefix_end(b"/a/") == b"/a0"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"") == b"\0" and prefix_end(b"\xff") == b"\0"


async def test_start_fails_fast_without_etcd_and_calls_after_close_fail() -> None:
    s = EtcdStorage([f"127.0.0.1:{free_port()}"], dial_timeout=0.5)
    with pytest.raises(StorageUnavailable, match="unreachable"):
        await s.start()
    with pytest.raises(StorageUnavailable):
        await s.get("/x")


async def test_a_dead_endpoint_is_skipped(etcd_member: EtcdProcess, p: str) -> None:
    s = EtcdStorage([f"127.0.0.1:{free_port()}", etcd_member.endpoint], dial_timeout=10)
    await s.start()
    try:
        kv = await s.create(f"{p}/a", b"1")
        got = await s.get(f"{p}/a")
        assert got == kv
    finally:
        await s.close()


async def test_tls_without_a_client_certificate_is_refused(etcd_tls_member: EtcdProcess) -> None:
    assert etcd_tls_member.certs is not None
    s = EtcdStorage([etcd_tls_member.endpoint], tls=EtcdTLS(cafile=str(etcd_tls_member.certs.ca)),
                    dial_timeout=1)
    with pytest.raises(StorageUnavailable):
        await s.start()


async def test_close_ends_open_watches(etcd_member: EtcdProcess, p: str) -> None:
    s = EtcdStorage.from_url(etcd_member.url)
    await s.start()
    rev = await s.current_revision()
    events: list[WatchEvent] = []
    delivering = asyncio.Event()

    async def consume() -> None:
        async for ev in s.watch(f"{p}/", rev):
            events.append(ev)
            delivering.set()

    task = asyncio.create_task(consume())
    await s.create(f"{p}/a", b"1")
    await asyncio.wait_for(delivering.wait(), 10)  # the watch is open
    await s.close()
    await asyncio.wait_for(task, 10)  # ended, without an error
    assert [e.kv.key for e in events] == [f"{p}/a"]


async def test_watch_of_the_whole_keyspace_and_delete_events(store: EtcdStorage, p: str) -> None:
    rev = await store.current_revision()
    it = store.watch("", rev)
    a = await store.create(f"{p}/a", b"1")
    d = await store.delete(f"{p}/a")
    got = [await asyncio.wait_for(anext(it), 10) for _ in range(2)]
    await it.aclose()  # type: ignore[attr-defined]
    assert [(e.type, e.kv.key) for e in got] == [("ADDED", f"{p}/a"), ("DELETED", f"{p}/a")]
    deleted = got[1].kv
    assert (deleted.value, deleted.create_revision, deleted.mod_revision) == (b"1", a.create_revision, d.mod_revision)
    assert got[1].prev is not None and got[1].prev.mod_revision == a.mod_revision


async def test_a_large_list_is_read_in_consistent_chunks_decoded_off_the_event_loop(
        store: EtcdStorage, p: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await asyncio.gather(*(store.create(f"{p}/big/{i:04d}", b"x" * 1024) for i in range(400)))
    monkeypatch.setattr(etcd_mod, "LIST_CHUNK", 150)
    monkeypatch.setattr(etcd_mod, "OFF_LOOP_BYTES", 100_000)  # 150 KiB chunks: off the loop; 2 keys: not
    threads: list[int] = []
    real_decode, real_range = etcd_mod._decode_range, EtcdStorage._range_raw
    ranges = 0

    def recording(data: bytes) -> Any:
        threads.append(threading.get_ident())
        return real_decode(data)

    async def write_between_ranges(self: EtcdStorage, req: Any, conn: Any) -> bytes:
        nonlocal ranges
        ranges += 1
        data = await real_range(self, req, conn)
        if ranges == 1:  # lands in the second chunk's key range, after the list's revision
            await store.create(f"{p}/big/0200x", b"late")
        return data

    monkeypatch.setattr(etcd_mod, "_decode_range", recording)
    monkeypatch.setattr(EtcdStorage, "_range_raw", write_between_ranges)
    res = await store.list(f"{p}/big/")
    assert ranges == 3 and [kv.key for kv in res.items] == [f"{p}/big/{i:04d}" for i in range(400)]
    assert all(kv.mod_revision <= res.revision for kv in res.items) and not res.more
    assert all(t != threading.get_ident() for t in threads)
    small = await store.list(f"{p}/big/", limit=2)
    assert len(small.items) == 2 and small.more and threads[-1] == threading.get_ident()
    page = await store.list(f"{p}/big/", revision=res.revision, start_after=small.items[-1].key, limit=320)
    assert len(page.items) == 320 and page.more and page.items[0].key == f"{p}/big/0002"
    rest = await store.list(f"{p}/big/", revision=res.revision, start_after=page.items[-1].key)
    assert len(rest.items) == 78 and not rest.more
    assert len((await store.list(f"{p}/big/")).items) == 401  # now, with the late key


async def test_a_compaction_in_the_middle_of_a_list(store: EtcdStorage, p: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A list of "now" starts over at a newer revision; one at a given revision is Gone."""
    await asyncio.gather(*(store.create(f"{p}/k/{i:03d}", b"v") for i in range(30)))
    monkeypatch.setattr(etcd_mod, "LIST_CHUNK", 10)
    real_range = EtcdStorage._range_raw
    ranges, lists = 0, 0

    async def compact_after_the_first(self: EtcdStorage, req: Any, conn: Any) -> bytes:
        nonlocal ranges, lists
        ranges += 1
        data = await real_range(self, req, conn)
        if ranges == 1:
            lists += 1
            kv = await store.create(f"{p}/k/late{lists}", b"v")
            await store.compact(kv.mod_revision)
        return data

    monkeypatch.setattr(EtcdStorage, "_range_raw", compact_after_the_first)
    before = await store.current_revision()
    res = await store.list(f"{p}/k/")
    assert len(res.items) == 31 and res.revision > before
    ranges = 0
    with pytest.raises(Compacted):
        await store.list(f"{p}/k/", revision=await store.current_revision())


async def test_get_at_a_compacted_revision(store: EtcdStorage, p: str) -> None:
    a = await store.create(f"{p}/a", b"1")
    b = await store.update(f"{p}/a", b"2")
    await store.compact(b.mod_revision)
    with pytest.raises(Compacted):
        await store.get(f"{p}/a", revision=a.mod_revision)
    assert store.compacted_revision >= b.mod_revision
    await store.compact(a.mod_revision)  # older than what is compacted already: nothing to do


async def test_one_compaction_per_round_however_many_servers(etcd_member: EtcdProcess, p: str) -> None:
    """kube-apiserver's scheme: each server's round is a transaction on a shared key expecting the
    version it last saw; only the winner compacts (to the revision it saw the round before)."""
    servers = [EtcdStorage.from_url(etcd_member.url) for _ in range(3)]
    for s in servers:
        await s.start()
    try:
        old = await servers[0].create(f"{p}/a", b"1")
        await servers[0].update(f"{p}/a", b"2")
        state = [(0, 0)] * 3
        seen: list[int] = []
        for round_ in range(3):
            before = await servers[0].current_revision()
            state = [await s._compact_round(*st) for s, st in zip(servers, state, strict=True)]
            writes = await servers[0].current_revision() - before  # each win is one put of the shared key
            # The first round, the key's version may be unknown to every server (an older test wrote it).
            assert writes == 1 or (round_ == 0 and writes == 0)
            seen.append(before + writes)
        compacted = [s.compacted_revision for s in servers if s.compacted_revision]
        # Compacted once a round from the second on, each time to a revision seen a round earlier.
        assert len(compacted) == 1 and old.mod_revision < compacted[0] <= seen[1]
        with pytest.raises(Compacted):
            await servers[1].list(f"{p}/", revision=old.mod_revision)
    finally:
        for s in servers:
            await s.close()


async def test_run_compactor_compacts_periodically(store: EtcdStorage, p: str) -> None:
    first = await store.create(f"{p}/a", b"1")
    await store.update(f"{p}/a", b"2")
    task = asyncio.create_task(store.run_compactor(0.05))
    try:
        async with asyncio.timeout(20):
            while store.compacted_revision <= first.mod_revision:  # two rounds: record, then compact
                await asyncio.sleep(0.02)
                await store.update(f"{p}/a", b"more")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    with pytest.raises(Compacted):
        await anext(store.watch(f"{p}/", first.mod_revision - 1))
