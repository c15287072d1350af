"""Start a real `podfleet server` subprocess for integration tests, and run the real kubectl."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubectl_binary() -> str:
    local = VENV_BIN / "kubectl"
    return str(local) if local.exists() else shutil.which("kubectl") or "kubectl"


@dataclass
class RunningServer:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "admin.kubeconfig"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.data_dir)}
        res = subprocess.run([kubectl_binary(), *args], input=input, capture_output=True, text=True,
                             env=env, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def admin_token(self) -> str:
        return str(json.loads((self.data_dir / "tokens.json").read_text())["admin"])

    def ca_file(self) -> Path:
        return self.data_dir / "pki" / "ca.crt"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# Flags for an API server run without controllers: no `default` ServiceAccount appears, so pods are
# admitted without one (kube-apiserver run alone needs the same).
STANDALONE = ("--disable-admission-plugins=ServiceAccount",)


def start_server(data_dir: Path, *extra: str, port: int | None = None) -> RunningServer:
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "podfleet", "server", "--data-dir", str(data_dir),
                                 "--port", str(port), "--bind-address", "127.0.0.1", "--log-level", "info",
                                 *extra], stdout=logf, stderr=subprocess.STDOUT, env=env)
    server = RunningServer(data_dir, port, proc, log_path)
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            if server.kubeconfig.exists():
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not start:\n{log_path.read_text()}")


@contextlib.contextmanager
def running_server(data_dir: Path, *extra: str) -> Iterator[RunningServer]:
    server = start_server(data_dir, *extra)
    try:
        yield server
    finally:
        server.stop()


def call(server: RunningServer, method: str, path: str, body: Any = None, *, token: str | None = "admin",
         ctype: str = "application/json", raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """One HTTPS request to the server; (status code, decoded JSON body)."""
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(server.ca_file()))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(server.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token == "admin":
        req.add_header("Authorization", f"Bearer {server.admin_token()}")
    elif token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
