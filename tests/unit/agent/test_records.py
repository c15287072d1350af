"""Pod records: written through to the run directory, read from memory, and what a restarted agent
reads back — also from where agents before the run directory kept them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fs_helpers import has_topdir_attribute, on_ext4
from podfleet.agent.kuberuntime import attempt_after_logs
from podfleet.agent.records import ContainerRecord, Records, SandboxRecord


def container(cid: str, attempt: int = 0) -> ContainerRecord:
    return ContainerRecord(cid, "uid-1", "main", attempt, False, "img:1", "sha256:x", f"/logs/{cid}.log",
                           "2026-12-01T00:00:00Z")


SANDBOX = SandboxRecord("uid-1", "default", "p", "sb1", "/run/netns/x", ["10.0.0.2"], "/ns", False,
                        "2026-12-01T00:00:00Z")


def test_records_write_through_and_a_new_agent_reads_them_back(tmp_path: Path) -> None:
    run, disk = tmp_path / "run", tmp_path / "disk"
    records = Records(run, disk)
    assert records.sandbox("uid-1") is None and records.containers("uid-1") == []
    records.save_sandbox(SANDBOX)
    records.save_container(container("c-b", 1))
    records.save_container(container("c-a"))
    assert records.sandbox("uid-1") == SANDBOX
    assert [c.id for c in records.containers("uid-1")] == ["c-a", "c-b"]
    on_disk = json.loads((run / "uid-1" / "containers" / "c-b.json").read_text())
    assert on_disk["attempt"] == 1  # written at once, for a restarted agent
    assert not (disk / "uid-1").exists()  # nothing of the records on disk: that is for logs and volumes
    assert records.run_dir("uid-1") == run / "uid-1" and records.pod_dir("uid-1") == disk / "uid-1"

    (run / "uid-1" / "sandbox.json").rename(tmp_path / "moved")  # reads no longer touch the files
    assert records.sandbox("uid-1") == SANDBOX and len(records.containers("uid-1")) == 2
    (tmp_path / "moved").rename(run / "uid-1" / "sandbox.json")

    restarted = Records(run, disk)
    assert restarted.sandbox("uid-1") == SANDBOX
    assert [c.id for c in restarted.containers("uid-1")] == ["c-a", "c-b"]

    records.drop_container(container("c-a"))
    assert [c.id for c in records.containers("uid-1")] == ["c-b"]
    assert not (run / "uid-1" / "containers" / "c-a.json").exists()
    records.drop_sandbox("uid-1")
    assert records.sandbox("uid-1") is None
    (disk / "uid-1" / "logs").mkdir(parents=True)
    assert Records(run, disk).pod_uids() == ["uid-1"]
    records.remove_pod("uid-1")
    assert records.containers("uid-1") == [] and not (run / "uid-1").exists() and not (disk / "uid-1").exists()
    assert Records(run, disk).pod_uids() == []


def test_each_pod_directory_on_disk_gets_a_block_group_of_its_own(tmp_path: Path) -> None:
    """On ext4 the pods directory carries the top-directory attribute (see podfleet.files)."""
    if not on_ext4(tmp_path):
        pytest.skip("the test directory is not on ext2/3/4")
    Records(tmp_path / "run", tmp_path / "disk")
    assert has_topdir_attribute(tmp_path / "disk")


def test_records_of_an_older_agent_in_the_pod_directory_are_read_and_removed(tmp_path: Path) -> None:
    run, disk = tmp_path / "run", tmp_path / "disk"
    legacy = disk / "uid-1"
    (legacy / "containers").mkdir(parents=True)
    (legacy / "sandbox.json").write_text(json.dumps(SANDBOX.__dict__))
    (legacy / "containers" / "c-a.json").write_text(json.dumps(container("c-a").__dict__))
    records = Records(run, disk)
    assert records.pod_uids() == ["uid-1"]
    assert records.sandbox("uid-1") == SANDBOX and [c.id for c in records.containers("uid-1")] == ["c-a"]
    records.save_container(container("c-b", 1))  # new writes go to the run directory
    assert [c.id for c in Records(run, disk).containers("uid-1")] == ["c-a", "c-b"]
    records.drop_container(container("c-a"))
    records.drop_sandbox("uid-1")
    assert not (legacy / "containers" / "c-a.json").exists() and not (legacy / "sandbox.json").exists()
    fresh = Records(run, disk)
    assert fresh.sandbox("uid-1") is None and [c.id for c in fresh.containers("uid-1")] == ["c-b"]


def test_attempts_number_on_after_the_logs_of_an_earlier_life(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "main"
    assert attempt_after_logs(logs) == 0
    logs.mkdir(parents=True)
    assert attempt_after_logs(logs) == 0
    for name in ("0.log", "3.log", "notes.txt", "x.log"):
        (logs / name).write_text("")
    assert attempt_after_logs(logs) == 4
