"""Every write SQLiteStorage acknowledged survives `kill -9` of the process that made it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podfleet.storage.sqlite import SQLiteStorage

pytestmark = pytest.mark.integration
SRC = str(Path(__file__).resolve().parents[3] / "src")

WRITER = """
import asyncio, sys
from podfleet.storage.sqlite import SQLiteStorage

async def main():
    s = SQLiteStorage(sys.argv[1])
    await s.start()
    i = 0
    while True:
        kv = await s.create(f"/registry/pods/default/p{i}", b"x" * 200)
        print(f"{kv.key} {kv.mod_revision}", flush=True)
        i += 1

asyncio.run(main())
"""


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    acked: list[tuple[str, int]] = []
    deadline = time.time() + 30
    while len(acked) < 300 and time.time() < deadline:
        line = proc.stdout.readline().decode().split()
        if line:
            acked.append((line[0], int(line[1])))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Lines still in the pipe were acknowledged too.
    for line in proc.stdout.read().decode().splitlines():
        key, rev = line.split()
        acked.append((key, int(rev)))
    assert len(acked) >= 300
    s = SQLiteStorage(db)
    await s.start()
    try:
        for key, rev in acked:
            kv = await s.get(key)
            assert kv is not None and kv.mod_revision == rev, key
        assert await s.current_revision() >= acked[-1][1]
        await asyncio.wait_for(s.create("/registry/pods/default/after", b"y"), 5)  # still writable
    finally:
        await s.close()
