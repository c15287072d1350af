"""API server benchmark: create-pod latency and throughput, watch fan-out delivery, and large LISTs.

Starts `podfleet server` as a separate process on a temporary data dir (SQLite, the default) and,
as the peer measured in the same run, the same server on a real etcd (the store Kubernetes uses),
then drives each with the HTTPS client podfleet's own components use:

- create-pod latency p50/p99 and throughput with 1, 10 and 50 concurrent clients;
- watch delivery: 100 watchers on pods, N writes; every watcher must see every event, in order,
  with no gaps; prints delivery latency p50/p99.
- large lists, on a fresh server: 10,000 pods created by 100 concurrent clients (create p99), the
  server's RSS once they exist, 10 unpaginated LISTs of all of them (time until the whole body is
  received, and separately with the client's JSON decode), and the server's RSS after them: a list
  must not leave the server holding hundreds of MB.
- authorization cost, on a fresh server: the admin credential is in system:masters, which is allowed
  before RBAC is looked at, so the rows above never exercise RBAC. This section makes a user with
  `podfleet user-kubeconfig`, binds it to ClusterRole `edit` in a bench namespace with one
  RoleBinding among 1,000 others (to other users, groups and ServiceAccounts, over 50 namespaces and
  the bench one), and measures create-pod latency p50/p99 as admin and as that user with 1 and 10
  clients, each client taking turns between the two identities request by request (so a busy host's
  drift does not favour either); prints the user/admin p50 ratio.

Every namespace pods are created in first gets its ServiceAccount `default`: the ServiceAccount
admission plugin refuses pods without it, and `podfleet server` alone runs no controller making it.

Targets (issue 2): p99 create ≤ 50 ms at 10 clients; every watcher sees every event in order.
Targets ("API server hardening"): LIST of 10,000 pods ≤ 100 ms; p99 create ≤ 50 ms at 100 clients;
server RSS at 10,000 pods and after 10 LISTs ≤ 150 MB.
Target (authorization): RBAC adds ≤ 5 % to create p50 with 1,000 RoleBindings present (user/admin
p50 ≤ 1.05, at 1 and 10 clients).
Run: `.venv/bin/python bench/api.py [--pods 300] [--list-pods 10000] [--skip-etcd] [--skip-authz]
[--rolebindings 1000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from podfleet.api.errors import AlreadyExists, Forbidden, Unauthorized  # noqa: E402
from podfleet.api.resources import NAMESPACES, PODS, ROLEBINDINGS, SERVICEACCOUNTS  # noqa: E402
from podfleet.client.rest import RESTClient, resource_path  # noqa: E402
from podfleet.kubeconfig import read_kubeconfig  # noqa: E402

LIST_TARGET_MS = 100.0
CREATE_TARGET_MS = 50.0
RSS_TARGET_MB = 150.0
AUTHZ_TARGET_RATIO = 1.05
AUTHZ_NAMESPACE = "bench-authz"
AUTHZ_USER = "bench-user"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    vs = sorted(values)
    k = min(len(vs) - 1, max(0, round(p / 100 * (len(vs) - 1))))
    return vs[k]


@contextlib.contextmanager
def etcd_server(workdir: Path) -> Iterator[str]:
    client, peer = free_port(), free_port()
    proc = subprocess.Popen(
        ["etcd", "--data-dir", str(workdir / "etcd"), "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}", "--listen-peer-urls",
         f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", client), 0.2):
                break
            time.sleep(0.1)
        yield f"etcd://127.0.0.1:{client}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident set (or, with `VmHWM`, its peak) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def podfleet_server(workdir: Path, storage: str, pids: list[int] | None = None) -> Iterator[Path]:
    """The server process; its pid is appended to `pids` when given (to read its memory)."""
    port = free_port()
    data = workdir / f"server-{port}"
    cmd = [sys.executable, "-m", "podfleet", "server", "--data-dir", str(data), "--port", str(port),
           "--bind-address", "127.0.0.1", "--log-level", "warning"]
    if storage:
        cmd += ["--storage", storage]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if pids is not None:
        pids.append(proc.pid)
    try:
        kubeconfig = data / "admin.kubeconfig"
        deadline = time.time() + 30
        while time.time() < deadline and not kubeconfig.exists():
            time.sleep(0.1)
        time.sleep(0.3)
        yield kubeconfig
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "api"}},
            "spec": {"containers": [{"name": "main", "image": "busybox", "ports": [{"containerPort": 8080}]}]}}


async def prepare_namespace(kubeconfig: Path, namespace: str) -> None:
    """The namespace (unless `default`) and its ServiceAccount `default`: the ServiceAccount admission
    plugin refuses a pod whose ServiceAccount does not exist, and `podfleet server` alone runs no
    controller that would make it."""
    client = RESTClient.from_kubeconfig(kubeconfig)
    try:
        if namespace != "default":
            with contextlib.suppress(AlreadyExists):
                await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": namespace}})
        with contextlib.suppress(AlreadyExists):
            await client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                  "metadata": {"name": "default"}}, namespace)
    finally:
        await client.close()


async def create_latencies(kubeconfig: Path, clients: int, total: int, prefix: str,
                           namespace: str = "default") -> tuple[list[float], float]:
    """Create `total` pods from `clients` concurrent clients: each create's latency (s), and the wall time."""
    # A RESTClient pools at most 64 connections: one per 50 clients gives each a connection of its own.
    pool = [RESTClient.from_kubeconfig(kubeconfig) for _ in range(-(-clients // 50))]
    for c in pool:
        await c.list(PODS, namespace, limit=1)  # warm the connection pools
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(client: RESTClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            await client.create(PODS, pod(f"{prefix}-{i}"), namespace)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(pool[i % len(pool)]) for i in range(clients)))
        elapsed = time.perf_counter() - start
    finally:
        for c in pool:
            await c.close()
    return latencies, elapsed


async def create_run(kubeconfig: Path, clients: int, total: int, prefix: str) -> dict[str, float]:
    latencies, elapsed = await create_latencies(kubeconfig, clients, total, prefix)
    return {"p50": pct(latencies, 50) * 1000, "p99": pct(latencies, 99) * 1000, "rate": total / elapsed}


async def watch_run(kubeconfig: Path, watchers: int, events: int) -> dict[str, float]:
    clients = [RESTClient.from_kubeconfig(kubeconfig) for _ in range(4)]
    writer = RESTClient.from_kubeconfig(kubeconfig)
    start_rv = (await writer.list(PODS, "default", limit=1))["metadata"]["resourceVersion"]
    sent_at: dict[str, float] = {}
    seen: list[list[str]] = [[] for _ in range(watchers)]
    delays: list[float] = []
    done = asyncio.Event()
    finished = 0

    async def watcher(idx: int) -> None:
        nonlocal finished
        client = clients[idx % len(clients)]
        async for ev in client.watch(PODS, "default", resource_version=start_rv,
                                     label_selector="bench=watch"):
            if ev.type not in ("ADDED", "MODIFIED", "DELETED"):
                continue
            name = ev.object["metadata"]["name"]
            seen[idx].append(ev.object["metadata"]["resourceVersion"])
            if name in sent_at:
                delays.append(time.perf_counter() - sent_at[name])
            if len(seen[idx]) == events:
                finished += 1
                if finished == watchers:
                    done.set()
                return

    tasks = [asyncio.create_task(watcher(i)) for i in range(watchers)]
    await asyncio.sleep(1.0)
    created_rvs: list[str] = []
    for i in range(events):
        body = pod(f"watch-{i}")
        body["metadata"]["labels"] = {"bench": "watch"}
        sent_at[f"watch-{i}"] = time.perf_counter()
        obj = await writer.create(PODS, body, "default")
        created_rvs.append(obj["metadata"]["resourceVersion"])
    ok = True
    try:
        await asyncio.wait_for(done.wait(), 60)
    except TimeoutError:
        ok = False
    for t in tasks:
        t.cancel()
    in_order = all(s == created_rvs for s in seen)
    for c in [*clients, writer]:
        await c.close()
    return {"ok": float(ok and in_order), "p50": pct(delays, 50) * 1000, "p99": pct(delays, 99) * 1000,
            "complete": float(sum(len(s) == events for s in seen))}


async def list_run(kubeconfig: Path, pid: int, pods: int, lists: int) -> list[tuple[str, dict[str, float]]]:
    """`pods` pods from 100 clients, then `lists` full LISTs; the server's memory before and after."""
    await prepare_namespace(kubeconfig, "default")
    rows = [("create x100", await create_run(kubeconfig, 100, pods, "l"))]
    rss_full = rss_mb(pid)
    server, ca, token = read_kubeconfig(kubeconfig)
    ctx = ssl.create_default_context(cadata=ca.decode())
    url = server.rstrip("/") + resource_path(PODS, "default")
    raw_ms: list[float] = []
    decoded_ms: list[float] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                                     connector=aiohttp.TCPConnector(ssl=ctx)) as sess:
        for _ in range(lists):
            t0 = time.perf_counter()
            async with sess.get(url) as resp:
                body = await resp.read()
            raw_ms.append((time.perf_counter() - t0) * 1000)
            items = len(json.loads(body)["items"])
            decoded_ms.append((time.perf_counter() - t0) * 1000)
            if resp.status != 200 or items != pods:
                raise RuntimeError(f"LIST returned {resp.status} with {items} of {pods} pods")
            del body
    rows.append(("list", {"p50": pct(raw_ms, 50), "p99": pct(raw_ms, 99), "rate": 1000 / pct(raw_ms, 50)}))
    rows.append(("list+decode", {"p50": pct(decoded_ms, 50), "p99": pct(decoded_ms, 99),
                                 "rate": 1000 / pct(decoded_ms, 50)}))
    rows.append(("rss MB", {"p50": rss_full, "p99": rss_mb(pid), "rate": rss_mb(pid, "VmHWM")}))
    return rows


def user_kubeconfig(admin_kubeconfig: Path, name: str) -> Path:
    """A kubeconfig for user `name` (not in system:masters, so every request of it is decided by RBAC),
    made by the documented `podfleet user-kubeconfig` on the running server's data dir (the server
    re-reads its token file when it changes)."""
    server, _, _ = read_kubeconfig(admin_kubeconfig)
    data = admin_kubeconfig.parent
    out = subprocess.run([sys.executable, "-m", "podfleet", "user-kubeconfig", name, "--data-dir", str(data),
                          "--server", server], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    path = data / f"{name}.kubeconfig"
    path.write_text(out.stdout)
    return path


def rolebinding(name: str, namespace: str, role: str, subject: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [subject]}


async def authz_setup(kubeconfig: Path, bindings: int, namespaces: int) -> Path:
    """`bindings` RoleBindings to other users, groups and ServiceAccounts over `namespaces` namespaces
    and the bench namespace, then the one binding the bench user to ClusterRole `edit` in the bench
    namespace (last, so once the user is allowed the policy has taken in all the others); returns the
    user's kubeconfig once RBAC allows it and refuses it elsewhere."""
    spread = [AUTHZ_NAMESPACE] + [f"authz-filler-{i:02d}" for i in range(namespaces)]
    await asyncio.gather(*(prepare_namespace(kubeconfig, ns) for ns in spread))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(bindings):
        queue.put_nowait(i)

    def filler(i: int) -> dict[str, Any]:
        ns = spread[i % len(spread)]
        subject = [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": f"user-{i}"},
                   {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": f"group-{i}"},
                   {"kind": "ServiceAccount", "name": f"sa-{i}", "namespace": ns}][i % 3]
        return rolebinding(f"filler-{i}", ns, ("view", "edit", "admin")[i % 3], subject)

    async with contextlib.AsyncExitStack() as stack:
        admin = RESTClient.from_kubeconfig(kubeconfig)
        stack.push_async_callback(admin.close)

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await admin.create(ROLEBINDINGS, filler(i))

        await asyncio.gather(*(worker() for _ in range(20)))
        await admin.create(ROLEBINDINGS, rolebinding(
            f"{AUTHZ_USER}-edit", AUTHZ_NAMESPACE, "edit",
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": AUTHZ_USER}))
        total = 0
        for ns in spread:
            total += len((await admin.list(ROLEBINDINGS, ns))["items"])
        if total != bindings + 1:
            raise RuntimeError(f"{total} RoleBindings in the bench namespaces, expected {bindings + 1}")

        user_kc = user_kubeconfig(kubeconfig, AUTHZ_USER)
        user = RESTClient.from_kubeconfig(user_kc)
        stack.push_async_callback(user.close)
        deadline = time.time() + 30
        while True:  # the authorizer's policy follows a watch: wait until it has the user's binding
            try:
                await user.list(PODS, AUTHZ_NAMESPACE, limit=1)
                break
            except (Forbidden, Unauthorized):
                if time.time() > deadline:
                    raise
                await asyncio.sleep(0.1)
        try:  # the user is not an admin in disguise: RBAC refuses it outside the bench namespace
            await user.create(PODS, pod("authz-denied"), "default")
            raise RuntimeError(f"{AUTHZ_USER} may create pods in default: RBAC is not being evaluated")
        except Forbidden:
            pass
    return user_kc


async def interleaved_latencies(sides: dict[str, Path], clients: int, total: int, prefix: str,
                                namespace: str) -> tuple[dict[str, list[float]], float]:
    """`total` pods per side from `clients` concurrent workers, each with a client of every side and
    taking turns between the sides request by request (ABBA BAAB ..., so neither is always first), so
    both see the same server load at the same moments: each side's latencies (s), and the wall time."""
    names = list(sides)
    pool = [{side: RESTClient.from_kubeconfig(kc) for side, kc in sides.items()} for _ in range(clients)]
    latencies: dict[str, list[float]] = {side: [] for side in names}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(own: dict[str, RESTClient]) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for side in names if (i % 2 == 0) == (i // 2 % 2 == 0) else names[::-1]:
                t0 = time.perf_counter()
                await own[side].create(PODS, pod(f"{prefix}-{side}-{i}"), namespace)
                latencies[side].append(time.perf_counter() - t0)

    try:
        for own in pool:
            for c in own.values():
                await c.list(PODS, namespace, limit=1)  # warm the connections
        start = time.perf_counter()
        await asyncio.gather(*(worker(own) for own in pool))
        elapsed = time.perf_counter() - start
    finally:
        for own in pool:
            for c in own.values():
                await c.close()
    return latencies, elapsed


async def authz_run(kubeconfig: Path, total: int, bindings: int, namespaces: int) -> list[dict[str, float]]:
    """Create-pod latency as admin (system:masters, allowed before RBAC) and as a user RBAC decides,
    in the same namespace, `total` pods per side with 1 and with 10 concurrent clients, the two
    identities taking turns request by request (`interleaved_latencies`), so drift in a busy host
    does not bias one side."""
    user_kc = await authz_setup(kubeconfig, bindings, namespaces)
    sides = {"admin": kubeconfig, "user": user_kc}
    await interleaved_latencies(sides, 10, 25, "a-warm", AUTHZ_NAMESPACE)  # warm both paths, unmeasured
    rows = []
    for clients in (1, 10):
        latencies, elapsed = await interleaved_latencies(sides, clients, total, f"a{clients}", AUTHZ_NAMESPACE)
        row: dict[str, float] = {"clients": clients}
        for side in sides:
            row[f"{side}_p50"] = pct(latencies[side], 50) * 1000
            row[f"{side}_p99"] = pct(latencies[side], 99) * 1000
        row["rate"] = 2 * total / elapsed
        rows.append(row)
    return rows


def print_authz(rows: list[dict[str, float]], args: argparse.Namespace) -> None:
    print(f"authorization: create-pod latency, admin (system:masters, allowed before RBAC) vs a user RBAC "
          f"decides (one RoleBinding to `edit`) with {args.rolebindings} other RoleBindings over "
          f"{args.authz_namespaces + 1} namespaces; {args.pods} pods per side and level, each client "
          f"taking turns between the two request by request")
    print(f"{'clients':>7} {'admin p50':>10} {'admin p99':>10} {'user p50':>9} {'user p99':>9} "
          f"{'ops/s':>7} {'user/admin p50':>15}  target <= {AUTHZ_TARGET_RATIO:.2f}")
    for r in rows:
        ratio = r["user_p50"] / r["admin_p50"]
        print(f"{int(r['clients']):>7} {r['admin_p50']:>10.2f} {r['admin_p99']:>10.2f} {r['user_p50']:>9.2f} "
              f"{r['user_p99']:>9.2f} {r['rate']:>7.0f} {ratio:>15.3f}  "
              + _met(ratio <= AUTHZ_TARGET_RATIO))


async def bench(kubeconfig: Path, label: str, total: int) -> list[tuple[str, str, dict[str, float]]]:
    await prepare_namespace(kubeconfig, "default")
    rows = []
    for clients in (1, 10, 50):
        rows.append((label, f"create x{clients}", await create_run(kubeconfig, clients, total, f"c{clients}")))
    rows.append((label, "watch x100", await watch_run(kubeconfig, 100, 50)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=300, help="pods created per concurrency level")
    ap.add_argument("--list-pods", type=int, default=10_000, help="pods in the large-list test (0: skip it)")
    ap.add_argument("--lists", type=int, default=10, help="LISTs of all pods in the large-list test")
    ap.add_argument("--skip-etcd", action="store_true")
    ap.add_argument("--skip-authz", action="store_true", help="skip the authorization (RBAC) cost test")
    ap.add_argument("--rolebindings", type=int, default=1000, help="other RoleBindings in the authorization test")
    ap.add_argument("--authz-namespaces", type=int, default=50,
                    help="namespaces (besides the bench one) the other RoleBindings are spread over")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podfleet-bench-api-"))
    rows: list[tuple[str, str, dict[str, float]]] = []
    authz_rows: list[dict[str, float]] = []
    try:
        with podfleet_server(work, "") as kc:
            rows += asyncio.run(bench(kc, "podfleet/sqlite", args.pods))
        if not args.skip_authz:
            with podfleet_server(work, "") as kc:
                authz_rows = asyncio.run(authz_run(kc, args.pods, args.rolebindings, args.authz_namespaces))
        if args.list_pods:
            pids: list[int] = []
            with podfleet_server(work, "", pids) as kc:
                rows += [("podfleet/sqlite", test, r)
                         for test, r in asyncio.run(list_run(kc, pids[0], args.list_pods, args.lists))]
        if not args.skip_etcd and shutil.which("etcd"):
            try:
                with etcd_server(work) as url, podfleet_server(work, url) as kc:
                    rows += asyncio.run(bench(kc, "podfleet/etcd (peer)", args.pods))
            except Exception as e:  # the etcd backend is optional; say so rather than fail the bench
                print(f"(etcd peer not measured: {e})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'backend':<22} {'test':<12} {'p50 ms':>8} {'p99 ms':>8} {'ops/s':>8}  notes")
    by_test: dict[str, dict[str, dict[str, float]]] = {}
    for backend, test, r in rows:
        by_test.setdefault(test, {})[backend] = r
        note = ""
        if test.startswith("watch"):
            note = f"{int(r['complete'])}/100 watchers complete, in order: {'yes' if r['ok'] else 'NO'}"
        elif test in ("create x10", "create x100"):
            note = f"target p99 <= {CREATE_TARGET_MS:.0f} ms: " + _met(r["p99"] <= CREATE_TARGET_MS)
        elif test == "list":
            note = (f"{args.list_pods} pods, whole body received; target <= {LIST_TARGET_MS:.0f} ms: "
                    + _met(r["p99"] <= LIST_TARGET_MS))
        elif test == "list+decode":
            note = "the same, and decoded by the client (json.loads)"
        elif test == "rss MB":
            note = (f"p50 col: at {args.list_pods} pods, p99 col: after {args.lists} LISTs, ops/s col: peak; "
                    f"target <= {RSS_TARGET_MB:.0f} MB: " + _met(max(r["p50"], r["p99"]) <= RSS_TARGET_MB))
        print(f"{backend:<22} {test:<12} {r['p50']:>8.1f} {r['p99']:>8.1f} {r.get('rate', 0):>8.0f}  {note}")
    print()
    for test, per in by_test.items():
        if "podfleet/sqlite" in per and "podfleet/etcd (peer)" in per and per["podfleet/etcd (peer)"]["p99"]:
            ratio = per["podfleet/sqlite"]["p99"] / per["podfleet/etcd (peer)"]["p99"]
            print(f"ratio sqlite/etcd p99 for {test}: {ratio:.2f}x")
    if authz_rows:
        print()
        print_authz(authz_rows, args)


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
