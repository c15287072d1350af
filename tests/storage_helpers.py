"""The storage contract: one suite of checks every `Storage` backend must pass.

Backends' test modules call these with a started store; keys are namespaced by a unique prefix so
a shared backend (etcd) can run them side by side. Below the checks: a real etcd member for the
tests to start (`EtcdProcess`, `running_etcd`), with TLS certificates made on the spot.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podfleet.storage.interface import Compacted, KeyExists, KeyNotFound, RevisionMismatch, Storage, WatchEvent


async def check_revisions_and_crud(s: Storage, p: str) -> None:
    r0 = await s.current_revision()
    a = await s.create(f"{p}/a", b"1")
    assert a.mod_revision > r0 and a.create_revision == a.mod_revision
    with pytest.raises(KeyExists):
        await s.create(f"{p}/a", b"again")
    b = await s.update(f"{p}/a", b"2", expected_revision=a.mod_revision)
    assert b.mod_revision > a.mod_revision and b.create_revision == a.create_revision
    with pytest.raises(RevisionMismatch):
        await s.update(f"{p}/a", b"3", expected_revision=a.mod_revision)
    got = await s.get(f"{p}/a")
    assert got is not None and got.value == b"2" and got.mod_revision == b.mod_revision
    old = await s.get(f"{p}/a", revision=a.mod_revision)
    assert old is not None and old.value == b"1"
    with pytest.raises(KeyNotFound):
        await s.update(f"{p}/missing", b"x")
    with pytest.raises(RevisionMismatch):
        await s.delete(f"{p}/a", expected_revision=a.mod_revision)
    d = await s.delete(f"{p}/a")
    assert d.value == b"2" and d.mod_revision > b.mod_revision
    assert await s.get(f"{p}/a") is None
    with pytest.raises(KeyNotFound):
        await s.delete(f"{p}/a")
    again = await s.create(f"{p}/a", b"new")  # re-create after delete
    assert again.create_revision == again.mod_revision > d.mod_revision
    assert await s.current_revision() >= again.mod_revision


async def check_list(s: Storage, p: str) -> None:
    revs = [(await s.create(f"{p}/items/{i:02d}", str(i).encode())).mod_revision for i in range(7)]
    await s.create(f"{p}/itemsX", b"not under the prefix")
    page = await s.list(f"{p}/items/", limit=3)
    assert [kv.key for kv in page.items] == [f"{p}/items/00", f"{p}/items/01", f"{p}/items/02"]
    assert page.more and page.revision >= revs[-1]
    rest = await s.list(f"{p}/items/", revision=page.revision, start_after=page.items[-1].key)
    assert [kv.value for kv in rest.items] == [b"3", b"4", b"5", b"6"] and not rest.more
    await s.delete(f"{p}/items/03")
    await s.update(f"{p}/items/04", b"changed")
    now = await s.list(f"{p}/items/")
    assert [kv.value for kv in now.items] == [b"0", b"1", b"2", b"changed", b"5", b"6"]
    then = await s.list(f"{p}/items/", revision=revs[-1])
    assert [kv.value for kv in then.items] == [b"0", b"1", b"2", b"3", b"4", b"5", b"6"]
    early = await s.list(f"{p}/items/", revision=revs[2])
    assert len(early.items) == 3


async def _collect(it: object, n: int, timeout: float = 10) -> list[WatchEvent]:
    out: list[WatchEvent] = []

    async def run() -> None:
        async for ev in it:  # type: ignore[attr-defined]
            out.append(ev)
            if len(out) >= n:
                return

    await asyncio.wait_for(run(), timeout)
    return out


async def check_watch_history_then_live(s: Storage, p: str) -> None:
    start = await s.current_revision()
    await s.create(f"{p}/w/a", b"1")
    await s.update(f"{p}/w/a", b"2")
    watch = s.watch(f"{p}/w/", start)
    task = asyncio.create_task(_collect(watch, 5))
    await asyncio.sleep(0.05)
    await s.create(f"{p}/other", b"ignored")
    await s.create(f"{p}/w/b", b"3")
    await s.delete(f"{p}/w/a")
    await s.update(f"{p}/w/b", b"4")
    events = await task
    assert [(e.type, e.kv.key[len(p):], e.kv.value) for e in events] == [
        ("ADDED", "/w/a", b"1"), ("MODIFIED", "/w/a", b"2"), ("ADDED", "/w/b", b"3"),
        ("DELETED", "/w/a", b"2"), ("MODIFIED", "/w/b", b"4")]
    revs = [e.kv.mod_revision for e in events]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)
    assert events[1].prev is not None and events[1].prev.value == b"1"


async def check_many_watchers_no_gaps(s: Storage, p: str, watchers: int = 100, writes: int = 30) -> None:
    start = await s.current_revision()
    tasks = [asyncio.create_task(_collect(s.watch(f"{p}/many/", start), writes, 30)) for _ in range(watchers)]
    await asyncio.sleep(0.1)

    async def writer(i: int) -> int:
        return (await s.create(f"{p}/many/{i}", b"x")).mod_revision

    written = sorted(await asyncio.gather(*(writer(i) for i in range(writes))))
    results = await asyncio.gather(*tasks)
    for events in results:
        assert [e.kv.mod_revision for e in events] == written


async def check_compaction(s: Storage, p: str) -> None:
    a = await s.create(f"{p}/c/a", b"1")
    await s.update(f"{p}/c/a", b"2")
    b = await s.update(f"{p}/c/a", b"3")
    await s.compact(b.mod_revision)
    with pytest.raises(Compacted):
        await _collect(s.watch(f"{p}/c/", a.mod_revision), 1, 5)
    with pytest.raises(Compacted):
        await s.list(f"{p}/c/", revision=a.mod_revision)
    got = await s.get(f"{p}/c/a")
    assert got is not None and got.value == b"3"  # live values survive compaction
    nxt = await s.update(f"{p}/c/a", b"4")
    events = await _collect(s.watch(f"{p}/c/", b.mod_revision), 1, 5)
    assert events[0].kv.mod_revision == nxt.mod_revision


async def check_concurrent_writers(s: Storage, p: str) -> None:
    await s.create(f"{p}/counter", b"0")

    async def bump() -> None:
        while True:
            kv = await s.get(f"{p}/counter")
            assert kv is not None
            try:
                await s.update(kv.key, str(int(kv.value) + 1).encode(), expected_revision=kv.mod_revision)
                return
            except RevisionMismatch:
                continue

    await asyncio.gather(*(bump() for _ in range(20)))
    final = await s.get(f"{p}/counter")
    assert final is not None and final.value == b"20"


CONTRACT = [check_revisions_and_crud, check_list, check_watch_history_then_live, check_many_watchers_no_gaps,
            check_compaction, check_concurrent_writers]


# ---------------------------------------------------------------------------------------------- etcd
# A real etcd for the contract suite and the etcd tests: Debian's /usr/bin/etcd on free loopback
# ports, with a data directory of its own, stopped (and its files removed) by whoever started it.

ETCD_BIN = "/usr/bin/etcd"


def etcd_available() -> bool:
    return os.access(ETCD_BIN, os.X_OK)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class EtcdCerts:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_etcd_certs(directory: Path) -> EtcdCerts:
    """A CA, a serving certificate for 127.0.0.1/localhost and a client certificate, made here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("etcd-test-ca")).issuer_name(name("etcd-test-ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_path, _ = write("ca", ca_key, ca)

    def issue(cn: str, usages: list[x509.ObjectIdentifier], sans: list[x509.GeneralName]) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return write(cn, key, builder.sign(ca_key, hashes.SHA256()))

    # etcd 3.4 also dials itself with its serving certificate (its HTTP gateway), so that one is a
    # client certificate too.
    server = issue("etcd-server", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                   [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client = issue("podfleet-apiserver", [ExtendedKeyUsageOID.CLIENT_AUTH], [])
    return EtcdCerts(ca_path, server[0], server[1], client[0], client[1])


class EtcdProcess:
    """One etcd member. `start()` waits until it answers its health check; `kill()` is `kill -9`;
    `start()` again brings it back on the same ports and data."""

    def __init__(self, workdir: Path, *, certs: EtcdCerts | None = None) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.certs = certs
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def scheme(self) -> str:
        return "https" if self.certs else "http"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        """The storage URL that reaches this member (with the client certificate, under TLS)."""
        if self.certs is None:
            return f"etcd://{self.endpoint}"
        c = self.certs
        return f"etcds://{self.endpoint}?cafile={c.ca}&certfile={c.client_cert}&keyfile={c.client_key}"

    def start(self, timeout: float = 30) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        client = f"{self.scheme}://{self.endpoint}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [ETCD_BIN, "--name", "test", "--data-dir", str(self.data_dir),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"test={peer}", "--initial-cluster-state", "new",
                "--logger", "zap", "--log-level", "warn", "--log-outputs", "stderr"]
        if self.certs is not None:
            args += ["--cert-file", str(self.certs.server_cert), "--key-file", str(self.certs.server_key),
                     "--trusted-ca-file", str(self.certs.ca), "--client-cert-auth"]
        self._log = open(self.workdir / "etcd.log", "ab")  # noqa: SIM115 - closed in stop()/kill()
        # ETCD_* variables would configure etcd behind the flags' back.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until etcd's /health says so (or the process died, or `timeout` passed)."""
        ctx: ssl.SSLContext | None = None
        if self.certs is not None:
            ctx = ssl.create_default_context(cafile=str(self.certs.ca))
            ctx.load_cert_chain(str(self.certs.client_cert), str(self.certs.client_key))
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.scheme}://{self.endpoint}/health", timeout=2,
                                            context=ctx) as resp:
                    if json.loads(resp.read()).get("health") == "true":
                        return
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.05)  # polling a condition, with a deadline
        raise TimeoutError(f"etcd not healthy after {timeout}s ({last}): {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return (self.workdir / "etcd.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """`kill -9`: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_etcd(*, tls: bool = False) -> Iterator[EtcdProcess]:
    """An etcd member for as long as the block runs, in a temporary directory removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="podfleet-etcd-"))
    certs = make_etcd_certs(workdir / "pki") if tls else None
    etcd = EtcdProcess(workdir, certs=certs)
    try:
        etcd.start()
        yield etcd
    finally:
        etcd.remove()
