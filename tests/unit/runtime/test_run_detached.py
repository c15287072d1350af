"""The `run-detached` stand-in conmon runs instead of the runtime: `create` becomes `run --detach`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from podfleet.runtime.oci import write_run_detached


def _echo_runtime(tmp: Path) -> Path:
    """A 'runtime' that writes the arguments it was given, one per line."""
    fake = tmp / "fake runtime"  # a space in the path: the script must quote it
    fake.write_text('#!/bin/sh\nfor a do printf "%s\\n" "$a"; done > "$(dirname "$0")/argv"\n')
    fake.chmod(0o755)
    return fake


def test_create_becomes_run_detached_and_other_arguments_pass_unchanged(tmp_path: Path) -> None:
    fake = _echo_runtime(tmp_path)
    script = write_run_detached(tmp_path / "run-detached", str(fake))
    args = ["--root=/run/x", "--log", "a b", "create", "--bundle", "/b", "--pid-file", "/p", "create"]
    subprocess.run([str(script), *args], check=True, env={"swapped": "1"})  # the environment has no say
    assert (tmp_path / "argv").read_text().splitlines() == [
        "--root=/run/x", "--log", "a b", "run", "--detach", "--bundle", "/b", "--pid-file", "/p", "create"]


def test_other_commands_pass_unchanged_and_rewriting_replaces_the_script(tmp_path: Path) -> None:
    fake = _echo_runtime(tmp_path)
    write_run_detached(tmp_path / "run-detached", "/old/runtime")
    script = write_run_detached(tmp_path / "run-detached", str(fake))
    subprocess.run([str(script), "--root=/r", "exec", "--detach", "c1"], check=True)
    assert (tmp_path / "argv").read_text().splitlines() == ["--root=/r", "exec", "--detach", "c1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["argv", "fake runtime", "run-detached"]
