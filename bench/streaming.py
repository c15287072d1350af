"""Streaming benchmark (issue 16): exec round trips, port-forward throughput, concurrent exec sessions.

One run of a real `podfleet up` (SQLite, runc, conmon, CNI) with one pod started for the purpose:
busybox `httpd` serving a file of random bytes (64 MiB by default) made with `dd` in the pod.

1. Exec round trip: `kubectl exec POD -- true`, the wall time of the whole kubectl process, N times
   one after another, against the floor: `runc --root <the agent's runc root> exec <container> true`
   of the same container, run from here with the environment the agent gives runc (GOMAXPROCS=1).
   The official Python client's `stream()` is a third row (in-process: no program to start). The
   three run interleaved, one of each per round in rotating order, so the host's drift (a shared
   machine's speed moves by tens of percent from minute to minute) falls on all of them. For
   information, `kubectl version --client` (starting kubectl and nothing else) shows how much of
   kubectl's time is kubectl's own. Target: kubectl exec p50 <= 2x the floor.
2. Port-forward throughput: the file downloaded with urllib through `kubectl port-forward` and
   straight from the pod IP (on the node's bridge, reachable from the host), alternating, each
   checked against the file's md5 in the pod. Target: the forward >= 50 % of the direct path.
3. Concurrent exec sessions (100 by default) of `sh -c 'sleep 2; echo ok'`, opened at once by
   WebSocket clients speaking v5.channel.k8s.io from one event loop here (a hundred kubectl
   processes would load this 2-core host more than the server and agent being measured); each must
   print `ok` and end with a Success status. Reports the wall time and the podfleet process's RSS
   (server, controllers and agent share that process in `podfleet up`) before, at its peak during,
   right after, and 5 s after; in two bursts by default, so that growth that stops (the allocator's
   high-water mark) can be told from growth that goes on (a leak).

p99 is the nearest-rank percentile: with N = 50 it is the slowest run.

Timing targets are printed as met/missed and never change the exit status; a functional failure
(an exec that fails, a download that differs, a session without `ok`) exits 1.

Run as root: `.venv/bin/python bench/streaming.py [--n 50] [--concurrent 100] [--bursts 2]
[--size-mib 64] [--downloads 3] [--keep]`. `--keep` leaves the cluster running afterwards (for debugging) and
prints how to remove it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402

from cluster_helpers import IMAGE, Cluster, cleanup_node  # noqa: E402
from image_helpers import busybox_tar  # noqa: E402
from podfleet import procs  # noqa: E402
from podfleet.kubeconfig import read_kubeconfig  # noqa: E402
from runtime_helpers import unique  # noqa: E402
from server_helpers import free_port  # noqa: E402

KUBECTL = str(ROOT / ".venv" / "bin" / "kubectl")
POD = "streambench"
CONTAINER = "main"
HTTP_PORT = 8080
CONCURRENT_CMD = "sleep 2; echo ok"
# urllib without the environment's proxies: the pod IP and the forward's local port are reached directly
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchFailure(Exception):
    """Something did not work (as opposed to being slow): the run exits 1."""


# --- the cluster -------------------------------------------------------------------------------


class BenchCluster(Cluster):
    """`podfleet up` in a session of its own: a Ctrl-C in the terminal reaches this benchmark only,
    which then deletes the pod and stops the cluster in order rather than having it die under it."""

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        with open(self.data_dir / "up.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "podfleet", "up", "--data-dir", str(self.data_dir), "--port",
                 str(self.port), "--node-name", "node-1", "--pod-cidr", self.pod_cidr, "--bridge", self.bridge,
                 *self.extra], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.wait_for(lambda: self.kubectl("get", "node", "node-1", check=False).returncode == 0, 60, "node ready")

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.data_dir)}

    def alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise BenchFailure(f"podfleet up exited ({None if self.proc is None else self.proc.returncode})\n"
                               f"--- log tail:\n{self.log_tail()}")


@contextlib.contextmanager
def bench_cluster(work: Path, keep: bool) -> Iterator[BenchCluster]:
    data = work / "cluster"
    data.mkdir(parents=True)
    third = int(unique("")[:2], 16) % 200 + 20
    cluster = BenchCluster(data, free_port(), unique("pfs"), f"10.252.{third}.0/24")
    try:
        subprocess.run([sys.executable, "-m", "podfleet", "images", "--data-dir", str(data / "node"), "import",
                        str(busybox_tar(work / "busybox.tar")), IMAGE], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        cluster.start()
        yield cluster
    finally:
        if keep:
            pid = cluster.proc.pid if cluster.proc else 0
            print(f"\n--keep: cluster left running: pid {pid}, data dir {data}, "
                  f"bridge {cluster.bridge}, KUBECONFIG={cluster.kubeconfig}\n  remove it with: kill {pid}; "
                  f"tail --pid={pid} -f /dev/null; cd {ROOT} && PYTHONPATH=src:tests .venv/bin/python -c "
                  f"\"from pathlib import Path; from cluster_helpers import cleanup_node; "
                  f"cleanup_node(Path('{data}'), '{cluster.bridge}')\"; rm -rf {work}", flush=True)
        else:
            stop_cluster(cluster, data)
            shutil.rmtree(work, ignore_errors=True)


def stop_cluster(cluster: BenchCluster, data: Path) -> None:
    """Delete the pod (its containers stopped by the agent), stop `podfleet up`, then remove
    whatever is left on the machine. Each step runs even if the one before failed; a second
    Ctrl-C meanwhile is ignored, or the machine would keep a half-removed node."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if cluster.proc is not None and cluster.proc.poll() is None:
            with contextlib.suppress(Exception):
                cluster.kubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=30s", check=False,
                                timeout=40)
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.proc.send_signal(signal.SIGTERM)
            try:
                cluster.proc.wait(30)
            except subprocess.TimeoutExpired:
                cluster.proc.kill()
                cluster.proc.wait(10)
        cleanup_node(data, cluster.bridge)
    finally:
        signal.signal(signal.SIGINT, previous)


def bench_pod(size_mib: int) -> str:
    serve = (f"trap 'exit 0' TERM; mkdir -p /w && dd if=/dev/urandom of=/w/big.tmp bs=1M count={size_mib} 2>/dev/null"
             f" && md5sum /w/big.tmp > /w/big.md5 && mv /w/big.tmp /w/big && httpd -f -p {HTTP_PORT} -h /w & wait")
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD, "labels": {"bench": "streaming"}},
                       "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                           {"name": CONTAINER, "image": IMAGE, "command": ["sh", "-c", serve]}]}})


@dataclass
class Target:
    """The pod as the measurements need it."""
    uid: str
    ip: str
    container_id: str
    runc_root: Path
    md5: str
    size: int


def start_pod(cluster: BenchCluster, size_mib: int) -> Target:
    cluster.kubectl("apply", "-f", "-", input=bench_pod(size_mib))
    pod = cluster.wait_ready(POD, 90)
    uid, ip = pod["metadata"]["uid"], pod["status"]["podIP"]
    # The agent's runtime: ConmonRuntime(<data-dir>/node/runtime), whose runc state is `runtime/runc`;
    # container ids are `pf-<uid without dashes, 12>-<name>-<attempt>` (agent/records.py).
    runc_root = cluster.data_dir / "node" / "runtime" / "runc"
    prefix = f"pf-{uid.replace('-', '')[:12]}-{CONTAINER}-"
    listing = subprocess.run(["runc", "--root", str(runc_root), "list", "-f", "json"], capture_output=True,
                             text=True, check=True).stdout
    running = [c["id"] for c in json.loads(listing or "[]") or [] if c["id"].startswith(prefix)
               and c["status"] == "running"]
    if len(running) != 1:
        raise BenchFailure(f"expected one running container {prefix}* under {runc_root}, found {running}")

    def served() -> str | None:  # the file is written before httpd starts; its md5 beside it
        res = cluster.kubectl("exec", POD, "--", "cat", "/w/big.md5", check=False)
        if res.returncode != 0:
            return None
        with HTTP.open(f"http://{ip}:{HTTP_PORT}/big.md5", timeout=5) as resp:
            resp.read()
        return res.stdout.split()[0]

    md5 = str(cluster.wait_for(served, 120, "the pod's file served"))
    return Target(uid, ip, running[0], runc_root, md5, size_mib * 1024 * 1024)


# --- measurements ------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    vs = sorted(values)
    return vs[min(len(vs) - 1, max(0, round(p / 100 * (len(vs) - 1))))] if vs else float("nan")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def timed_run(argv: list[str], env: dict[str, str], what: str) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise BenchFailure(f"{what} exited {res.returncode}: {res.stdout.strip()} {res.stderr.strip()}")
    return dt


def exec_round_trips(cluster: BenchCluster, t: Target, n: int) -> dict[str, list[float]]:
    from kubernetes import client, config
    from kubernetes.stream import stream

    api = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))  # type: ignore[no-untyped-call]
    kenv = cluster.env()
    renv = procs.go_program_env(dict(os.environ))  # what the agent runs runc with

    def runc() -> float:
        return timed_run(["runc", "--root", str(t.runc_root), "exec", t.container_id, "true"], renv, "runc exec")

    def kubectl() -> float:
        return timed_run([KUBECTL, "exec", POD, "--", "true"], kenv, "kubectl exec")

    def python() -> float:
        t0 = time.perf_counter()
        resp = stream(api.connect_get_namespaced_pod_exec, POD, "default", container=CONTAINER, command=["true"],
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=30)
        dt = time.perf_counter() - t0
        code = resp.returncode
        resp.close()
        if code != 0:
            raise BenchFailure(f"Python client stream() exec exited {code}")
        return dt

    def kubectl_start() -> float:
        return timed_run([KUBECTL, "version", "--client", "-o", "json"], kenv, "kubectl version --client")

    paths: dict[str, Callable[[], float]] = {"runc": runc, "kubectl": kubectl, "python": python,
                                             "kubectl_start": kubectl_start}
    for fn in paths.values():  # warm up: page cache, the client's connection pool, the agent's code paths
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {k: [] for k in paths}
    order = list(paths)
    for i in range(n):
        for key in order[i % len(order):] + order[:i % len(order)]:
            times[key].append(paths[key]())
        cluster.alive()
    api.api_client.close()
    return times


def download(url: str, expect_size: int) -> tuple[float, bytes]:
    """Seconds to read the whole body; the body (hashed afterwards, outside the timing)."""
    buf = bytearray()
    t0 = time.perf_counter()
    with HTTP.open(url, timeout=60) as resp:
        while chunk := resp.read(1 << 20):
            buf += chunk
    dt = time.perf_counter() - t0
    if len(buf) != expect_size:
        raise BenchFailure(f"{url}: {len(buf)} bytes, expected {expect_size}")
    return dt, bytes(buf)


@contextlib.contextmanager
def port_forward(cluster: BenchCluster, local: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([KUBECTL, "port-forward", f"pod/{POD}", f"{local}:{HTTP_PORT}"], env=cluster.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        seen = ""
        ready = threading.Event()

        def read() -> None:  # kubectl's output, drained for as long as it runs (a full pipe would stall it)
            nonlocal seen
            assert proc.stdout is not None
            for line in proc.stdout:
                seen += line
                if f"127.0.0.1:{local}" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30):
            raise BenchFailure(f"kubectl port-forward did not start listening: {seen.strip()}")
        yield proc
        if proc.poll() is not None:
            raise BenchFailure(f"kubectl port-forward exited {proc.returncode}: {seen.strip()}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Throughput:
    mbps: dict[str, list[float]]
    # CPU seconds per downloaded MiB, by process, over the timed downloads of each path
    cpu_per_mib: dict[str, dict[str, float]]


def forward_throughput(cluster: BenchCluster, t: Target, downloads: int) -> Throughput:
    assert cluster.proc is not None
    local = free_port()
    urls = {"direct": f"http://{t.ip}:{HTTP_PORT}/big", "forward": f"http://127.0.0.1:{local}/big"}
    mbps: dict[str, list[float]] = {k: [] for k in urls}
    cpu: dict[str, dict[str, float]] = {k: {"podfleet": 0.0, "kubectl": 0.0, "bench": 0.0} for k in urls}
    with port_forward(cluster, local) as pf:
        pids = {"podfleet": cluster.proc.pid, "kubectl": pf.pid, "bench": os.getpid()}
        for key, url in urls.items():  # warm up (and check) both paths once
            _, body = download(url, t.size)
            if hashlib.md5(body).hexdigest() != t.md5:
                raise BenchFailure(f"{key}: the downloaded file differs from the pod's (md5)")
        for i in range(downloads):
            for key in (list(urls) if i % 2 == 0 else list(reversed(urls))):
                before = {k: cpu_seconds(p) for k, p in pids.items()}
                dt, body = download(urls[key], t.size)
                for k, p in pids.items():
                    cpu[key][k] += (cpu_seconds(p) - before[k]) / (downloads * t.size / 2**20)
                if hashlib.md5(body).hexdigest() != t.md5:
                    raise BenchFailure(f"{key}: the downloaded file differs from the pod's (md5)")
                mbps[key].append(t.size / dt / 1e6)
            cluster.alive()
    return Throughput(mbps, cpu)


@dataclass
class Session:
    ok: bool = False
    seconds: float = 0.0
    protocol: str = ""
    detail: str = ""


@dataclass
class ConcurrentResult:
    sessions: list[Session]
    wall: float
    rss_before: int
    rss_peak: int
    rss_after: int
    rss_settled: int
    failures: list[str] = field(default_factory=list)


async def one_exec(http: aiohttp.ClientSession, url: str, token: str, ctx: ssl.SSLContext) -> Session:
    """An exec session as a client speaks it: WebSocket, v5.channel.k8s.io (v4 offered too), stdout
    and stderr channels, the Status on channel 3 at the end."""
    s = Session()
    t0 = time.perf_counter()
    out, err, status = b"", b"", None
    try:
        async with http.ws_connect(url, params=[("command", "sh"), ("command", "-c"), ("command", CONCURRENT_CMD),
                                                ("container", CONTAINER), ("stdout", "true"), ("stderr", "true")],
                                   headers={"Authorization": f"Bearer {token}"}, ssl=ctx, max_msg_size=0,
                                   protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"),
                                   timeout=aiohttp.ClientWSTimeout(ws_close=10)) as ws:
            s.protocol = ws.protocol or ""
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                ch, data = msg.data[0], msg.data[1:]
                if ch == 1:
                    out += data
                elif ch == 2:
                    err += data
                elif ch == 3:
                    status = json.loads(data)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
        s.detail = f"{type(e).__name__}: {e}"
    s.seconds = time.perf_counter() - t0
    s.ok = out == b"ok\n" and isinstance(status, dict) and status.get("status") == "Success"
    if not s.ok and not s.detail:
        s.detail = f"stdout {out!r} stderr {err!r} status {status!r}"
    return s


async def peak_rss(pid: int, stop: asyncio.Event) -> int:
    """The highest RSS of `pid` seen, sampled every 50 ms until `stop` is set."""
    peak = 0
    while not stop.is_set():
        peak = max(peak, rss_kib(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    return peak


async def concurrent_execs(cluster: BenchCluster, count: int, bursts: int) -> list[ConcurrentResult]:
    """`bursts` bursts of `count` sessions at once, 5 s apart: a process that grows after the first
    and not after the second keeps a high-water mark (the allocator's), not a leak."""
    assert cluster.proc is not None
    pid = cluster.proc.pid
    server, ca, token = read_kubeconfig(cluster.kubeconfig)
    ctx = ssl.create_default_context(cadata=ca.decode())
    url = f"{server}/api/v1/namespaces/default/pods/{POD}/exec"
    results: list[ConcurrentResult] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ssl=ctx),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        warm = await one_exec(http, url, token, ctx)  # one first: a failure here is not a load problem
        if not warm.ok:
            raise BenchFailure(f"exec over WebSocket failed: {warm.detail}")
        await asyncio.sleep(1)
        for _ in range(bursts):
            before = rss_kib(pid)
            stop = asyncio.Event()
            sampler = asyncio.create_task(peak_rss(pid, stop))
            t0 = time.perf_counter()
            sessions = await asyncio.gather(*(one_exec(http, url, token, ctx) for _ in range(count)))
            wall = time.perf_counter() - t0
            stop.set()
            peak = await sampler
            after = rss_kib(pid)
            await asyncio.sleep(5)
            cluster.alive()
            results.append(ConcurrentResult(list(sessions), wall, before, max(peak, after), after, rss_kib(pid),
                                            [s.detail for s in sessions if not s.ok]))
    return results


# --- output ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_exec(times: dict[str, list[float]], n: int) -> None:
    ms = {k: [x * 1000 for x in v] for k, v in times.items()}
    print(f"\nexec round trip of `true`, {n} sequential each (interleaved), ms")
    print(f"  {'path':<58} {'p50':>8} {'p99':>8} {'mean':>8} {'min':>8}")
    rows = (("runc", "runc exec in the pod's container (the floor)"),
            ("kubectl", "kubectl exec POD -- true (the whole kubectl process)"),
            ("python", "Python client stream() (in-process, no program start)"),
            ("kubectl_start", "kubectl version --client (kubectl's own start; info)"))
    for key, label in rows:
        v = ms[key]
        print(f"  {label:<58} {statistics.median(v):>8.1f} {pct(v, 99):>8.1f} {statistics.mean(v):>8.1f} "
              f"{min(v):>8.1f}")
    floor = statistics.median(ms["runc"])
    for key, label in (("kubectl", "kubectl exec"), ("python", "Python stream()")):
        r50 = statistics.median(ms[key]) / floor
        r99 = pct(ms[key], 99) / pct(ms["runc"], 99)
        print(f"  ratio {label} / runc exec: p50 {r50:.2f}x, p99 {r99:.2f}x"
              f"{f' (target p50 <= 2x: {verdict(r50 <= 2)})' if key == 'kubectl' else ''}")
    beyond = statistics.median(ms["kubectl"]) - statistics.median(ms["kubectl_start"])
    print(f"  kubectl exec p50 minus kubectl's own start p50: {beyond:.1f} ms "
          f"(= {beyond / floor:.2f}x the floor)")


def print_forward(tp: Throughput, t: Target, downloads: int) -> None:
    mbps = tp.mbps
    print(f"\nport-forward throughput: {t.size >> 20} MiB file from busybox httpd, {downloads} downloads each "
          f"(alternating), urllib, MB/s; CPU ms per MiB of the podfleet process, kubectl and this client")
    print(f"  {'path':<40} {'median':>8} {'podfleet':>9} {'kubectl':>8} {'client':>7}   runs")
    for key, label in (("direct", f"straight to the pod IP ({t.ip})"), ("forward", "through kubectl port-forward")):
        c = tp.cpu_per_mib[key]
        print(f"  {label:<40} {statistics.median(mbps[key]):>8.1f} {c['podfleet'] * 1000:>9.2f} "
              f"{c['kubectl'] * 1000:>8.2f} {c['bench'] * 1000:>7.2f}   {' '.join(f'{x:.1f}' for x in mbps[key])}")
    ratio = statistics.median(mbps["forward"]) / statistics.median(mbps["direct"]) * 100
    print(f"  forward / direct: {ratio:.0f} % (target >= 50 %: {verdict(ratio >= 50)})")


def print_concurrent(results: list[ConcurrentResult], count: int) -> None:
    protos = sorted({s.protocol for r in results for s in r.sessions if s.protocol})
    print(f"\n{count} concurrent exec sessions of `sh -c '{CONCURRENT_CMD}'` (WebSocket clients in one event loop, "
          f"{', '.join(protos) or 'no protocol'}), {len(results)} bursts 5 s apart")
    print(f"  {'burst':<46} {''.join(f'{i:>10}' for i in range(1, len(results) + 1))}")

    def row(label: str, cell: Callable[[ConcurrentResult], str]) -> None:
        print(f"  {label:<46} {''.join(f'{cell(r):>10}' for r in results)}")

    row("sessions that printed ok and exited 0", lambda r: f"{sum(s.ok for s in r.sessions)}/{count}")
    row("wall time, all sessions, s (the command: 2 s)", lambda r: f"{r.wall:.2f}")
    row("one session, p50, s", lambda r: f"{statistics.median(s.seconds for s in r.sessions):.2f}")
    row("one session, max, s", lambda r: f"{max(s.seconds for s in r.sessions):.2f}")
    row("podfleet RSS before, MiB", lambda r: f"{r.rss_before / 1024:.1f}")
    row("podfleet RSS peak during, MiB", lambda r: f"{r.rss_peak / 1024:.1f}")
    row("podfleet RSS right after, MiB", lambda r: f"{r.rss_after / 1024:.1f}")
    row("podfleet RSS 5 s after, MiB", lambda r: f"{r.rss_settled / 1024:.1f}")
    for detail in [d for r in results for d in r.failures][:5]:
        print(f"  failed: {detail}")


def cpu_check_ms() -> float:
    """Milliseconds for a fixed piece of pure-CPU work: how fast the host let this run go."""
    t0 = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return (time.perf_counter() - t0) * 1000


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so that the finally blocks remove the cluster


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=50, help="sequential exec round trips per path")
    ap.add_argument("--concurrent", type=int, default=100, help="exec sessions opened at once")
    ap.add_argument("--bursts", type=int, default=2, help="bursts of concurrent sessions (RSS: leak or high-water)")
    ap.add_argument("--size-mib", type=int, default=64, help="size of the file downloaded")
    ap.add_argument("--downloads", type=int, default=3, help="downloads per path")
    ap.add_argument("--keep", action="store_true", help="leave the cluster running afterwards (debugging)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: podfleet up needs it")
    signal.signal(signal.SIGTERM, _terminate)
    print(f"host: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"CPU check {cpu_check_ms():.0f} ms", flush=True)
    work = Path(tempfile.mkdtemp(prefix="podfleet-bench-streaming-"))
    try:
        with bench_cluster(work, args.keep) as cluster:
            t = start_pod(cluster, args.size_mib)
            print(f"pod {POD} ({t.ip}), container {t.container_id}, runc root {t.runc_root}", flush=True)
            print_exec(exec_round_trips(cluster, t, args.n), args.n)
            sys.stdout.flush()
            print_forward(forward_throughput(cluster, t, args.downloads), t, args.downloads)
            sys.stdout.flush()
            conc = asyncio.run(concurrent_execs(cluster, args.concurrent, args.bursts))
            print_concurrent(conc, args.concurrent)
            cluster.alive()
    except BenchFailure as e:
        print(f"\nFAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; cluster removed" if not args.keep else "\ninterrupted", file=sys.stderr)
        return 130
    print(f"host CPU check after: {cpu_check_ms():.0f} ms")
    return 1 if any(r.failures for r in conc) else 0


if __name__ == "__main__":
    sys.exit(main())
