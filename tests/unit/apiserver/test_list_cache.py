"""Lists from the watch cache (`list_cache`) and their streamed encoding (`list_stream`).

What must hold: a list is as consistent as a read from storage (resourceVersion unset sees every
write acknowledged before it; "0", N, Exact, limit/continue and compaction as in Kubernetes), the
cache is actually what serves warm lists, and the streamed bytes are exactly what the whole-object
encoders give, written in several pieces with the event loop free between them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from podfleet.api import selectors, table
from podfleet.api.errors import BadRequest, Gone, Invalid
from podfleet.api.resources import EVENTS, NAMESPACES, NODES, PODS, PRIORITYCLASSES, RESOURCES
from podfleet.apiserver import list_stream
from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.apiserver.list_cache import FieldReader, ListPage, TooLargeResourceVersion, make_entry
from podfleet.apiserver.store import DeleteOptions, ListOptions, Store, WriteOptions, encode
from podfleet.clock import FakeClock
from podfleet.storage.interface import KeyValue, ListResult
from podfleet.storage.memory import MemoryStorage


class CountingStorage(MemoryStorage):
    """Counts list calls, to tell a list served from the cache from one read from storage."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.lists = 0

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        if prefix != PRIORITYCLASSES.storage_prefix():  # Priority admission's read on every pod create
            self.lists += 1
        return await super().list(prefix, revision=revision, limit=limit, start_after=start_after)


@pytest.fixture
async def storage() -> AsyncIterator[CountingStorage]:
    s = CountingStorage()
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def store(storage: CountingStorage) -> AsyncIterator[Store]:
    st = Store(storage, FakeClock())
    for ns in ("default", "default2"):
        await st.create(NAMESPACES, "", {"metadata": {"name": ns}}, WriteOptions())
    yield st
    await st.lists.close()


def pod(name: str, node: str = "", **labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox:1"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


async def create(store: Store, name: str, ns: str = "default", **kw: Any) -> dict[str, Any]:
    return (await store.create(PODS, ns, pod(name, **kw), WriteOptions())).object


def names(listed: dict[str, Any]) -> list[str]:
    return [i["metadata"]["name"] for i in listed["items"]]


async def test_warm_lists_come_from_the_cache_and_see_every_write_before_them(
        store: Store, storage: CountingStorage) -> None:
    await create(store, "a")
    assert names(await store.list(PODS, "default", ListOptions())) == ["a"]
    before = storage.lists
    b = await create(store, "b")
    # No turn of the event loop between the write and the list: the list must still wait for it.
    assert names(await store.list(PODS, "default", ListOptions())) == ["a", "b"]
    b["metadata"]["labels"] = {"v": "2"}
    b = (await store.update(PODS, "default", "b", b, WriteOptions())).object
    listed = await store.list(PODS, "default", ListOptions())
    assert listed["items"][1] == b
    assert int(listed["metadata"]["resourceVersion"]) >= int(b["metadata"]["resourceVersion"])
    await store.delete(PODS, "default", "a", DeleteOptions())
    assert names(await store.list(PODS, "default", ListOptions())) == ["b"]
    assert storage.lists == before  # all of these from the cache


async def test_list_items_are_the_callers_own(store: Store) -> None:
    await create(store, "a")
    listed = await store.list(PODS, "default", ListOptions())
    listed["items"][0]["metadata"]["name"] = "changed"
    assert names(await store.list(PODS, "default", ListOptions())) == ["a"]


async def test_namespaces_and_selectors_match_a_read_from_storage(store: Store) -> None:
    for i in range(6):
        await create(store, f"p{i}", "default" if i % 2 else "default2", node=f"n{i % 3}",
                     tier="web" if i < 3 else "db")
    rv = (await store.list(PODS, "", ListOptions()))["metadata"]["resourceVersion"]
    cases = [("", "", ""), ("default", "", ""), ("default2", "", ""), ("", "tier=web", ""),
             ("", "tier in (db),tier!=web", "spec.nodeName!=n1"), ("default", "", "spec.nodeName=n0"),
             ("", "", "metadata.namespace=default2,status.phase=Pending"), ("", "!tier", "")]
    for ns, labels, fields in cases:
        cached = await store.list(PODS, ns, ListOptions(label_selector=labels, field_selector=fields))
        exact = await store.list(PODS, ns, ListOptions(label_selector=labels, field_selector=fields,
                                                       resource_version=rv, resource_version_match="Exact"))
        assert cached == exact, (ns, labels, fields)
    assert names(await store.list(PODS, "default", ListOptions())) == ["p1", "p3", "p5"]
    # In key order, as storage lists: namespace first.
    assert names(await store.list(PODS, "", ListOptions(field_selector="spec.nodeName=n0"))) == ["p3", "p0"]
    assert names(await store.list(NODES, "", ListOptions())) == []


async def test_resource_version_0_n_and_exact(store: Store, storage: CountingStorage) -> None:
    first = await create(store, "a")
    rv_a = first["metadata"]["resourceVersion"]
    await create(store, "b")
    assert names(await store.list(PODS, "default", ListOptions(resource_version="0"))) == ["a", "b"]
    assert names(await store.list(PODS, "default", ListOptions(resource_version=rv_a))) == ["a", "b"]
    before = storage.lists
    exact = await store.list(PODS, "default", ListOptions(resource_version=rv_a, resource_version_match="Exact"))
    assert names(exact) == ["a"] and exact["metadata"]["resourceVersion"] == rv_a
    # A limit with an explicit resourceVersion is an exact read too (Kubernetes' legacy rule).
    assert names(await store.list(PODS, "default", ListOptions(resource_version=rv_a, limit=5))) == ["a"]
    assert storage.lists > before
    await storage.compact(await storage.current_revision())
    with pytest.raises(Gone, match="too old"):
        await store.list(PODS, "default", ListOptions(resource_version=rv_a, resource_version_match="Exact"))


async def test_a_resource_version_from_the_future_is_a_504(store: Store, storage: CountingStorage) -> None:
    store.lists.fresh_timeout = 0.05
    future = str(await storage.current_revision() + 10)
    with pytest.raises(TooLargeResourceVersion, match=f"Too large resource version: {future}"):
        await store.list(PODS, "default", ListOptions(resource_version=future))
    with pytest.raises(TooLargeResourceVersion):
        await store.list(PODS, "default", ListOptions(resource_version=future, resource_version_match="Exact"))


async def test_a_resource_version_no_int64_revision_can_reach_is_a_504_at_once(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # resourceVersion parses as a uint64, as in Kubernetes, but revisions are int64: waiting for one
    # past 2**63 - 1 could never end well, so the answer comes without waiting for the cache.
    async def no_waiting(revision: int) -> bool:
        raise AssertionError(f"waited for revision {revision}")

    monkeypatch.setattr(store.lists, "_fresh", no_waiting)
    for rv in (str(2**63), str(2**64 - 1)):
        with pytest.raises(TooLargeResourceVersion) as info:
            await store.list(PODS, "default", ListOptions(resource_version=rv))
        status = info.value.to_status()
        assert status["code"] == 504 and status["reason"] == "Timeout"
        assert status["message"] == f"Timeout: Too large resource version: {rv}, current: {store.lists.revision}"
        assert status["details"]["causes"] == [{"reason": "ResourceVersionTooLarge",
                                                "message": "Too large resource version", "field": ""}]
        assert status["details"]["retryAfterSeconds"] == 1


def _token(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


@pytest.mark.parametrize(("token", "reason"), [
    (_token('{"v":"meta.k8s.io/v1","rv":1e400,"start":"x"}'), "cannot unmarshal number 1e400"),
    (_token('{"v":"meta.k8s.io/v1","rv":Infinity,"start":"x"}'), "invalid character 'I'"),
    (_token('{"v":"meta.k8s.io/v1","rv":NaN,"start":"x"}'), "invalid character 'N'"),
    (_token('{"v":"meta.k8s.io/v1","rv":' + "9" * 5000 + ',"start":"x"}'), "cannot unmarshal number 99999"),
    (_token(f'{{"v":"meta.k8s.io/v1","rv":{2**63},"start":"x"}}'), "incorrect encoded start resourceVersion"),
    (_token('{"v":"meta.k8s.io/v1","rv":-1,"start":"x"}'), "incorrect encoded start resourceVersion"),
    (_token('{"v":"meta.k8s.io/v1","rv":1.5,"start":"x"}'), "incorrect encoded start resourceVersion"),
    (_token('{"v":"meta.k8s.io/v1","rv":true,"start":"x"}'), "incorrect encoded start resourceVersion"),
    (_token('{"v":"meta.k8s.io/v1","rv":"1","start":"x"}'), "incorrect encoded start resourceVersion"),
    (_token('{"v":"meta.k8s.io/v1","rv":1,"start":null}'), "encoded start key empty"),
    (_token('{"v":"meta.k8s.io/v1","rv":1,"start":{"a":1}}'), "encoded start key empty"),
    (_token('{"rv":1,"start":"x"}'), "server does not recognize this encoded version"),
    (_token("null"), "server does not recognize this encoded version"),
    (_token("[]"), "cannot unmarshal array into Go value of type continueToken"),
    (_token("{"), "unexpected end of JSON input"),
    ("!!!\u00e9", "illegal base64 data"),
    ("\ud800", "illegal base64 data"),
])
async def test_continue_tokens_are_checked_as_kubernetes_checks_them(store: Store, token: str, reason: str) -> None:
    await create(store, "a")
    with pytest.raises(BadRequest) as info:
        await store.list(PODS, "default", ListOptions(limit=1, continue_token=token))
    assert info.value.message.startswith("continue key is not valid: ") and reason in info.value.message
    assert "Error" not in info.value.message and "Expecting" not in info.value.message


@pytest.mark.parametrize("opts, error, text", [
    (ListOptions(resource_version="abc"), BadRequest,
     'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax'),
    (ListOptions(resource_version="-1"), BadRequest, 'Invalid value: "-1"'),
    (ListOptions(resource_version_match="Exact"), Invalid,
     "resourceVersionMatch is forbidden unless resourceVersion is provided"),
    (ListOptions(resource_version="0", resource_version_match="Exact"), Invalid,
     'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    (ListOptions(resource_version="1", resource_version_match="Newest"), Invalid, "Unsupported value"),
    (ListOptions(resource_version="5", continue_token="eyJydiI6IDF9"), BadRequest,
     "specifying resource version is not allowed when using continue"),
    (ListOptions(continue_token="%%%"), BadRequest, "continue key is not valid"),
])
async def test_bad_list_options(store: Store, opts: ListOptions, error: type[Exception], text: str) -> None:
    with pytest.raises(error) as info:
        await store.list(PODS, "default", opts)
    assert text in str(info.value) and "Traceback" not in str(info.value)


async def test_pages_after_a_cached_first_page_are_consistent_with_it(
        store: Store, storage: CountingStorage) -> None:
    for i in range(5):
        await create(store, f"p{i}", tier="web" if i % 2 == 0 else "db")
    first = await store.list(PODS, "default", ListOptions(limit=2))
    assert names(first) == ["p0", "p1"]
    await create(store, "p1a")  # after the first page: must not show up in the later ones
    await store.delete(PODS, "default", "p3", DeleteOptions())
    seen, token = names(first), first["metadata"]["continue"]
    while token:
        page = await store.list(PODS, "default", ListOptions(limit=2, continue_token=token))
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        seen += names(page)
        token = page["metadata"].get("continue", "")
    assert seen == ["p0", "p1", "p2", "p3", "p4"]
    selected = await store.list(PODS, "default", ListOptions(limit=2, label_selector="tier=web"))
    assert names(selected) == ["p0", "p2"] and selected["metadata"]["continue"]
    everything = await store.list(PODS, "default", ListOptions(limit=100))
    assert "continue" not in everything["metadata"]
    await storage.compact(await storage.current_revision())
    with pytest.raises(Gone, match="continue parameter is too old"):
        await store.list(PODS, "default", ListOptions(limit=2, continue_token=first["metadata"]["continue"]))


async def test_a_watch_that_falls_behind_is_replaced_and_lists_stay_right(caplog: pytest.LogCaptureFixture) -> None:
    storage = CountingStorage(max_backlog=2)
    await storage.start()
    try:
        store = Store(storage, FakeClock())
        await store.create(NAMESPACES, "", {"metadata": {"name": "default"}}, WriteOptions())
        await create(store, "a")
        assert names(await store.list(PODS, "default", ListOptions())) == ["a"]
        for i in range(5):  # inline writes, no loop turn in between: the cache's watch overflows
            await create(store, f"b{i}")
        listed = await store.list(PODS, "default", ListOptions())
        assert names(listed) == ["a", "b0", "b1", "b2", "b3", "b4"]
        assert "list cache watch ended" in caplog.text
        await create(store, "c")
        assert names(await store.list(PODS, "default", ListOptions()))[-1] == "c"
        await store.lists.close()
    finally:
        await storage.close()


async def test_lists_read_storage_once_it_is_closed(store: Store, storage: CountingStorage) -> None:
    await create(store, "a")
    await store.list(PODS, "default", ListOptions())
    await storage.close()
    with pytest.raises(Exception, match="storage"):
        await store.list(PODS, "default", ListOptions())


@pytest.mark.parametrize("obj", [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": {"x": "y"}},
     "spec": {"nodeName": "n1", "hostNetwork": True}, "status": {"phase": "Running", "podIP": "10.0.0.1"}},
    {"metadata": {"name": "first"}, "spec": {"template": {"metadata": {"name": "first"}}}, "kind": "Pod"},
    {"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}, "apiVersion": "apps/v1", "metadata": {}},
    {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "é\u2028\"q"}, "source": {"component": "kubelet"},
     "involvedObject": {"kind": "Pod", "name": "a"}, "type": "Normal", "reason": 5},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": "not an object",
     "status": {"phase": None}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stale", "resourceVersion": "1"}},
])
def test_entries_are_the_object_with_its_resource_version(obj: dict[str, Any]) -> None:
    raw = json.dumps(obj, separators=(",", ":")).encode()  # as stored (the store's `encode` minus its copy)
    for rt in RESOURCES:
        entry = make_entry(FieldReader(rt), KeyValue("/registry/x/a", raw, 3, 7))
        expected = json.loads(raw)
        expected["metadata"]["resourceVersion"] = "7"
        assert json.loads(entry.data) == expected
        assert entry.fields == tuple(selectors.field_value(obj, f) for f in selectors.supported_field_labels(rt))
        assert entry.labels == (obj["metadata"].get("labels") or {})
    stored = encode({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "resourceVersion": "9"}})
    entry = make_entry(FieldReader(EVENTS), KeyValue("/registry/events/ns/e", stored, 3, 11))
    assert json.loads(entry.data)["metadata"] == {"name": "e", "resourceVersion": "11"}


# ---------------------------------------------------------------------------- the streamed encoding

async def _join(chunks: AsyncIterator[bytes]) -> tuple[bytes, int]:
    parts = [c async for c in chunks]
    return b"".join(parts), len(parts)


@pytest.fixture
async def pages(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[ListPage]:
    monkeypatch.setattr(list_stream, "JOIN_BATCH", 3)
    monkeypatch.setattr(list_stream, "ENCODE_BATCH", 2)
    for i in range(7):
        body = pod(f"p{i}", node="n1", app=f"a{i}")
        body["metadata"]["annotations"] = {"note": " ".join(["a long note that YAML folds"] * 8)}
        await store.create(PODS, "default", body, WriteOptions())
    rv = (await store.list(PODS, "", ListOptions()))["metadata"]["resourceVersion"]
    cached = await store.lists.page(PODS, "default", ListOptions())
    stored = await store.lists.page(PODS, "default", ListOptions(resource_version=rv, resource_version_match="Exact"))
    paged = await store.lists.page(PODS, "default", ListOptions(limit=4))
    empty = await store.lists.page(PODS, "default2", ListOptions())
    return [cached, stored, paged, empty]


async def test_json_stream_is_the_compact_json_of_the_list(pages: list[ListPage]) -> None:
    for page in pages:
        data, parts = await _join(list_stream.json_chunks(page))
        assert data == json.dumps(page.to_dict(), separators=(",", ":")).encode() + b"\n"  # as Go's encoder
        assert parts > 2 or not page.items
    assert json.loads((await _join(list_stream.json_chunks(pages[2])))[0])["metadata"]["continue"]


async def test_yaml_stream_is_the_yaml_of_the_list(pages: list[ListPage]) -> None:
    for page in pages:
        data, _ = await _join(list_stream.yaml_chunks(page))
        assert data.decode() == yaml.safe_dump(page.to_dict(), sort_keys=False)


async def test_table_stream_is_the_table_of_the_list(pages: list[ListPage]) -> None:
    now = FakeClock().now()
    for include in ("Metadata", "Object", "None"):
        for page in pages:
            data, _ = await _join(list_stream.table_chunks(page, include, now))
            whole = table.to_table(PODS, page.to_dict()["items"], include_object=include, now=now)
            whole["metadata"] = page.metadata()
            assert json.loads(data) == whole


# ---------------------------------------------------------------------------- over HTTP

@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[APIServer, aiohttp.ClientSession]]:
    srv = APIServer(ServerConfig(data_dir=tmp_path, bind_address="127.0.0.1", port=0, compact_interval=0,
                                 disable_admission_plugins=("ServiceAccount",)),  # no controllers here
                    storage=MemoryStorage())
    await srv.start()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx),
                                    headers={"Authorization": f"Bearer {srv.tokens.admin}"})
    yield srv, session
    await session.close()
    await srv.stop()


async def test_http_list_is_streamed_with_the_loop_free_between_pieces(
        server: tuple[APIServer, aiohttp.ClientSession], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, session = server
    monkeypatch.setattr(list_stream, "JOIN_BATCH", 4)
    for i in range(40):
        await create(srv.store, f"p{i:02}")
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    url = srv.url + "/api/v1/namespaces/default/pods"
    async with session.get(url) as resp:  # warm the cache: the next one is served from it
        assert resp.status == 200
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = ticks
    async with session.get(url) as resp:
        body = await resp.read()
    done.set()
    await task
    assert resp.status == 200 and resp.content_type == "application/json"
    listed = json.loads(body)
    assert [i["metadata"]["name"] for i in listed["items"]] == [f"p{i:02}" for i in range(40)]
    assert ticks - start >= 10  # 10 pieces of 4 items: the loop ran other tasks between them


async def test_http_list_errors_and_other_formats(server: tuple[APIServer, aiohttp.ClientSession]) -> None:
    srv, session = server
    await create(srv.store, "a")
    url = srv.url + "/api/v1/namespaces/default/pods"
    async with session.get(url, params={"resourceVersion": "abc"}) as resp:
        status = await resp.json()
    assert resp.status == 400 and status["reason"] == "BadRequest"
    assert 'Invalid value: "abc": strconv.ParseUint' in status["message"]
    async with session.get(url, params={"resourceVersionMatch": "Exact"}) as resp:
        assert resp.status == 422
    async with session.get(url, headers={"Accept": "application/yaml"}) as resp:
        assert resp.content_type == "application/yaml"
        assert [i["metadata"]["name"] for i in yaml.safe_load(await resp.read())["items"]] == ["a"]
    async with session.get(url, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}) as resp:
        tbl = await resp.json()
    assert tbl["kind"] == "Table" and [r["cells"][0] for r in tbl["rows"]] == ["a"]
    assert tbl["metadata"]["resourceVersion"]
