"""`DNSServer`: cluster DNS on UDP and TCP — the zone from the resolver, everything else forwarded.

A query is handled synchronously on the event loop when the resolver can answer it (a dictionary
look-up plus dnslib's parse and pack, tens of microseconds); only forwarding, and chasing an
ExternalName's target upstream, become tasks. Nothing here blocks.

Replies to cluster names are cached as packed bytes, keyed by the query without its id (question,
flags and EDNS included, so each spelling and payload size gets its own reply) and the transport
(a UDP reply may be truncated where the TCP one is not); the whole cache is dropped when the index
generation moves. A hit only puts the query's id in front of the cached bytes — the reply itself
was built by dnslib. Forwarded replies are never cached: upstream TTLs count down.

Limits: at most `max_forwards` forwarded queries in flight (beyond that REFUSED, as CoreDNS's
forward plugin answers past max_concurrent); TCP connections idle for `tcp_idle_timeout` are closed
(RFC 7766), at most `max_tcp_connections` at once, each with its queries answered as they complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from dnslib import CLASS, RCODE, DNSQuestion, DNSRecord  # type: ignore[import-untyped]

from podfleet.dns import wire
from podfleet.dns.interface import Forwarder, ForwardError
from podfleet.dns.records import Answer, Rcode, Resolver
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.dns")

_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)  # Linux's value; Python 3.11 does not name it everywhere
DEFAULT_MAX_UDP_PAYLOAD = 1232  # DNS Flag Day 2020: large enough for most answers, no IP fragments
_ANSWERABLE = (CLASS.IN,)

Pending = Coroutine[Any, Any, bytes]


@dataclass
class ServerStats:
    queries: int = 0
    cache_hits: int = 0
    forwarded: int = 0
    servfail: int = 0
    refused: int = 0
    formerr: int = 0


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The stdlib's datagram transport does not subclass asyncio.DatagramTransport (3.11): cast.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        out = self.server.handle(data, tcp=False)
        if out is None or self.transport is None:
            return
        if isinstance(out, bytes):
            self.transport.sendto(out, addr)
            return
        transport = self.transport
        self.server.spawn(out, lambda reply: transport.sendto(reply, addr) if not transport.is_closing() else None)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an earlier reply (the client went away): nothing to do, the socket stays.
        log.debug("UDP error", extra={"error": str(exc)})


class DNSServer:
    def __init__(self, resolver: Resolver, forwarder: Forwarder, *, listen: tuple[str, int] = ("127.0.0.1", 53),
                 max_udp_payload: int = DEFAULT_MAX_UDP_PAYLOAD, max_forwards: int = 1000,
                 tcp_idle_timeout: float = 10.0, max_tcp_connections: int = 1000, cache_size: int = 10_000,
                 freebind: bool = False) -> None:
        """`freebind`: bind `listen` even before that address exists on this host (a node's pod
        bridge gets its gateway address when the first pod's network is set up)."""
        if not 512 <= max_udp_payload <= 65535:
            raise ValueError("max_udp_payload must be within 512..65535")
        self.resolver = resolver
        self.forwarder = forwarder
        self.listen = listen
        self.max_udp_payload = max_udp_payload
        self.max_forwards = max_forwards
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_tcp_connections = max_tcp_connections
        self.cache_size = cache_size
        self.freebind = freebind
        self.stats = ServerStats()
        self._cache: dict[tuple[bool, bytes], bytes] = {}
        self._cache_generation = -1
        self._forwarding = 0
        self._tasks: set[asyncio.Task[bytes]] = set()
        self._connections: set[asyncio.Task[Any]] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self.address: tuple[str, int] = listen

    # ------------------------------------------------------------------ lifecycle
    def _socket(self, kind: int, host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, kind)
        try:
            sock.setblocking(False)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.freebind:
                sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
            sock.bind((host, port))
        except BaseException:
            sock.close()
            raise
        return sock

    async def start(self) -> None:
        """Listen on UDP and TCP at `listen`; port 0 picks a free port, the same for both."""
        loop = asyncio.get_running_loop()
        host, port = self.listen
        # With port 0 the UDP port the kernel picks can be taken for TCP (a client's ephemeral port):
        # then pick again, a few times.
        for attempt in range(1 if port else 20):
            udp, _ = await loop.create_datagram_endpoint(lambda: _UDP(self),
                                                         sock=self._socket(socket.SOCK_DGRAM, host, port))
            bound_port = int(udp.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp,
                                                       sock=self._socket(socket.SOCK_STREAM, host, bound_port))
            except OSError as e:
                udp.close()
                if port or e.errno != errno.EADDRINUSE or attempt == 19:
                    raise
                continue
            except BaseException:
                udp.close()
                raise
            self._udp = udp
            break
        self.address = (host, bound_port)
        log.info("cluster DNS listening", extra={"address": f"{host}:{bound_port}"})

    async def stop(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
        if self._udp is not None:
            self._udp.close()
        await cancel_and_wait(list(self._connections), list(self._tasks))
        if self._tcp is not None:
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()
        self._tcp = self._udp = None

    def spawn(self, work: Pending, deliver: Callable[[bytes], object],
              tasks: set[asyncio.Task[bytes]] | None = None) -> None:
        """Run a reply that needs the network (forwarding) as a task (tracked in `tasks`, by default
        the server's own) and hand its bytes to `deliver`. The task runs `work` itself, so one
        cancelled before it started leaves no coroutine behind un-awaited."""
        task = asyncio.create_task(work, name="dns-forward")
        tracked = self._tasks if tasks is None else tasks
        tracked.add(task)

        def done(t: asyncio.Task[bytes]) -> None:
            tracked.discard(t)
            if t.cancelled():
                return
            if t.exception() is not None:  # a bug: the client times out and asks again, the server lives on
                log.error("answering a forwarded query failed", exc_info=t.exception())
                return
            deliver(t.result())

        task.add_done_callback(done)

    # ------------------------------------------------------------------ one query
    def handle(self, data: bytes, *, tcp: bool) -> bytes | Pending | None:
        """The reply to one message: bytes now, a coroutine to await when it must be forwarded, or
        None when nothing should be sent (a reply, or garbage without even a header)."""
        self.stats.queries += 1
        key: tuple[bool, bytes] | None = None
        if self.cache_size > 0:
            generation = self.resolver.generation
            if generation != self._cache_generation:
                self._cache.clear()
                self._cache_generation = generation
            key = (tcp, data[2:])
            hit = self._cache.get(key)
            if hit is not None:
                self.stats.cache_hits += 1
                return data[:2] + hit
        try:
            request = DNSRecord.parse(data)
        except Exception:  # dnslib raises DNSError and, for some garbage, other types
            self.stats.formerr += 1
            return wire.formerr_for(data)
        if request.header.qr:
            return None  # a reply sent to us: answering it could start a loop between two servers
        try:
            edns = wire.edns_of(request)
        except wire.FormatError:
            return self._error(request, Rcode.FORMERR, None)
        if request.header.opcode != 0:
            return self._error(request, Rcode.NOTIMP, edns)
        if len(request.questions) != 1:
            return self._error(request, Rcode.FORMERR, edns)
        if edns.version > 0:
            return self._error(request, wire.BADVERS, edns)
        limit = wire.TCP_LIMIT if tcp else wire.udp_limit(edns, self.max_udp_payload)
        q = request.q
        answer = self.resolver.resolve(str(q.qname), int(q.qtype)) if q.qclass in _ANSWERABLE else None
        if answer is None:
            return self._forward(request, data, edns, tcp, limit)
        if answer.chase:
            return self._chase(request, answer, edns, tcp, limit)
        if answer.rcode == Rcode.SERVFAIL:
            self.stats.servfail += 1
        reply = wire.pack_within(wire.build_reply(request, answer, edns, self.max_udp_payload), limit)
        if key is not None and answer.rcode != Rcode.SERVFAIL:
            if len(self._cache) >= self.cache_size:
                del self._cache[next(iter(self._cache))]  # oldest first; the generation clears the rest
            self._cache[key] = reply[2:]
        return reply

    def _error(self, request: DNSRecord, rcode: int, edns: wire.Edns | None) -> bytes:
        if rcode == Rcode.FORMERR:
            self.stats.formerr += 1
        packed = bytes(wire.error_reply(request, rcode, edns, self.max_udp_payload).pack())
        return packed

    async def _forward(self, request: DNSRecord, data: bytes, edns: wire.Edns, tcp: bool, limit: int) -> bytes:
        if self._forwarding >= self.max_forwards:
            self.stats.refused += 1
            return self._error(request, Rcode.REFUSED, edns)
        self._forwarding += 1
        self.stats.forwarded += 1
        try:
            reply = await self.forwarder.forward(data, tcp=tcp)
        except ForwardError as e:
            self.stats.servfail += 1
            log.debug("forwarding failed", extra={"qname": str(request.q.qname), "error": str(e)})
            return self._error(request, Rcode.SERVFAIL, edns)
        finally:
            self._forwarding -= 1
        if len(reply) > limit:
            # Upstream sized it for the client's EDNS payload; ours may be smaller. Re-pack it to fit.
            try:
                return wire.pack_within(DNSRecord.parse(reply), limit)
            except Exception:
                truncated = wire.error_reply(request, Rcode.NOERROR, edns, self.max_udp_payload)
                truncated.header.tc = 1
                packed = bytes(truncated.pack())
                return packed
        return reply

    async def _chase(self, request: DNSRecord, answer: Answer, edns: wire.Edns, tcp: bool, limit: int) -> bytes:
        """An ExternalName's CNAME plus the target's records from upstream, as CoreDNS completes it;
        if the upstream cannot be asked, CoreDNS drops the CNAME and answers NODATA — so does this."""
        q = request.q
        found = None
        if self._forwarding < self.max_forwards:
            self._forwarding += 1
            self.stats.forwarded += 1
            try:
                query = DNSRecord(q=DNSQuestion(answer.chase, q.qtype))
                found = DNSRecord.parse(await self.forwarder.forward(bytes(query.pack()), tcp=tcp))
            except Exception as e:  # ForwardError, or a reply dnslib cannot parse: no reply either way
                log.debug("ExternalName target lookup failed", extra={"qname": answer.chase, "error": str(e)})
            finally:
                self._forwarding -= 1
        if found is not None and found.header.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN):
            reply = wire.build_reply(request, Answer(answer=answer.answer), edns, self.max_udp_payload)
            for rr in found.rr:
                reply.add_answer(rr)
        else:
            reply = wire.build_reply(request, self.resolver.nodata(), edns, self.max_udp_payload)
        return wire.pack_within(reply, limit)

    # ------------------------------------------------------------------ TCP
    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= self.max_tcp_connections:
            writer.close()
            return
        self._connections.add(task)
        pending: set[asyncio.Task[bytes]] = set()

        def send(reply: bytes) -> None:
            if not writer.is_closing():
                writer.write(len(reply).to_bytes(2, "big") + reply)  # RFC 1035 4.2.2 length prefix

        graceful = False
        try:
            while True:
                async with asyncio.timeout(self.tcp_idle_timeout):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    data = await reader.readexactly(size)
                out = self.handle(data, tcp=True)
                if isinstance(out, bytes):
                    send(out)
                elif out is not None:
                    self.spawn(out, send, pending)  # answered when ready: RFC 7766 allows any order
                await writer.drain()
        except asyncio.IncompleteReadError:
            graceful = True  # the client closed its side: the replies it still waits for go out first
        except (TimeoutError, ConnectionError, OSError):
            pass  # idle for too long, or reset
        finally:
            if graceful and pending:
                with contextlib.suppress(Exception):
                    await asyncio.gather(*pending, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await writer.drain()
            await cancel_and_wait(list(pending))
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
