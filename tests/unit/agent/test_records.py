"""Pod records: written through to disk, read from memory, and what a restarted agent reads back."""

from __future__ import annotations

import json
from pathlib import Path

from podfleet.agent.records import ContainerRecord, Records, SandboxRecord


def container(cid: str, attempt: int = 0) -> ContainerRecord:
    return ContainerRecord(cid, "uid-1", "main", attempt, False, "img:1", "sha256:x", f"/logs/{cid}.log",
                           "2026-12-01T00:00:00Z")


def test_records_write_through_and_a_new_agent_reads_them_back(tmp_path: Path) -> None:
    records = Records(tmp_path)
    assert records.sandbox("uid-1") is None and records.containers("uid-1") == []
    sandbox = SandboxRecord("uid-1", "default", "p", "sb1", "/run/netns/x", ["10.0.0.2"], "/ns", False,
                            "2026-12-01T00:00:00Z")
    records.save_sandbox(sandbox)
    records.save_container(container("c-b", 1))
    records.save_container(container("c-a"))
    assert records.sandbox("uid-1") == sandbox
    assert [c.id for c in records.containers("uid-1")] == ["c-a", "c-b"]
    on_disk = json.loads((tmp_path / "uid-1" / "containers" / "c-b.json").read_text())
    assert on_disk["attempt"] == 1  # written at once, for a restarted agent

    (tmp_path / "uid-1" / "sandbox.json").rename(tmp_path / "moved")  # reads no longer touch the disk
    assert records.sandbox("uid-1") == sandbox and len(records.containers("uid-1")) == 2
    (tmp_path / "moved").rename(tmp_path / "uid-1" / "sandbox.json")

    restarted = Records(tmp_path)
    assert restarted.sandbox("uid-1") == sandbox
    assert [c.id for c in restarted.containers("uid-1")] == ["c-a", "c-b"]

    records.drop_container(container("c-a"))
    assert [c.id for c in records.containers("uid-1")] == ["c-b"]
    assert not (tmp_path / "uid-1" / "containers" / "c-a.json").exists()
    records.drop_sandbox("uid-1")
    assert records.sandbox("uid-1") is None
    records.remove_pod("uid-1")
    assert records.containers("uid-1") == [] and not (tmp_path / "uid-1").exists()
    assert Records(tmp_path).pod_uids() == []
