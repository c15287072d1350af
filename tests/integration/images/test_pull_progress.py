"""`podfleet images pull` from a real docker-registry: live bars redrawn in place in a pseudo-terminal
(pexpect), plain lines and a summary through a pipe.

To see a bar mid-way without pacing anything by time, the terminal run goes through `GatedProxy`,
which holds every connection's answer after a few hundred KiB until the test has seen a partial
frame and releases it.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from image_helpers import (
    ImageSpec,
    Registry,
    layer_tar,
    oci_layout_archive,
    registry_server,  # noqa: F401 - the fixture
)
from podfleet.images.progress import human_bytes, short_digest

pytestmark = pytest.mark.integration
REPO = "tests/progress:1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


class GatedProxy:
    """A TCP proxy that lets `budget` bytes of each upstream answer through until `release()`."""

    def __init__(self, upstream: str, budget: int) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.budget = budget
        self.released = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.close()
        for s in self.sockets:
            s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.budget), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, budget: int | None) -> None:
        sent = 0
        try:
            while data := src.recv(1 << 16):
                if budget is not None and not self.released.is_set() and sent + len(data) > budget:
                    head = max(0, budget - sent)
                    dst.sendall(data[:head])
                    data, sent = data[head:], sent + head
                    self.released.wait()
                dst.sendall(data)
                sent += len(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.fixture
def image(registry_server: Registry, tmp_path: Path) -> tuple[Registry, list[tuple[str, int]]]:  # noqa: F811
    """A three-layer image of ~1.2 MiB incompressible layers in the registry; its (digest, size) layers."""
    layers = [layer_tar(tmp_path / f"l{i}.tar.gz", {f"data{i}": os.urandom(1 << 20).hex()}) for i in range(3)]
    archive = oci_layout_archive(tmp_path / "img.oci.tar", {"v1": ImageSpec(layers, {"Cmd": ["sh"]})})
    registry_server.push(archive, "v1", REPO)
    req = urllib.request.Request(f"http://{registry_server.address}/v2/{REPO.replace(':', '/manifests/')}",
                                 headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        manifest: dict[str, Any] = json.load(resp)
    return registry_server, [(la["digest"], la["size"]) for la in manifest["layers"]]


def podfleet(data: Path, ref: str) -> list[str]:
    return [sys.executable, "-m", "podfleet", "images", "--data-dir", str(data), "pull", ref]


@pytest.fixture
def proxy(image: tuple[Registry, list[tuple[str, int]]]) -> Iterator[GatedProxy]:
    p = GatedProxy(image[0].address, budget=256 << 10)
    yield p
    p.close()


def test_on_a_terminal_the_bars_are_redrawn_in_place(image: tuple[Registry, list[tuple[str, int]]],
                                                     proxy: GatedProxy, tmp_path: Path) -> None:
    _, layers = image
    ref = f"{proxy.address}/{REPO}"
    argv = podfleet(tmp_path / "node", ref)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the pty's own size counts
    child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", dimensions=(40, 120), timeout=60)
    child.logfile_read = screen = io.StringIO()
    try:
        child.expect(r"[0-9a-f]{12} \[[=> ]{40}\] \d+\.\d KiB / \d\.\d MiB")  # a layer held part-way, live
        assert "\x1b[K" in screen.getvalue()
        proxy.release()
        child.expect(r"total: (\S+ \S+) in \d+\.\ds, average \S+ \S+/s\r\n")
        total = child.match.group(1)
        child.expect(f"Pulled image: {re.escape(ref)} ")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    out = screen.getvalue()
    assert total == human_bytes(sum(size for _, size in layers))
    assert "\x1b[4A" in out  # frames of 3 layers + the total, redrawn over each other
    last = out.rsplit("\x1b[4A", 1)[1].split("\r\n")
    for digest, size in layers:
        line = next(line for line in last if short_digest(digest) in line)
        assert f"[{'=' * 40}] {human_bytes(size)} done" in line
    assert re.search(rf"total +\[={{40}}\] {re.escape(total)} / {re.escape(total)} ", out)


def test_without_a_terminal_one_line_per_layer_and_a_summary(image: tuple[Registry, list[tuple[str, int]]],
                                                            tmp_path: Path) -> None:
    reg, layers = image
    ref = f"{reg.address}/{REPO}"
    run = subprocess.run(podfleet(tmp_path / "node", ref), capture_output=True, text=True, timeout=120, check=True)
    lines = run.stdout.splitlines()
    assert "\x1b" not in run.stdout and len(lines) == len(layers) + 2
    assert sorted(lines[:3]) == sorted(f"{short_digest(d)}: {human_bytes(size)} done" for d, size in layers)
    assert re.fullmatch(rf"total: {re.escape(human_bytes(sum(s for _, s in layers)))} in \d+\.\ds, average .+/s",
                        lines[3])
    assert lines[4].startswith(f"Pulled image: {ref} ({reg.address}/tests/progress@sha256:")
    again = subprocess.run(podfleet(tmp_path / "node", ref), capture_output=True, text=True, timeout=120, check=True)
    assert again.stdout.splitlines()[:4] == [f"{short_digest(d)}: already present" for d, _ in layers] + [
        "total: nothing to download (all layers already present)"]
