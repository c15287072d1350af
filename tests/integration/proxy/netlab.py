"""A node, its pods and a client, each in a network namespace of its own, for the Service proxy's
integration tests and benchmark. Nothing is added to the host's own namespace: every link is made
inside the namespaces (so short fixed names like `br0` cannot clash), every address is private to
them, and deleting the namespaces removes it all.

    client ns                      node ns                                pod ns (a, b, ...)
    eth0 192.168.77.2/24  <---->   uplink 192.168.77.1/24 (node IP)
         10.244.2.2, .3 (pods of   br0 10.244.1.1/24 (pod CIDR gateway)   eth0 10.244.1.x/24
         "another node")             vethX (on br0, hairpin) <---->       default via 10.244.1.1

The node forwards, routes the service CIDR and the other node's pod to the client (its uplink, as
a node's default route would) and holds the proxy's table. Pods run `SERVER` (HTTP and UDP answering
with their name); requests are made by `CLIENT` inside whichever namespace they should come from.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NODE_IP = "192.168.77.1"
CLIENT_IP = "192.168.77.2"  # outside the cluster CIDR
REMOTE_POD_IP = "10.244.2.2"  # the client namespace's second address: a pod of another node
# A third: a second pod there. Thousands of connections from one address reuse its ports, and a reply
# tuple (backend:port -> client:port) still in conntrack from one path clashes with the other's.
REMOTE_POD_IP_2 = "10.244.2.3"
GATEWAY = "10.244.1.1"
POD_CIDR = "10.244.1.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
HTTP_PORT = 8080
UDP_PORT = 5353

SERVER = r'''
import asyncio, socket, sys
name, ip, tcp_port, udp_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def answer(peer):  # the backend's name and the source address it saw (masqueraded or not)
    return ("%s %s" % (name, peer[0])).encode()

async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        body = answer(writer.get_extra_info("peername"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    except Exception:
        pass
    writer.close()

class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, addr):
        self.transport.sendto(answer(addr), addr)

async def main():
    server = await asyncio.start_server(handle, ip, tcp_port, backlog=1024, reuse_address=True)
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Echo, local_addr=(ip, udp_port))
    print("ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
'''

CLIENT = r'''
import asyncio, json, socket, sys, time
mode, target, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else ""
count = float(sys.argv[5]) if len(sys.argv) > 5 else 1  # requests, or seconds of load
sport = int(sys.argv[6]) if len(sys.argv) > 6 else 0

async def connect():
    if not src:
        return await asyncio.open_connection(target, port)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # IP_BIND_ADDRESS_NO_PORT: the port is picked at connect(), per destination, so a long run of
    # short connections from one address does not run out of ports.
    s.setsockopt(socket.SOL_IP, 24, 1)
    s.bind((src, 0))
    s.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(s, (target, port))
    except BaseException:
        s.close()
        raise
    return await asyncio.open_connection(sock=s)

async def one(results):
    try:
        r, w = await asyncio.wait_for(connect(), 2)
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await asyncio.wait_for(r.read(), 2)
        w.close()
        name = data.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in data else "garbled"
    except ConnectionRefusedError:
        name = "refused"
    except (asyncio.TimeoutError, TimeoutError):
        name = "timeout"
    except OSError as e:
        name = "error:" + (e.strerror or str(e))
    results[name] = results.get(name, 0) + 1

async def http():
    results = {}
    for _ in range(int(count)):
        await one(results)
    return results

async def load(seconds, conns):
    done = 0
    failed = 0
    deadline = time.monotonic() + seconds
    failures = {}
    async def worker():
        nonlocal done, failed
        while time.monotonic() < deadline:
            results = {}
            await one(results)
            if all(k.split()[0] in ("a", "b") for k in results):
                done += 1
            else:
                failed += 1
                for k in results:
                    failures[k] = failures.get(k, 0) + 1
    await asyncio.gather(*(worker() for _ in range(conns)))
    return {"requests": done, "failed": failed, "seconds": seconds, "failures": failures}

def udp():
    results = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src or "0.0.0.0", sport))
    s.settimeout(1.0)
    for _ in range(int(count)):
        s.sendto(b"ping", (target, port))
        try:
            name = s.recv(100).decode()
        except OSError:
            name = "timeout"
        results[name] = results.get(name, 0) + 1
    return results

if mode == "http":
    print(json.dumps(asyncio.run(http())))
elif mode == "load":
    print(json.dumps(asyncio.run(load(count, sport or 16))))
else:
    print(json.dumps(udp()))
'''


def run(*argv: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(argv, capture_output=True, input=input)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.decode().strip()}")
    return res


def netns_path(name: str) -> str:
    return f"/var/run/netns/{name}"


@contextlib.contextmanager
def throwaway_netns(prefix: str = "pfx") -> Iterator[str]:
    """A network namespace of a unique name, deleted (with all it holds) afterwards; yields its path."""
    name = f"{prefix}{secrets.token_hex(3)}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield netns_path(name)
    finally:
        run("ip", "netns", "del", name, check=False)


@dataclass
class Pod:
    name: str
    ip: str
    netns: str
    server: subprocess.Popen[bytes] | None = None


@dataclass
class Lab:
    prefix: str
    pods: dict[str, Pod] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    workdir: Path = Path("/tmp")

    @property
    def node_ns(self) -> str:
        return f"{self.prefix}n"

    @property
    def client_ns(self) -> str:
        return f"{self.prefix}c"

    @property
    def node_netns_path(self) -> str:
        return netns_path(self.node_ns)

    def _ns(self, name: str) -> str:
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def build(self, pod_names: tuple[str, ...] = ("a", "b")) -> None:
        node, client = self._ns(self.node_ns), self._ns(self.client_ns)
        n = ("ip", "-n", node)
        run(*n, "link", "add", "br0", "type", "bridge")
        run(*n, "addr", "add", f"{GATEWAY}/24", "dev", "br0")
        run(*n, "link", "set", "br0", "up")
        run("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        run(*n, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", client)
        run(*n, "addr", "add", f"{NODE_IP}/24", "dev", "uplink")
        run(*n, "link", "set", "uplink", "up")
        run(*n, "route", "add", "10.244.2.0/24", "via", CLIENT_IP)  # the other node's pods
        run(*n, "route", "add", "default", "via", CLIENT_IP)  # the node's uplink, as on a real node
        c = ("ip", "-n", client)
        run(*c, "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        for ip in (REMOTE_POD_IP, REMOTE_POD_IP_2):
            run(*c, "addr", "add", f"{ip}/32", "dev", "eth0")
        run(*c, "link", "set", "eth0", "up")
        # Thousands of short connections a second from one address: reuse TIME_WAIT ports.
        run("ip", "netns", "exec", client, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
        for cidr in (SERVICE_CIDR, CLUSTER_CIDR):
            run(*c, "route", "add", cidr, "via", NODE_IP)
        for i, name in enumerate(pod_names):
            ip = f"10.244.1.{i + 2}"
            ns = self._ns(f"{self.prefix}{name}")
            run(*n, "link", "add", f"veth{name}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            run(*n, "link", "set", f"veth{name}", "master", "br0")
            # As the CNI bridge plugin's hairpinMode (podfleet's conflist turns it on): with
            # br_netfilter a pod's packet DNATed back to that same pod is bridged, not routed, and
            # must be allowed out of the port it came in through.
            run(*n, "link", "set", f"veth{name}", "type", "bridge_slave", "hairpin", "on")
            run(*n, "link", "set", f"veth{name}", "up")
            p = ("ip", "-n", ns)
            run(*p, "addr", "add", f"{ip}/24", "dev", "eth0")
            run(*p, "link", "set", "eth0", "up")
            run(*p, "route", "add", "default", "via", GATEWAY)
            self.pods[name] = Pod(name, ip, ns)

    def start_servers(self, timeout: float = 15.0) -> None:
        for pod in self.pods.values():
            pod.server = subprocess.Popen(
                ["ip", "netns", "exec", pod.netns, sys.executable, "-c", SERVER, pod.name, pod.ip, str(HTTP_PORT),
                 str(UDP_PORT)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for pod in self.pods.values():  # each prints "ready" once it listens
            assert pod.server is not None and pod.server.stdout is not None
            line = pod.server.stdout.readline()
            if line.strip() != b"ready":
                raise RuntimeError(f"backend {pod.name} did not start")

    def client(self, ns: str, mode: str, target: str, port: int, *, src: str = "", count: float = 1,
               sport: int = 0, timeout: float = 120.0) -> dict[str, Any]:
        res = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT, mode, target, str(port),
                              src or "-", str(count), str(sport)], capture_output=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"client failed: {res.stderr.decode()[-2000:]}")
        out: dict[str, Any] = json.loads(res.stdout)
        return out

    def http(self, target: str, port: int = 80, *, count: int = 1, ns: str = "", src: str = "") -> dict[str, int]:
        return self.client(ns or self.client_ns, "http", target, port, src=src, count=count)

    def udp(self, target: str, port: int, *, sport: int, count: int = 1, ns: str = "",
            src: str = "") -> dict[str, int]:
        return self.client(ns or self.client_ns, "udp", target, port, src=src, count=count, sport=sport)

    def load(self, target: str, port: int, *, seconds: float, conns: int, src: str = "") -> dict[str, Any]:
        return self.client(self.client_ns, "load", target, port, src=src, count=seconds, sport=conns,
                           timeout=seconds + 60)

    def destroy(self) -> None:
        for pod in self.pods.values():
            if pod.server is not None and pod.server.poll() is None:
                pod.server.kill()
                pod.server.wait(timeout=10)
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()


@contextlib.contextmanager
def lab(pod_names: tuple[str, ...] = ("a", "b")) -> Iterator[Lab]:
    lb = Lab(f"pfp{secrets.token_hex(2)}")
    try:
        lb.build(pod_names)
        lb.start_servers()
        yield lb
    finally:
        lb.destroy()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0, step: float = 0.05) -> None:
    """Poll `check` until it holds (a condition, not a fixed sleep); fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)
