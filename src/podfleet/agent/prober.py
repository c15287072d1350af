"""Liveness, readiness and startup probes: one asyncio task per (container instance, probe).

As kubelet's prober workers: wait `initialDelaySeconds`, then probe every `periodSeconds` with
`timeoutSeconds`; a result flips only after `successThreshold` / `failureThreshold` consecutive
results. Readiness starts False when a readiness probe exists; liveness and startup failures ask
the pod worker (through `on_change`) to restart the container. Probe traffic goes to the pod's own
IP (inside a namespace podfleet created) or, for exec probes, runs inside the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc  # type: ignore[import-untyped]
from grpc_health.v1 import health_pb2, health_pb2_grpc

from podfleet.agent.prometheus import AgentMetrics
from podfleet.clock import Clock, RealClock

log = logging.getLogger("podfleet.agent.prober")

ExecFn = Callable[[list[str], float], Awaitable[int]]  # argv, timeout -> exit code
ChangeFn = Callable[[str, str, str, bool], None]  # pod uid, container, probe kind, new result


@dataclass
class ProbeTarget:
    pod_uid: str
    container: str
    container_id: str
    pod_ip: str
    ports: dict[str, int]  # named container ports
    exec_fn: ExecFn
    pod: str = ""  # namespace and name, for the metrics' labels
    namespace: str = ""


def _port(value: Any, ports: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and value in ports:
        return ports[value]
    raise ValueError(f"unknown port {value!r}")


async def http_status(host: str, port: int, path: str, headers: dict[str, str]) -> int:
    """The status code of `GET path` over plain HTTP/1.1 (redirects are not followed: 3xx is the answer).

    A probe only needs the status line, and a hundred containers probed every second make a full
    HTTP client session per probe a real cost for the agent; this is one connection, one request
    line and one response line.
    """
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    fields = {"Host": authority, "Accept": "*/*", "Connection": "close", **headers}
    if any(c in path for c in "\r\n ") or any(c in t for t in (*fields, *fields.values()) for c in "\r\n"):
        raise ValueError("HTTP probe: a line break in a header, or a line break or space in the path")
    request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    loop = asyncio.get_running_loop()
    # A bare non-blocking socket: no transport, protocol and stream objects for one line each way.
    family, _, _, _, address = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
        await loop.sock_sendall(sock, request.encode("latin-1"))
        line = b""
        while b"\n" not in line and len(line) < 8192:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                break
            line += chunk
    parts = line.split(b"\n", 1)[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"malformed HTTP response: {line[:80]!r}")
    return int(parts[1])


async def run_probe(probe: dict[str, Any], target: ProbeTarget) -> tuple[bool, str]:
    """One probe attempt → (success, message)."""
    timeout = float(probe.get("timeoutSeconds", 1) or 1)
    try:
        if "exec" in probe:
            code = await target.exec_fn(list(probe["exec"].get("command") or []), timeout)
            return code == 0, f"command exited with {code}"
        if "httpGet" in probe:
            h = probe["httpGet"]
            host = h.get("host") or target.pod_ip or "127.0.0.1"
            port = _port(h.get("port"), target.ports)
            scheme = str(h.get("scheme", "HTTP")).lower()
            path = h.get("path", "/") or "/"
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/1.31")
            path = path if path.startswith("/") else "/" + path
            if scheme == "https":
                url = f"https://{host}:{port}{path}"
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s, \
                        s.get(url, headers=headers, ssl=False, allow_redirects=False) as resp:
                    status = resp.status
            else:
                async with asyncio.timeout(timeout):
                    status = await http_status(host, port, path, headers)
            ok = 200 <= status < 400
            return ok, f"HTTP probe failed with statuscode: {status}" if not ok else ""
        if "grpc" in probe:
            return await _grpc_health(probe["grpc"], target, timeout)
        if "tcpSocket" in probe:
            t = probe["tcpSocket"]
            host = t.get("host") or target.pod_ip or "127.0.0.1"
            port = _port(t.get("port"), target.ports)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return True, ""
        return False, "probe has no handler"
    except TimeoutError:
        return False, f"probe timed out after {timeout}s"
    except (OSError, aiohttp.ClientError, ValueError) as e:
        return False, str(e)


async def _grpc_health(action: dict[str, Any], target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    """The gRPC Health Checking Protocol's Check, as kubelet's gRPC probe asks it (plain text, the
    pod IP, `service` as given)."""
    service = str(action.get("service") or "")
    address = f"{target.pod_ip or '127.0.0.1'}:{int(action.get('port', 0))}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.aio.AioRpcError as e:
        if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return False, f'timeout: health rpc did not complete within {timeout:g}s'
        return False, f"rpc error: code = {e.code().name} desc = {e.details()}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return False, f'service unhealthy (responded with "{status}")'
    return True, ""


class ProbeWorker:
    def __init__(self, kind: str, probe: dict[str, Any], target: ProbeTarget, on_change: ChangeFn,
                 clock: Clock, started: asyncio.Event | None = None, metrics: AgentMetrics | None = None) -> None:
        """`started`: set once the container's startup probe passed; liveness and readiness probes
        wait for it (kubelet runs neither before), a startup probe sets it."""
        self.kind = kind  # liveness | readiness | startup
        self.started = started
        self.probe = probe
        self.target = target
        self.on_change = on_change
        self.clock = clock
        self.metrics = metrics
        # Readiness starts failed, liveness passing, startup unknown (not started until it passes).
        self.result: bool | None = {"readiness": False, "liveness": True}.get(kind)
        self.last_message = ""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"probe-{self.kind}-{self.target.container}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        p = self.probe
        if self.started is not None and self.kind != "startup":
            await self.started.wait()
        await self.clock.sleep(float(p.get("initialDelaySeconds", 0) or 0))
        period = float(p.get("periodSeconds", 10) or 10)
        success_needed = int(p.get("successThreshold", 1) or 1)
        failure_needed = int(p.get("failureThreshold", 3) or 3)
        streak_ok = streak_bad = 0
        while True:
            ok, msg = await run_probe(p, self.target)
            self.last_message = msg
            if self.metrics is not None:
                t = self.target
                self.metrics.probed(self.kind.capitalize(), ok, t.container, t.pod, t.namespace)
            if ok:
                streak_ok, streak_bad = streak_ok + 1, 0
            else:
                streak_ok, streak_bad = 0, streak_bad + 1
            new = self.result
            if ok and streak_ok >= success_needed:
                new = True
            elif not ok and streak_bad >= failure_needed:
                new = False
            if new != self.result:
                self.result = new
                self.on_change(self.target.pod_uid, self.target.container, self.kind, bool(new))
            if self.kind == "startup" and self.result and ok:
                if self.started is not None:
                    self.started.set()
                return  # startup probes stop once they succeed
            await self.clock.sleep(period)


class ProbeManager:
    """Holds the probe workers of every running container instance on the node."""

    def __init__(self, on_change: ChangeFn, clock: Clock | None = None, metrics: AgentMetrics | None = None) -> None:
        self.on_change = on_change
        self.clock = clock or RealClock()
        self.metrics = metrics
        self._workers: dict[tuple[str, str], list[ProbeWorker]] = {}  # (uid, container id) -> workers

    def ensure(self, container_spec: dict[str, Any], target: ProbeTarget) -> None:
        key = (target.pod_uid, target.container_id)
        if key in self._workers:
            return
        self.remove_container(target.pod_uid, target.container)
        workers = []
        started = asyncio.Event() if container_spec.get("startupProbe") else None
        for kind, field in (("startup", "startupProbe"), ("liveness", "livenessProbe"),
                            ("readiness", "readinessProbe")):
            probe = container_spec.get(field)
            if probe:
                w = ProbeWorker(kind, probe, target, self.on_change, self.clock, started, self.metrics)
                w.start()
                workers.append(w)
        self._workers[key] = workers

    def _find(self, uid: str, container: str) -> list[ProbeWorker]:
        return [w for (u, _), ws in self._workers.items() if u == uid for w in ws
                if w.target.container == container]

    def readiness(self, uid: str, container: str) -> bool | None:
        """None when the container has no readiness probe (ready as soon as it runs)."""
        return next((w.result is True for w in self._find(uid, container) if w.kind == "readiness"), None)

    def started(self, uid: str, container: str) -> bool | None:
        """Whether its startup probe passed; None when it has none (started as soon as it runs)."""
        return next((w.result is True for w in self._find(uid, container) if w.kind == "startup"), None)

    def liveness_failed(self, uid: str, container: str) -> str | None:
        for w in self._find(uid, container):
            if w.kind in ("liveness", "startup") and w.result is False:
                return f"{w.kind.capitalize()} probe failed: {w.last_message}"
        return None

    def remove_container(self, uid: str, container: str) -> None:
        for key in [k for k, ws in self._workers.items() if k[0] == uid and
                    any(w.target.container == container for w in ws)]:
            for w in self._workers.pop(key):
                w.stop()

    def remove_pod(self, uid: str) -> None:
        for key in [k for k in self._workers if k[0] == uid]:
            for w in self._workers.pop(key):
                w.stop()
