"""conmon and the runtime run with GOMAXPROCS=1 (short-lived Go runtimes otherwise spin one thread
per CPU), unless the agent's own environment says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podfleet.procs import go_program_env
from podfleet.runtime.oci import ConmonRuntime


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _env_of(file: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in file.read_text().splitlines() if "=" in line)


def test_defaults_fill_in_only_what_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    assert go_program_env({"PATH": "/bin"}) == {"PATH": "/bin", "GOMAXPROCS": "1"}
    assert go_program_env({"GOMAXPROCS": "4"}) == {"GOMAXPROCS": "4"}


async def test_conmon_and_direct_runtime_calls_get_gomaxprocs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    runtime = _script(tmp_path / "fake-runtime", f'env > {tmp_path}/runtime.env\n')
    # A conmon that records its environment and reports a pid on the sync pipe, as conmon does.
    conmon = _script(tmp_path / "fake-conmon",
                     f'env > {tmp_path}/conmon.env\nprintf \'{{"data": %s}}\\n\' $$ > /proc/self/fd/$_OCI_SYNCPIPE\n')
    rt = ConmonRuntime(tmp_path / "state", runtime=str(runtime), conmon=str(conmon))
    pid = await rt.run("c1", tmp_path / "bundle", {"ociVersion": "1.0.2"}, tmp_path / "logs" / "c1.log")
    assert pid > 0
    assert _env_of(tmp_path / "conmon.env")["GOMAXPROCS"] == "1"
    assert _env_of(tmp_path / "conmon.env")["_OCI_SYNCPIPE"].isdigit()
    await rt.kill("c1", 15)
    assert _env_of(tmp_path / "runtime.env")["GOMAXPROCS"] == "1"
    assert _env_of(tmp_path / "runtime.env")["PATH"] == os.environ["PATH"]


async def test_the_agents_own_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOMAXPROCS", "2")
    runtime = _script(tmp_path / "fake-runtime", f'env > {tmp_path}/runtime.env\n')
    rt = ConmonRuntime(tmp_path / "state", runtime=str(runtime))
    await rt.kill("c1", 15)
    assert _env_of(tmp_path / "runtime.env")["GOMAXPROCS"] == "2"
