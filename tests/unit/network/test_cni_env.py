"""What a CNI plugin is run with: the CNI variables, PATH, and GOMAXPROCS=1 unless the agent sets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from podfleet.network.cni import CNINetwork
from podfleet.network.interface import PodRef


def _recording_plugin(tmp: Path) -> Path:
    plugin = tmp / "bin" / "recorder"
    plugin.parent.mkdir()
    plugin.write_text(f'#!/bin/sh\nenv > {tmp}/env\necho \'{{"cniVersion": "1.0.0", "ips": []}}\'\n')
    plugin.chmod(0o755)
    return plugin


def _env(tmp: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (tmp / "env").read_text().splitlines() if "=" in line)


@pytest.mark.parametrize(("agent_setting", "expected"), [(None, "1"), ("3", "3")])
async def test_plugins_run_with_gomaxprocs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           agent_setting: str | None, expected: str) -> None:
    if agent_setting is None:
        monkeypatch.delenv("GOMAXPROCS", raising=False)
    else:
        monkeypatch.setenv("GOMAXPROCS", agent_setting)
    plugin = _recording_plugin(tmp_path)
    cni = CNINetwork({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "recorder"}]},
                     cache_dir=tmp_path / "cache", cni_path=str(plugin.parent))
    ref = PodRef("default", "p", "uid-p", "sb1", netns="/proc/self/ns/net")
    await cni._exec("ADD", {"type": "recorder"}, ref, ref.netns or "", None)
    env = _env(tmp_path)
    assert env["GOMAXPROCS"] == expected
    assert (env["CNI_COMMAND"], env["CNI_NETNS"], env["CNI_CONTAINERID"]) == ("ADD", "/proc/self/ns/net", "sb1")
