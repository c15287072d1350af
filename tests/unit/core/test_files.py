"""write_atomic: the new content whole, its mode, and no temporary file left."""

from __future__ import annotations

import stat
from pathlib import Path

from podfleet.files import write_atomic


def test_write_atomic_replaces_content_and_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    inode = target.stat().st_ino
    write_atomic(target, "new", 0o755)
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o755
    assert target.stat().st_ino != inode  # renamed over, never rewritten in place
    write_atomic(target, "again")
    assert target.read_text() == "again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
