"""API server hardening bench: ≥ 10,000 hostile requests against a real `podfleet server`.

Starts `podfleet server` as a subprocess (SQLite, its own data dir under /tmp, a free loopback
port), generates hostile requests with the same Hypothesis strategies as the in-process property
test (`tests/fuzz_helpers.py`: schema-derived objects with wrong types, huge and non-finite numbers,
malformed quantities, deep nesting, odd names; every verb, patch type, content type,
Content-Encoding and query parameter) and sends them with a few concurrent clients, while a
separate process polls `/readyz` every 50 ms and measures its latency: a handler that computes for
long stalls the whole event loop, which a health probe sees even when every response is correct.

Prints: counts by status code; every 5xx grouped by the server's traceback, each with a
reproducing request; every other answer that breaks the unit fuzz test's property (an error without
a Status, a Status in Python's words, a header smuggled in by the request); the longest event-loop
stall (from the server's `podfleet.looplag` warnings, logged from LAG_LOG_THRESHOLD_MS up, counted
from the moment the server listens: startup work is not under test); /readyz max and p99; and the
targets, met or MISSED:
  0 responses 5xx, 0 event-loop stalls over 100 ms, /readyz under 50 ms throughout.

A 504 "Too large resource version" (reason Timeout, cause ResourceVersionTooLarge) is Kubernetes'
own answer to a list asking for a resourceVersion storage has not reached, not a server failure: it
is counted on a line of its own ("504 ResourceVersionTooLarge") and not among the 5xx.

Run: `.venv/bin/python bench/fuzz.py [--requests 10000] [--concurrency 16] [--seed 0]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing as mp
import re
import shutil
import ssl
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402
from yarl import URL  # noqa: E402

from fuzz_helpers import (  # noqa: E402
    SEED_NAME,
    HostileRequest,
    any_request,
    kubernetes_timeout,
    resource_path,
    response_problem,
    seed_object,
)
from podfleet.api.resources import NAMESPACES, RESOURCES  # noqa: E402
from server_helpers import RunningServer, start_server  # noqa: E402

PROBE_INTERVAL = 0.05
# The server logs every stall longer than this (`--loop-lag-log-threshold`), so the longest one while
# serving is in the log even when it is under the 100 ms target.
LAG_LOG_THRESHOLD_MS = 10.0
KUBE_504 = "504 ResourceVersionTooLarge"
STALL_TARGET_MS = 100.0
READYZ_TARGET_MS = 50.0
REQUEST_TIMEOUT = 30.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    vs = sorted(values)
    return vs[min(len(vs) - 1, max(0, round(p / 100 * (len(vs) - 1))))]


# ----------------------------------------------------------------------------- generation


def generate(count: int, seed: int) -> list[HostileRequest]:
    """`count` requests from `any_request()`, reproducibly for a given `seed` (runs in a worker
    process: drawing from the schema strategies costs ~10 ms of CPU per request)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    warnings.simplefilter("ignore")
    out: list[HostileRequest] = []

    @hseed(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(any_request())
    def collect(req: HostileRequest) -> None:
        out.append(req)

    while len(out) < count:  # Hypothesis may stop a little early; top up with the next seed
        before = len(out)
        collect()
        if len(out) == before:
            break
        seed += 1000
        collect = hseed(seed)(collect)
    return out[:count]


def generate_parallel(count: int, seed: int, workers: int) -> list[HostileRequest]:
    per = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    with mp.get_context("spawn").Pool(workers) as pool:
        parts = pool.starmap(generate, [(n, seed + i) for i, n in enumerate(per)])
    return [r for part in parts for r in part]


# ----------------------------------------------------------------------------- /readyz probe


def readyz_probe(port: int, conn: Connection) -> None:
    """Polls /readyz every PROBE_INTERVAL on one keep-alive TLS connection until told to stop
    (anything arrives on `conn`), then sends back (latencies in ms, error count). Its own process,
    so the bench's client work does not add to what it measures."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    latencies: list[float] = []
    errors = 0
    client: http.client.HTTPSConnection | None = None
    next_at = time.perf_counter()
    conn.send("ready")  # the fuzzing starts once the probe is running
    while not conn.poll(max(0.0, next_at - time.perf_counter())):
        next_at += PROBE_INTERVAL
        t0 = time.perf_counter()
        try:
            if client is None:
                client = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
            client.request("GET", "/readyz")
            resp = client.getresponse()
            resp.read()
            if resp.status != 200:
                errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)
        except (OSError, http.client.HTTPException):
            errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)
            if client is not None:
                client.close()
            client = None
        next_at = max(next_at, time.perf_counter())
    conn.send((latencies, errors))


# ----------------------------------------------------------------------------- sending


@dataclass
class Outcome:
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: list[tuple[HostileRequest, int, bytes]] = field(default_factory=list)
    # answers that are not 5xx but break the property anyway (fuzz_helpers.response_problem): an error
    # without a Status, a Status in Python's words, non-standard JSON, a header the request smuggled in
    problems: list[tuple[HostileRequest, int, str]] = field(default_factory=list)
    sent: int = 0


class Sender:
    def __init__(self, server: RunningServer, concurrency: int) -> None:
        self.server = server
        self.token = server.admin_token()
        self.concurrency = concurrency
        self.namespace = ""
        self.generation = 0
        self.outcome = Outcome()
        self.session: aiohttp.ClientSession | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        assert self.session is not None
        headers = {"Authorization": f"Bearer {self.token}"}
        if body:
            headers["Content-Type"] = "application/json"
        url = URL(self.server.url + path.replace("{NS}", self.namespace), encoded=True)
        async with self.session.request(method, url, headers=headers, data=body or None) as resp:
            return resp.status, await resp.read()

    async def maintain(self) -> None:
        """A usable namespace (a fuzzed DELETE may have terminated the last one) and every kind's
        seed object in it, so updates, patches and deletes keep reaching real objects."""
        status, body = (404, b"") if not self.namespace else await self.request(
            "GET", resource_path(NAMESPACES, None, self.namespace))
        if status != 200 or (json.loads(body).get("metadata") or {}).get("deletionTimestamp"):
            self.generation += 1
            self.namespace = f"fuzz-{self.generation}"
            await self.request("POST", resource_path(NAMESPACES, None),
                               json.dumps(seed_object(NAMESPACES, self.namespace)).encode())
        for rt in RESOURCES:
            ns = "{NS}" if rt.namespaced else None
            status, _ = await self.request("GET", resource_path(rt, ns, SEED_NAME))
            if status == 404:
                await self.request("POST", resource_path(rt, ns),
                                   json.dumps(seed_object(rt, namespace=self.namespace)).encode())

    async def send(self, req: HostileRequest) -> None:
        assert self.session is not None
        path, headers = req.resolved(self.namespace, self.token)
        url = URL(self.server.url + path, encoded=True)
        out = self.outcome
        out.sent += 1
        try:
            async with self.session.request(req.method, url, headers=headers, data=req.body or None,
                                            allow_redirects=False) as resp:
                status, ctype, resp_headers = resp.status, resp.content_type, resp.headers
                body = b"" if (req.is_watch and status == 200) or req.method == "HEAD" else await resp.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            out.statuses[f"client:{type(e).__name__}"] += 1
            return
        if kubernetes_timeout(status, body):
            out.statuses[KUBE_504] += 1  # Kubernetes' own answer, see the module docstring
            return
        out.statuses[str(status)] += 1
        if status >= 500:
            out.server_errors.append((req, status, body))
            return
        problem = response_problem(status, ctype, body, watch=req.is_watch, head=req.method == "HEAD",
                                   headers=resp_headers)
        if problem:
            out.problems.append((req, status, problem))

    async def run(self, requests: list[HostileRequest]) -> float:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, limit=self.concurrency),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT), auto_decompress=False)
        try:
            await self.maintain()
            queue: asyncio.Queue[HostileRequest] = asyncio.Queue()
            for r in requests:
                queue.put_nowait(r)
            lock = asyncio.Lock()
            done = 0

            async def worker() -> None:
                nonlocal done
                while True:
                    try:
                        req = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    await self.send(req)
                    done += 1
                    count = done  # `done` moves on while this worker awaits below
                    if count % 250 == 0:
                        async with lock:
                            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                                await self.maintain()
                    if count % 2000 == 0:
                        print(f"  ... {count} sent", flush=True)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
            return time.perf_counter() - start
        finally:
            await self.session.close()


# ----------------------------------------------------------------------------- the server's log

_REQUEST_ID = re.compile(r"request ([0-9a-f]{32})")
_STALL = re.compile(r'msg="event loop stalled".*?stall_ms=([0-9.]+)')
_SUMMARY_MAX = re.compile(r'msg="event loop lag summary".*?max_ms=([0-9.]+)')


def tracebacks(log_text: str) -> dict[str, str]:
    """request id -> the signature of its traceback (innermost podfleet frame + exception line)."""
    out: dict[str, str] = {}
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"request_id=([0-9a-f]{32})", line)
        if not m:
            continue
        frames, exc = [], ""
        for nxt in lines[i + 1:]:
            if re.match(r"^ts=", nxt):
                break
            s = nxt.strip()
            if s.startswith('File "') and "/src/podfleet/" in s:
                frames.append(s)
            elif s and not s.startswith(("File ", "Traceback", "^", "~")) and not nxt.startswith("    "):
                exc = s
        where = ""
        if frames:
            fm = re.search(r'src/podfleet/(\S+)", line \d+, in (\S+)', frames[-1])
            where = f"{fm.group(1)} {fm.group(2)}" if fm else frames[-1]
        out[m.group(1)] = f"{where}: {exc}" if where else exc
    return out


def loop_stalls(log_text: str) -> tuple[list[float], float]:
    """Stalls logged after the server was listening (startup work is not under test), and the
    monitor's summary max over the server's whole life, startup included (0 when it is missing)."""
    start = log_text.find("API server listening")
    body = log_text[start:] if start >= 0 else log_text
    stalls = [float(x) for x in _STALL.findall(body)]
    summary = [float(x) for x in _SUMMARY_MAX.findall(log_text)]
    return stalls, max(summary) if summary else 0.0


# ----------------------------------------------------------------------------- report


def report(out: Outcome, elapsed: float, log_text: str, readyz: list[float], readyz_errors: int,
           run_dir: Path) -> None:
    total = sum(out.statuses.values())
    print(f"\nhostile requests: {total} in {elapsed:.1f} s ({total / elapsed:.0f}/s)\n")
    print(f"{'status':<28}{'count':>8}")
    for label, n in sorted(out.statuses.items()):
        print(f"{label:<28}{n:>8}")

    sigs = tracebacks(log_text)
    groups: dict[str, list[tuple[HostileRequest, int, bytes]]] = {}
    for req, status, body in out.server_errors:
        m = _REQUEST_ID.search(body.decode("utf-8", "replace"))
        sig = sigs.get(m.group(1), "") if m else ""
        if not sig:
            try:
                sig = str(json.loads(body).get("message", ""))[:120]
            except ValueError:
                sig = body[:120].decode("utf-8", "replace")
        groups.setdefault(f"{status} {sig}", []).append((req, status, body))
    print(f"\n5xx responses: {len(out.server_errors)} in {len(groups)} distinct failures")
    for sig, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        req, _, _ = items[0]
        print(f"\n  [{len(items)}x] {sig}")
        print("    " + req.describe(240).replace("\n", "\n    "))
    all_5xx = run_dir / "5xx.txt"
    all_5xx.write_text("\n\n".join(f"{s} {b[:300]!r}\n{r.describe(2000)}" for r, s, b in out.server_errors))
    if out.server_errors:
        print(f"\n  (every 5xx with its request: {all_5xx})")
    if out.problems:
        print(f"\nother answers breaking the property (not a Status, Python's words, a smuggled header, "
              f"non-standard JSON): {len(out.problems)}")
        seen: set[str] = set()
        for req, _, problem in out.problems:
            if problem[:60] in seen:
                continue
            seen.add(problem[:60])
            print(f"  {problem[:200]}\n    e.g. " + req.describe(160).replace("\n", "\n    "))

    stalls, summary_max = loop_stalls(log_text)
    longest = max(stalls, default=0.0)
    shown = f"{longest:.1f} ms" if stalls else f"under {LAG_LOG_THRESHOLD_MS:.0f} ms"
    over = [s for s in stalls if s > STALL_TARGET_MS]
    print(f"\nevent loop while serving: {len(over)} stalls over {STALL_TARGET_MS:.0f} ms, "
          f"{len(stalls)} over {LAG_LOG_THRESHOLD_MS:.0f} ms, longest stall {shown}"
          + (f" (top: {', '.join(f'{s:.0f}' for s in sorted(over, reverse=True)[:8])} ms)" if over else ""))
    print(f"  (monitor's max over the whole run, startup included: {summary_max:.1f} ms)")
    rmax, rp99, rp50 = max(readyz, default=float("nan")), pct(readyz, 99), pct(readyz, 50)
    print(f"/readyz: {len(readyz)} probes, {readyz_errors} failed, p50 {rp50:.1f} ms, p99 {rp99:.1f} ms, "
          f"max {rmax:.1f} ms")

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print("\ntargets:")
    print(f"  0 responses 5xx:                    {verdict(not out.server_errors):<7}"
          f"({len(out.server_errors)})")
    print(f"  every error a Kubernetes Status:    {verdict(not out.problems):<7}({len(out.problems)} not)")
    print(f"  0 event-loop stalls over 100 ms:    {verdict(not over):<7}({len(over)}, longest {shown})")
    readyz_ok = bool(readyz) and rmax < READYZ_TARGET_MS and not readyz_errors
    print(f"  /readyz under 50 ms throughout:     {verdict(readyz_ok):<7}"
          f"(max {rmax:.1f} ms, p99 {rp99:.1f} ms, {readyz_errors} failed)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0, help="generation seed (same seed, same requests)")
    ap.add_argument("--workers", type=int, default=2, help="processes generating requests")
    ap.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    args = ap.parse_args()

    t0 = time.perf_counter()
    print(f"generating {args.requests} hostile requests (seed {args.seed}) ...", flush=True)
    requests = generate_parallel(args.requests, args.seed, max(1, args.workers))
    print(f"  {len(requests)} generated in {time.perf_counter() - t0:.1f} s", flush=True)

    run_dir = Path(tempfile.mkdtemp(prefix="podfleet-fuzz-", dir="/tmp"))
    server = start_server(run_dir / "server", "--loop-lag-log-threshold", str(LAG_LOG_THRESHOLD_MS / 1000))
    print(f"server: {server.url} (log {server.log_path})", flush=True)
    parent, child = mp.get_context("spawn").Pipe()
    probe = mp.get_context("spawn").Process(target=readyz_probe, args=(server.port, child), daemon=True)
    readyz: list[float] = []
    readyz_errors = 0
    sender = Sender(server, args.concurrency)
    try:
        probe.start()
        if not parent.poll(60) or parent.recv() != "ready":
            raise RuntimeError("the /readyz probe did not start")
        elapsed = asyncio.run(sender.run(requests))
        parent.send("stop")
        if parent.poll(30):
            readyz, readyz_errors = parent.recv()
        probe.join(10)
    finally:
        if probe.is_alive():
            probe.terminate()
            probe.join(5)
        server.stop()
    log_text = server.log_path.read_text(errors="replace")
    report(sender.outcome, elapsed, log_text, readyz, readyz_errors, run_dir)
    if args.keep or sender.outcome.server_errors:
        print(f"\nrun dir kept: {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
