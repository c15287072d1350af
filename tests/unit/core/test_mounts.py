"""mount(2)/umount2(2) helpers and the runtime-state tmpfs (run as root, on directories of the test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podfleet import mounts


def fstype(path: Path) -> str:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(path):
            return fields[fields.index("-") + 1]
    return ""


def test_ensure_tmpfs_mounts_once_and_never_hides_files(tmp_path: Path) -> None:
    state = tmp_path / "runtime"
    try:
        assert mounts.ensure_tmpfs(state) and fstype(state) == "tmpfs"
        assert oct(state.stat().st_mode & 0o777) == "0o700"
        (state / "kept").write_text("x")
        assert mounts.ensure_tmpfs(state)  # already mounted: used as it is
        assert (state / "kept").read_text() == "x"
    finally:
        mounts.unmount(state)
    assert not os.path.ismount(state)
    older = tmp_path / "older"
    older.mkdir()
    (older / "state.json").write_text("{}")
    assert not mounts.ensure_tmpfs(older)  # holds state already: left on disk
    assert not os.path.ismount(older) and (older / "state.json").exists()


def test_unmount_of_nothing_is_fine_and_errors_carry_errno(tmp_path: Path) -> None:
    mounts.unmount(tmp_path)  # not a mount point: nothing to do
    with pytest.raises(OSError) as e:
        mounts.mount("none", tmp_path / "missing", "tmpfs")
    assert e.value.errno == 2


def test_mount_from_resolves_relative_options_in_its_own_directory_only(tmp_path: Path) -> None:
    base = tmp_path / "base"
    for d in ("low", "up", "work", "merged"):
        (base / d).mkdir(parents=True)
    (base / "low" / "f").write_text("lower")
    cwd = os.getcwd()
    mounts.mount_from(mounts.Mount("overlay", base / "merged", "overlay", "lowerdir=low,upperdir=up,workdir=work",
                                   base))
    try:
        assert (base / "merged" / "f").read_text() == "lower" and os.getcwd() == cwd
        line = next(ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if f" {base}/merged " in ln)
        assert "lowerdir=low,upperdir=up,workdir=work" in line
    finally:
        mounts.unmount(base / "merged")
    with pytest.raises(FileNotFoundError):
        mounts.mount_from(mounts.Mount("overlay", base / "merged", "overlay", "lowerdir=low", tmp_path / "missing"))
    with pytest.raises(OSError):  # relative names that do not exist from there
        mounts.mount_from(mounts.Mount("overlay", base / "merged", "overlay", "lowerdir=low,upperdir=up,workdir=work",
                                       tmp_path))
    assert os.getcwd() == cwd and not os.path.ismount(base / "merged")
