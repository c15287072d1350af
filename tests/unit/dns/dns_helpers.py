"""Helpers for the cluster DNS tests: Kubernetes object builders, a DNS client built on dnslib, a fake
upstream resolver on loopback, and an informer stand-in fed by hand.

Everything listens on 127.0.0.1 with ephemeral ports; no traffic leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from dnslib import EDNS0, QTYPE, A, DNSRecord

from podfleet.client.informer import Handler
from podfleet.dns.fake import FakeForwarder

LOOPBACK = "127.0.0.1"


# ---------------------------------------------------------------- Kubernetes objects
def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service(name: str, ns: str = "default", *, cluster_ip: str | None = None, cluster_ips: list[str] | None = None,
            ports: list[dict[str, Any]] | None = None, type_: str = "ClusterIP", external_name: str = "",
            publish_not_ready: bool = False, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": ports if ports is not None else []}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    if cluster_ips is not None:
        spec["clusterIPs"] = cluster_ips
    if external_name:
        spec["externalName"] = external_name
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def port(name: str, number: int, protocol: str = "TCP") -> dict[str, Any]:
    return {"name": name, "port": number, "protocol": protocol}


def endpoint(*addresses: str, hostname: str = "", ready: bool | None = True) -> dict[str, Any]:
    e: dict[str, Any] = {"addresses": list(addresses), "conditions": {}}
    if ready is not None:
        e["conditions"]["ready"] = ready
    if hostname:
        e["hostname"] = hostname
    return e


def endpoint_slice(name: str, svc: str, ns: str = "default", *, endpoints: list[dict[str, Any]] | None = None,
                   ports: list[dict[str, Any]] | None = None, address_type: str = "IPv4") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
            "addressType": address_type, "endpoints": endpoints or [], "ports": ports or []}


def pod(name: str, ns: str = "default", *, ips: tuple[str, ...] = (), hostname: str = "", subdomain: str = "",
        ready: bool = True, phase: str = "Running", deleting: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "x"}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    status: dict[str, Any] = {"phase": phase,
                              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ips:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": ip} for ip in ips]
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


# ---------------------------------------------------------------- a DNS client
def question(name: str, qtype: str = "A", *, edns: int | None = None, edns_version: int = 0,
             qid: int | None = None) -> DNSRecord:
    q = DNSRecord.question(name, qtype)
    if qid is not None:
        q.header.id = qid
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns, version=edns_version))
    return q


class _OneReply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(data)


async def udp_exchange(addr: tuple[str, int], *messages: bytes, replies: int = 1,
                       timeout: float = 5.0) -> list[bytes]:
    """Send datagrams from one socket and collect `replies` datagrams, in arrival order."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_OneReply, remote_addr=addr)
    try:
        for m in messages:
            transport.sendto(m)
        async with asyncio.timeout(timeout):
            return [await proto.replies.get() for _ in range(replies)]
    finally:
        transport.close()


async def tcp_exchange(addr: tuple[str, int], *messages: bytes, replies: int | None = None,
                       timeout: float = 5.0) -> list[bytes]:
    """Send every message on one connection (in one write: pipelined), read `replies` replies."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(*addr)
        try:
            writer.write(b"".join(len(m).to_bytes(2, "big") + m for m in messages))
            await writer.drain()
            out = []
            for _ in range(len(messages) if replies is None else replies):
                size = int.from_bytes(await reader.readexactly(2), "big")
                out.append(await reader.readexactly(size))
            return out
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def ask(addr: tuple[str, int], name: str, qtype: str = "A", *, tcp: bool = False, edns: int | None = None,
              edns_version: int = 0) -> DNSRecord:
    q = question(name, qtype, edns=edns, edns_version=edns_version)
    data = q.pack()
    [reply] = await (tcp_exchange(addr, data) if tcp else udp_exchange(addr, data))
    r = DNSRecord.parse(reply)
    assert r.header.id == q.header.id
    return r


def rdatas(reply: DNSRecord, qtype: str | None = None) -> list[str]:
    """Answer-section rdata as text, optionally of one type."""
    return [str(rr.rdata) for rr in reply.rr if qtype is None or rr.rtype == getattr(QTYPE, qtype)]


# ---------------------------------------------------------------- a fake upstream resolver
class FakeUpstream:
    """An upstream DNS server on loopback (UDP and TCP, one port) answering like `FakeForwarder`.

    silent: never reply. truncate_udp: over UDP reply with TC and no records (the client must retry
    over TCP). forge_first: before each reply send one with the wrong id and another answer (what
    an off-path attacker guessing would send).
    """

    def __init__(self, records: list[str] | None = None) -> None:
        self.answers = FakeForwarder(records or [])
        self.silent = False
        self.truncate_udp = False
        self.forge_first = False
        self.address: tuple[str, int] = (LOOPBACK, 0)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def queries(self) -> list[tuple[str, int, bool]]:
        return self.answers.queries

    async def _reply(self, data: bytes, tcp: bool) -> bytes | None:
        reply = await self.answers.forward(data, tcp=tcp)
        if self.silent:
            return None
        if self.truncate_udp and not tcp:
            r = DNSRecord.parse(reply)
            r.rr = []
            r.header.tc = 1
            return bytes(r.pack())
        return reply

    @staticmethod
    def _forged(reply: bytes) -> bytes:
        r = DNSRecord.parse(reply)
        r.header.id = (r.header.id + 1) & 0xFFFF
        for rr in r.rr:
            rr.rdata = A("203.0.113.66") if rr.rtype == QTYPE.A else rr.rdata
        return bytes(r.pack())

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        upstream = self

        class UDP(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                async def answer() -> None:
                    out = await upstream._reply(data, False)
                    if out is not None:
                        if upstream.forge_first:
                            self.transport.sendto(upstream._forged(out), addr)  # type: ignore[attr-defined]
                        self.transport.sendto(out, addr)  # type: ignore[attr-defined]
                t = asyncio.create_task(answer())
                upstream._tasks.add(t)
                t.add_done_callback(upstream._tasks.discard)

        for _ in range(20):  # the UDP port the kernel picks may be taken for TCP: pick again
            transport, _ = await loop.create_datagram_endpoint(UDP, local_addr=(LOOPBACK, 0))
            port_ = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve, LOOPBACK, port_)
            except OSError:
                transport.close()
                continue
            self._udp = transport
            break
        else:
            raise OSError("no port free for both UDP and TCP")
        self.address = (LOOPBACK, port_)
        return self.address

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                out = await self._reply(await reader.readexactly(size), True)
                if out is not None:
                    if self.forge_first:
                        forged = self._forged(out)
                        writer.write(len(forged).to_bytes(2, "big") + forged)
                    writer.write(len(out).to_bytes(2, "big") + out)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 1.0)
        for t in list(self._tasks):
            t.cancel()


def closed_port() -> tuple[str, int]:
    """A loopback UDP/TCP port nobody listens on (bound, then released)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return LOOPBACK, int(s.getsockname()[1])


# ---------------------------------------------------------------- informers by hand
class FakeInformer:
    """Stands in for `Informer`: the test delivers events; `sync()` marks the first list done."""

    def __init__(self) -> None:
        self.handlers: list[Handler] = []
        self.started = False
        self.stopped = False
        self._synced = asyncio.Event()

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout)

    def sync(self) -> None:
        self._synced.set()

    def emit(self, event: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        for h in self.handlers:
            h(event, obj, old)


async def eventually(predicate: Callable[[], Awaitable[bool]], what: str = "", *, timeout: float = 10.0) -> None:
    """Poll until the condition holds (in real time), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)
