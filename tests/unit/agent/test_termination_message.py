"""Termination messages: the file a container writes, or the end of its log when it failed."""

from __future__ import annotations

from pathlib import Path

from podfleet.agent import termination_message as tm
from podfleet.agent.records import ContainerRecord


def _rec(tmp: Path, extra: dict[str, str], log: bytes = b"") -> ContainerRecord:
    log_path = tmp / "0.log"
    log_path.write_bytes(log)
    return ContainerRecord("c", "u", "ns", "p", "main", 0, False, "i", "i", "", str(log_path), "", "sb", 15, extra)


def _cri(lines: list[str]) -> bytes:
    return b"".join(f"2026-01-01T00:00:00.000000000Z stderr F {line}\n".encode() for line in lines)


def test_the_file_is_mounted_per_attempt_and_read_up_to_4096_bytes(tmp_path: Path) -> None:
    mount, extra = tm.prepare({"terminationMessagePath": "/dev/termination-log"}, tmp_path / "main", 2)
    assert mount is not None and mount.destination == "/dev/termination-log"
    assert mount.source.name == "2.termination-log"
    assert mount.source.stat().st_mode & 0o777 == 0o666 and extra[tm.POLICY_KEY] == "File"
    mount.source.write_bytes(b"x" * 5000)
    assert tm.read_message(_rec(tmp_path, extra), 1) == "x" * 4096


def test_fallback_to_logs_only_when_failed_and_nothing_written(tmp_path: Path) -> None:
    mount, extra = tm.prepare({"terminationMessagePath": "/dev/termination-log",
                               "terminationMessagePolicy": "FallbackToLogsOnError"}, tmp_path / "main", 0)
    assert mount is not None
    log = _cri([f"line {i}" for i in range(100)])
    assert tm.read_message(_rec(tmp_path, extra, log), 3).splitlines() == [f"line {i}" for i in range(20, 100)]
    assert tm.read_message(_rec(tmp_path, extra, log), 0) == ""  # succeeded: no fallback
    mount.source.write_text("written")
    assert tm.read_message(_rec(tmp_path, extra, log), 3) == "written"  # the file wins
    long = _cri(["y" * 500] * 10)
    mount.source.write_text("")
    assert len(tm.read_message(_rec(tmp_path, extra, long), 3)) == 2048


def test_no_path_no_mount(tmp_path: Path) -> None:
    assert tm.prepare({}, tmp_path / "main", 0) == (None, {tm.POLICY_KEY: "File"})
