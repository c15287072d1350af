"""REST paths and query parameters to request attributes and options (including pods/log)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podfleet.agent.server import AgentServer, limit_bytes
from podfleet.agent.server import _opts as agent_opts
from podfleet.api.errors import BadRequest, Invalid, NotFound, ServiceUnavailable
from podfleet.api.params import (
    format_rfc3339,
    optional_bool,
    optional_int,
    optional_time,
    parse_rfc3339,
    resource_version,
)
from podfleet.api.resources import DEPLOYMENTS, NAMESPACES, NODES, PODS
from podfleet.apiserver.kubeletproxy import CONNECT_TIMEOUT, KubeletClient
from podfleet.apiserver.nodelogs import LogOptions
from podfleet.apiserver.pods import _log_options
from podfleet.apiserver.routing import parse_resource_path, selector_name, watch_requested
from podfleet.pki import ensure_pki
from podfleet.runtime.logs import log_since, read_log


@pytest.mark.parametrize(("parts", "method", "watch", "expect"), [
    (["", "v1", "pods"], "GET", False, (PODS, "", "", "", "list")),
    (["", "v1", "pods"], "GET", True, (PODS, "", "", "", "watch")),
    (["", "v1", "namespaces", "d", "pods"], "POST", False, (PODS, "d", "", "", "create")),
    (["", "v1", "namespaces", "d", "pods", "p"], "DELETE", False, (PODS, "d", "p", "", "delete")),
    (["", "v1", "namespaces", "d", "pods"], "DELETE", False, (PODS, "d", "", "", "deletecollection")),
    (["", "v1", "namespaces", "d", "pods", "p", "status"], "PATCH", False, (PODS, "d", "p", "status", "patch")),
    (["", "v1", "namespaces", "d", "pods", "p", "log"], "GET", False, (PODS, "d", "p", "log", "get")),
    (["", "v1", "namespaces"], "GET", False, (NAMESPACES, "", "", "", "list")),
    (["", "v1", "namespaces", "d"], "GET", False, (NAMESPACES, "", "d", "", "get")),
    (["", "v1", "namespaces", "d", "status"], "PUT", False, (NAMESPACES, "", "d", "status", "update")),
    (["", "v1", "nodes", "n1"], "PUT", False, (NODES, "", "n1", "", "update")),
    (["apps", "v1", "namespaces", "d", "deployments", "w", "scale"], "PATCH", False,
     (DEPLOYMENTS, "d", "w", "scale", "patch")),
])
def test_paths(parts: list[str], method: str, watch: bool, expect: tuple) -> None:  # type: ignore[type-arg]
    info = parse_resource_path(parts, method, watch)
    assert (info.resource, info.namespace, info.name, info.subresource, info.verb) == expect


@pytest.mark.parametrize("parts", [
    ["", "v1", "widgets"],
    ["", "v1", "namespaces", "d", "widgets"],
    ["", "v1", "pods", "p"],  # namespaced object without namespace
    ["", "v1", "namespaces", "d", "pods", "p", "bogus"],
    ["apps", "v1", "pods"],
    ["", "v1"],
])
def test_unknown_paths_are_404(parts: list[str]) -> None:
    with pytest.raises(NotFound):
        parse_resource_path(parts, "GET", False)


# ------------------------------------------------------------------------ query parameters

@pytest.mark.parametrize(("value", "expect"), [
    ("5", 5), ("-3", -3), ("+7", 7), ("007", 7),
    ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)),
])
def test_int64_parameters(value: str, expect: int) -> None:
    assert optional_int({"limit": value}, "limit") == expect


@pytest.mark.parametrize(("value", "reason"), [
    ("9223372036854775808", "value out of range"),  # one past int64: a 500 further down before
    ("1" * 5000, "value out of range"),             # refused by length, never converted
    ("abc", "invalid syntax"), ("1_000", "invalid syntax"), (" 5", "invalid syntax"), ("٣", "invalid syntax"),
    ("1.5", "invalid syntax"),
])
def test_int64_parameters_refused_as_go_does(value: str, reason: str) -> None:
    with pytest.raises(BadRequest) as exc:
        optional_int({"limit": value}, "limit")
    assert exc.value.message.startswith("invalid value for limit: strconv.ParseInt: parsing ")
    assert exc.value.message.endswith(reason) and "int()" not in exc.value.message


def test_bool_parameters() -> None:
    assert optional_bool({"follow": "true"}, "follow") is True
    assert optional_bool({"follow": "F"}, "follow") is False
    assert optional_bool({}, "follow") is None
    with pytest.raises(BadRequest, match=r"strconv\.ParseBool"):
        optional_bool({"follow": "yes"}, "follow")


def test_list_resource_version_must_be_uint64() -> None:
    assert resource_version({}) == "" and resource_version({"resourceVersion": "0"}) == "0"
    assert resource_version({"resourceVersion": "123"}) == "123"
    for bad_rv, why in (("abc", "invalid syntax"), ("-1", "invalid syntax"), ("1" * 30, "value out of range")):
        with pytest.raises(BadRequest) as exc:
            resource_version({"resourceVersion": bad_rv})
        assert exc.value.message == (f'invalid resource version: resourceVersion: Invalid value: "{bad_rv}": '
                                     f'strconv.ParseUint: parsing "{bad_rv}": {why}')


def test_rfc3339_times() -> None:
    assert optional_time({"sinceTime": "2026-01-02T03:04:05Z"}, "sinceTime") == dt.datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert optional_time({"sinceTime": "2026-01-02T05:04:05.25+02:00"}, "sinceTime") == dt.datetime(
        2026, 1, 2, 3, 4, 5, 250000, tzinfo=dt.UTC)
    for bad_time in ("yesterday", "2026-01-02", "2026-13-02T03:04:05Z", "2026-01-02T03:04:05"):
        with pytest.raises(BadRequest, match="invalid value for sinceTime: parsing time"):
            optional_time({"sinceTime": bad_time}, "sinceTime")
    t = dt.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert format_rfc3339(t) == "2026-01-02T02:04:05.12Z" and parse_rfc3339(format_rfc3339(t)) == t


# ------------------------------------------------------------------------------ pods/log options

def test_log_options_are_all_parsed() -> None:
    opts = _log_options({"container": "c", "follow": "true", "previous": "1", "timestamps": "true",
                         "tailLines": "10", "sinceTime": "2026-01-02T03:04:05Z", "limitBytes": "100"}, "p")
    assert opts == LogOptions(container="c", follow=True, previous=True, tail_lines=10, timestamps=True,
                              since_time=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), limit_bytes=100)
    assert _log_options({"sinceSeconds": "3"}, "p").since_seconds == 3  # `kubectl logs --since=3s`: was a 500


@pytest.mark.parametrize(("query", "message"), [
    ({"sinceSeconds": "3", "sinceTime": "2026-01-02T03:04:05Z"},
     'PodLogOptions "p" is invalid: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified'),
    ({"sinceSeconds": "0"}, 'PodLogOptions "p" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'),
    ({"tailLines": "-1"},
     'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'),
    ({"limitBytes": "0"}, 'PodLogOptions "p" is invalid: limitBytes: Invalid value: 0: must be greater than 0'),
])
def test_invalid_log_options_are_422_as_validate_pod_log_options(query: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid) as exc:
        _log_options(query, "p")
    assert exc.value.message == message


@pytest.mark.parametrize("query", [
    {"sinceSeconds": "3s"}, {"sinceTime": "3s"}, {"tailLines": "ten"}, {"limitBytes": "9" * 30},
    {"follow": "maybe"}, {"stream": "Stdout"},
])
def test_unparsable_log_options_are_400(query: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        _log_options(query, "p")


def test_agent_parses_the_same_options() -> None:
    opts = agent_opts({"sinceTime": "2026-01-02T03:04:05Z", "limitBytes": "4", "follow": "true"})
    assert opts["since_time"] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert opts["limit_bytes"] == 4 and opts["follow"] is True and opts["since_seconds"] is None
    with pytest.raises(BadRequest, match="at most one of"):
        agent_opts({"sinceTime": "2026-01-02T03:04:05Z", "sinceSeconds": "1"})


# ----------------------------------------------------- the log reader, and API server → agent → reader

CRI_LOG = (b"2026-01-02T03:04:01.000000001+00:00 stdout F one\n"
           b"2026-01-02T05:04:02.500000000+02:00 stdout F two\n"   # 03:04:02.5 UTC, written with an offset
           b"2026-01-02T03:04:03.000000000Z stderr P thr\n"
           b"2026-01-02T03:04:03.100000000Z stderr F ee\n")


def test_reader_filters_by_timestamp_with_offsets(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_bytes(CRI_LOG)
    at = dt.datetime(2026, 1, 2, 3, 4, 2, tzinfo=dt.UTC)
    assert read_log(log, since=at) == b"two\nthree\n"  # offsets' digits were taken as nanoseconds: a 500
    assert read_log(log, since=at + dt.timedelta(seconds=1), timestamps=True) == (
        b"2026-01-02T03:04:03.000000000Z three\n")
    assert read_log(log, since=at + dt.timedelta(hours=1)) == b""
    now = dt.datetime(2026, 1, 2, 3, 4, 10, tzinfo=dt.UTC)
    assert log_since(8, None, now) == at and log_since(None, at, now) == at and log_since(None, None, now) is None


async def test_limit_bytes_cuts_a_followed_stream() -> None:
    closed: list[bool] = []

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"0123456789"
        finally:
            closed.append(True)

    got = [chunk async for chunk in limit_bytes(endless(), 25)]
    assert b"".join(got) == b"0123456789" * 2 + b"01234" and closed == [True]
    assert [c async for c in limit_bytes(endless(), 10)] == [b"0123456789"]


async def test_since_time_and_limit_bytes_reach_the_log_reader(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_bytes(CRI_LOG)
    asked: list[dict[str, Any]] = []

    async def source(namespace: str, pod: str, container: str, opts: dict[str, Any]) -> AsyncIterator[bytes]:
        # What the runtime does with the options (kuberuntime.container_logs).
        asked.append(opts)
        since = log_since(opts["since_seconds"], opts["since_time"], dt.datetime.now(dt.UTC))
        yield read_log(log, tail=opts["tail_lines"], timestamps=opts["timestamps"], since=since)

    pki = ensure_pki(tmp_path / "pki", ["127.0.0.1"])
    server = AgentServer(address="127.0.0.1", port=0, client_ca=pki.ca_pem(), logs=source, streams=None, stats=None,
                         metrics=None,
                         cert_dir=tmp_path)
    await server.start()
    try:
        node = {"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": server.port}}}}
        pod = {"metadata": {"name": "p", "namespace": "d", "uid": "u"}, "spec": {"nodeName": "n1"}}
        since = dt.datetime(2026, 1, 2, 3, 4, 2, 400000, tzinfo=dt.UTC)
        opts = LogOptions(container="c", since_time=since, limit_bytes=7)
        kubelet = KubeletClient(pki.kubelet_client_cert, pki.kubelet_client_key)
        got = b"".join([chunk async for chunk in kubelet.stream(pod, node, opts)])
        assert got == b"two\nthr"
        assert asked[0]["since_time"] == since and asked[0]["limit_bytes"] == 7
    finally:
        await server.stop()


def test_watch_parameter_is_a_go_bool() -> None:
    assert watch_requested({"watch": "true"}) and watch_requested({"watch": "1"}) and watch_requested({"watch": "T"})
    assert not watch_requested({}) and not watch_requested({"watch": "false"}) and not watch_requested({"watch": ""})
    with pytest.raises(BadRequest):
        watch_requested({"watch": "yes"})


@dataclass
class DownNode:
    """A node whose agent port nothing listens on, a pod on it and the server's kubelet client."""
    port: int
    node: dict[str, Any]
    pod: dict[str, Any]
    kubelet: KubeletClient


@pytest.fixture
def down(tmp_path: Path) -> DownNode:
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pki = ensure_pki(tmp_path / "pki", ["127.0.0.1"])
    node = {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                                                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}
    pod = {"metadata": {"name": "p", "namespace": "d", "uid": "u"}, "spec": {"nodeName": "n1"}}
    return DownNode(port, node, pod, KubeletClient(pki.kubelet_client_cert, pki.kubelet_client_key))


async def test_unreachable_agent_is_a_go_worded_503(down: DownNode) -> None:
    with pytest.raises(ServiceUnavailable) as exc:
        async for _ in down.kubelet.stream(down.pod, down.node, LogOptions(container="c")):
            pass
    port = down.port
    assert exc.value.message == (f'cannot reach the agent of node "n1": Get "https://127.0.0.1:{port}/containerLogs/'
                                 f'd/p/c": dial tcp 127.0.0.1:{port}: connect: connection refused')


async def test_a_stream_to_a_node_that_is_down_is_a_503_within_seconds(down: DownNode) -> None:
    with pytest.raises(ServiceUnavailable) as exc:
        async with asyncio.timeout(CONNECT_TIMEOUT + 5):
            await down.kubelet.open_session(down.pod, down.node, "/exec/d/p/c", [("command", "true")],
                                            ["v5.channel.k8s.io"])
    assert exc.value.message.startswith('cannot reach the agent of node "n1": ') and "connection refused" in (
        exc.value.message)


@pytest.mark.parametrize(("query", "name"), [
    ({"fieldSelector": "metadata.name=tls"}, "tls"),
    ({"fieldSelector": "metadata.name==tls"}, "tls"),
    ({"fieldSelector": "type=Opaque,metadata.name=tls"}, "tls"),  # the exact-match term, as RequiresExactMatch
    ({"fieldSelector": "metadata.name!=tls"}, ""),
    ({"fieldSelector": "metadata.namespace=tls"}, ""),
    ({"fieldSelector": ""}, ""),
    ({}, ""),
    ({"fieldSelector": "metadata.name=a/b"}, ""),  # not a name a path could carry
    ({"fieldSelector": "metadata.name=.."}, ""),
    ({"fieldSelector": "metadata.name=%2e"}, ""),
    ({"fieldSelector": "garbage"}, ""),
])
def test_selector_name_is_what_a_metadata_name_field_selector_pins(query: dict[str, str], name: str) -> None:
    assert selector_name(query) == name
