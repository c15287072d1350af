"""Secrets encrypted at rest on a real server: the SQLite file holds no plaintext of a Secret, and
`podfleet secrets rotate-key` re-encrypts while the server keeps serving it."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from server_helpers import ROOT, RunningServer

pytestmark = pytest.mark.integration
VALUE = "correct-horse-battery-staple"


def _stored_bytes(server: RunningServer) -> bytes:
    return b"".join((server.data_dir / name).read_bytes() for name in ("state.db", "state.db-wal")
                    if (server.data_dir / name).exists())


def test_no_plaintext_on_disk_and_rotation_while_serving(server: RunningServer) -> None:
    server.kubectl("create", "secret", "generic", "at-rest", f"--from-literal=password={VALUE}")
    stored = _stored_bytes(server)
    assert VALUE.encode() not in stored and base64.b64encode(VALUE.encode()) not in stored
    assert b"k8s:enc:aesgcm:v1:" in stored
    res = subprocess.run([sys.executable, "-m", "podfleet", "secrets", "rotate-key", "--data-dir",
                          str(server.data_dir)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=60)
    assert res.returncode == 0 and "re-encrypted" in res.stdout, res.stdout + res.stderr

    def served() -> bool:
        out = server.kubectl("get", "secret", "at-rest", "-o", "jsonpath={.data.password}", check=False)
        return out.returncode == 0 and base64.b64decode(out.stdout).decode() == VALUE
    assert served()  # the server reads the new key as soon as it meets a value written with it
    assert VALUE.encode() not in _stored_bytes(server)
