"""write_atomic: the new content whole, its mode, and no temporary file left; spread_subdirectories:
the ext4 attribute set where it exists, nothing done where it does not."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import pytest

from fs_helpers import has_topdir_attribute, on_ext4
from podfleet.files import spread_subdirectories, write_atomic


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


def test_spread_subdirectories_sets_the_top_directory_attributeon_ext4(tmp_path: Path) -> None:
    if not on_ext4(tmp_path):
        pytest.skip("the test directory is not on ext2/3/4")
    d = tmp_path / "containers"
    d.mkdir()
    (d / "keep").write_text("x")
    assert not has_topdir_attribute(d)
    assert spread_subdirectories(d) is True
    assert has_topdir_attribute(d)
    assert spread_subdirectories(d) is True  # already set: unchanged
    assert has_topdir_attribute(d) and (d / "keep").read_text() == "x"


def test_spread_subdirectories_is_a_no_op_where_the_attribute_does_not_exist() -> None:
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:  # tmpfs: no such attribute
        assert spread_subdirectories(Path(tmp)) is False
        assert Path(tmp).is_dir()
