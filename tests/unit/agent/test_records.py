"""Container records: written through to the run directory, read from memory, and what a restarted
agent reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fs_helpers import has_topdir_attribute, on_ext4
from podfleet.agent.records import ContainerRecord, ContainerRecords, attempt_after_logs, container_id


def container(cid: str, attempt: int = 0) -> ContainerRecord:
    return ContainerRecord(cid, "uid-1", "default", "p", "main", attempt, False, "img:1", "docker.io/img:1",
                           "sha256:x", f"/logs/{cid}.log", "2026-12-01T00:00:00Z", "sb1")


def test_records_write_through_and_a_new_agent_reads_them_back(tmp_path: Path) -> None:
    run, disk = tmp_path / "run", tmp_path / "disk"
    records = ContainerRecords(run, disk)
    assert records.containers("uid-1") == []
    records.save(container("c-b", 1))
    records.save(container("c-a"))
    assert [c.id for c in records.containers("uid-1")] == ["c-a", "c-b"]
    assert records.owner("c-a") == "uid-1" and records.owner("c-x") is None
    on_disk = json.loads((run / "uid-1" / "containers" / "c-b.json").read_text())
    assert on_disk["attempt"] == 1  # written at once, for a restarted agent
    assert not (disk / "uid-1").exists()  # nothing of the records on disk: that is for logs and volumes
    assert records.run_dir("uid-1") == run / "uid-1" and records.pod_dir("uid-1") == disk / "uid-1"

    (run / "uid-1" / "containers").rename(tmp_path / "moved")  # reads no longer touch the files
    assert len(records.containers("uid-1")) == 2
    (tmp_path / "moved").rename(run / "uid-1" / "containers")

    restarted = ContainerRecords(run, disk)
    assert [c.id for c in restarted.containers("uid-1")] == ["c-a", "c-b"]
    assert restarted.owner("c-b") == "uid-1"

    records.drop(container("c-a"))
    assert [c.id for c in records.containers("uid-1")] == ["c-b"]
    assert not (run / "uid-1" / "containers" / "c-a.json").exists()
    (disk / "uid-1" / "logs").mkdir(parents=True)
    assert ContainerRecords(run, disk).pod_uids() == {"uid-1"}
    records.remove_pod("uid-1")
    assert records.containers("uid-1") == [] and not (run / "uid-1").exists() and not (disk / "uid-1").exists()
    assert ContainerRecords(run, disk).pod_uids() == set() and records.owner("c-b") is None


def test_each_pod_directory_on_disk_gets_a_block_group_of_its_own(tmp_path: Path) -> None:
    """On ext4 the pods directory carries the top-directory attribute (see podfleet.files)."""
    if not on_ext4(tmp_path):
        pytest.skip("the test directory is not on ext2/3/4")
    ContainerRecords(tmp_path / "run", tmp_path / "disk")
    assert has_topdir_attribute(tmp_path / "disk")


def test_attempts_number_on_after_the_logs_of_an_earlier_life(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "main"
    assert attempt_after_logs(logs) == 0
    logs.mkdir(parents=True)
    assert attempt_after_logs(logs) == 0
    for name in ("0.log", "3.log", "notes.txt", "x.log"):
        (logs / name).write_text("")
    assert attempt_after_logs(logs) == 4


def test_container_ids_name_pod_container_and_attempt() -> None:
    assert container_id("0a1b2c3d-4e5f-6789-abcd-ef0123456789", "main", 2) == "pf-0a1b2c3d4e5f-main-2"
