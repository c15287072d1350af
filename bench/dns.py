"""Cluster DNS: queries per second and p50/p99 latency answering `svc.cluster.local` names with 1,000
Services indexed, against floors measured in the same run with the same client.

Every server runs in a process of its own on uvloop (as podfleet's daemons do) and listens on
127.0.0.1; the client is this process (uvloop, one UDP socket, a fixed number of queries in flight).
Rows:
  - floor: UDP echo        — the loopback round trip and the client's own cost, no DNS work at all
  - floor: dnslib echo     — parse the query, add one A record, pack: the wire library's cost alone
  - podfleet cluster DNS   — the real server (ZoneIndex + Resolver + DNSServer), answer cache on
  - podfleet, no cache     — the same with `cache_size=0`: every query resolved and packed
Each at 1 query in flight (latency) and 32 in flight (throughput). A second table times
`DNSServer.handle()` in-process, without sockets, to show the server's CPU per query, and the
time to index the Services from their JSON.

Run: `.venv/bin/python bench/dns.py [--services 1000] [--queries 20000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import uvloop  # noqa: E402
from dnslib import QTYPE, RR, A, DNSRecord  # type: ignore[import-untyped]  # noqa: E402

from podfleet.dns.fake import FakeForwarder  # noqa: E402
from podfleet.dns.records import Resolver  # noqa: E402
from podfleet.dns.server import DNSServer  # noqa: E402
from podfleet.dns.zone import ZoneIndex  # noqa: E402

NAMESPACES = 10
SERVERS = ("udp-echo", "dnslib-echo", "podfleet", "podfleet-nocache")
LABELS = {"udp-echo": "floor: UDP echo", "dnslib-echo": "floor: dnslib echo",
          "podfleet": "podfleet cluster DNS", "podfleet-nocache": "podfleet, no answer cache"}


def service_name(i: int) -> str:
    return f"svc-{i}.ns-{i % NAMESPACES}.svc.cluster.local"


def build_zone(services: int) -> ZoneIndex:
    zone = ZoneIndex()
    for n in range(NAMESPACES):
        zone.set_namespace({"metadata": {"name": f"ns-{n}"}})
    for i in range(services):
        ns = f"ns-{i % NAMESPACES}"
        zone.set_service({"metadata": {"name": f"svc-{i}", "namespace": ns},
                          "spec": {"clusterIP": f"10.96.{i // 250}.{i % 250 + 1}",
                                   "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        zone.set_slice({"metadata": {"name": f"svc-{i}-x", "namespace": ns,
                                     "labels": {"kubernetes.io/service-name": f"svc-{i}"}},
                        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                        "endpoints": [{"addresses": [f"10.{100 + k}.{i // 250}.{i % 250 + 1}"],
                                       "conditions": {"ready": True}} for k in range(3)]})
    return zone


# ---------------------------------------------------------------- the servers (child processes)
class _Echo(asyncio.DatagramProtocol):
    def __init__(self, dnslib_reply: bool) -> None:
        self.dnslib_reply = dnslib_reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.dnslib_reply:
            q = DNSRecord.parse(data)
            r = q.reply()
            r.add_answer(RR(q.q.qname, QTYPE.A, ttl=5, rdata=A("10.96.0.1")))
            data = bytes(r.pack())
        self.transport.sendto(data, addr)


async def serve(kind: str, services: int) -> None:
    loop = asyncio.get_running_loop()
    if kind in ("udp-echo", "dnslib-echo"):
        transport, _ = await loop.create_datagram_endpoint(lambda: _Echo(kind == "dnslib-echo"),
                                                           local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
    else:
        server = DNSServer(Resolver(build_zone(services)), FakeForwarder(), listen=("127.0.0.1", 0),
                           cache_size=0 if kind == "podfleet-nocache" else 10_000)
        await server.start()
        port = server.address[1]
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


# ---------------------------------------------------------------- the client
class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.latencies: list[float] = []
        self.replies: list[bytes] = []
        self.slot = asyncio.Event()
        self.done = asyncio.Event()
        self.expected = 0
        self.last = 0.0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        qid = int.from_bytes(data[:2], "big")  # the client reads the id only; replies are checked after
        t0 = self.sent.pop(qid, None)
        if t0 is None:
            return
        self.last = time.perf_counter()
        self.latencies.append(self.last - t0)
        self.replies.append(data)
        self.slot.set()
        if len(self.latencies) >= self.expected:
            self.done.set()


async def measure(port: int, queries: list[bytes], in_flight: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port))
    client.expected = len(queries)
    start = time.perf_counter()
    try:
        for i, q in enumerate(queries):
            while len(client.sent) >= in_flight:
                client.slot.clear()
                await client.slot.wait()
            client.sent[i & 0xFFFF] = time.perf_counter()
            transport.sendto(q)
        with contextlib.suppress(TimeoutError):  # a lost datagram: counted below, not waited for
            await asyncio.wait_for(client.done.wait(), 10)
        elapsed = client.last - start
    finally:
        transport.close()
    ok = sum(1 for r in client.replies if DNSRecord.parse(r).header.rcode == 0)
    lat = sorted(client.latencies)
    return {"qps": len(lat) / elapsed, "p50": 1000 * lat[len(lat) // 2],
            "p99": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "lost": len(queries) - len(lat), "ok": ok}


def make_queries(services: int, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        q = DNSRecord.question(service_name(i % services), "A")
        q.header.id = i & 0xFFFF  # ids are unique among the queries in flight
        out.append(bytes(q.pack()))
    return out


def start_server(kind: str, services: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--services", str(services)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"{kind} server did not start: {line!r}")
    return proc, int(line.split()[1])


def in_process(services: int, queries: list[bytes], cache: bool) -> float:
    """Microseconds per `DNSServer.handle()` call, no sockets."""
    server = DNSServer(Resolver(build_zone(services)), FakeForwarder(), cache_size=10_000 if cache else 0)
    for q in queries[:services]:
        server.handle(q, tcp=False)  # warm: every name seen once
    t0 = time.perf_counter()
    for q in queries:
        out = server.handle(q, tcp=False)
        assert isinstance(out, bytes)
    return 1e6 * (time.perf_counter() - t0) / len(queries)


async def run_client(args: argparse.Namespace) -> None:
    queries = make_queries(args.services, args.queries)
    rows = []
    for kind in SERVERS:
        proc, port = start_server(kind, args.services)
        try:
            await measure(port, queries[: min(2000, len(queries))], 32)  # warm-up (and the answer cache)
            for in_flight in (1, 32):
                n = queries if in_flight > 1 else queries[: max(1, len(queries) // 4)]
                rows.append((LABELS[kind], in_flight, len(n), await measure(port, n, in_flight)))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(f"\ncluster DNS over UDP on 127.0.0.1: A queries for {args.services} Services' names "
          f"({os.cpu_count()} CPUs; server and client are separate processes)")
    print(f"{'server':<28} {'in flight':>9} {'queries':>8} {'queries/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'lost':>5} {'NOERROR':>8}")
    for label, in_flight, n, r in rows:
        print(f"{label:<28} {in_flight:>9} {n:>8} {r['qps']:>10.0f} {r['p50']:>8.3f} {r['p99']:>8.3f} "
              f"{r['lost']:>5.0f} {r['ok']:>8.0f}")
    t0 = time.perf_counter()
    build_zone(args.services)
    index_ms = 1000 * (time.perf_counter() - t0)
    cached = in_process(args.services, queries, True)
    uncached = in_process(args.services, queries, False)
    print(f"\n{'DNSServer.handle() in-process':<36} {'µs/query':>9}")
    print(f"{'answer cache hit':<36} {cached:>9.1f}")
    print(f"{'resolve + dnslib build + pack':<36} {uncached:>9.1f}")
    print(f"\nindexing {args.services} Services + EndpointSlices (3 endpoints each) from JSON: {index_ms:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=20000)
    ap.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        uvloop.run(serve(args.serve, args.services))
    else:
        uvloop.run(run_client(args))


if __name__ == "__main__":
    main()
