"""File-system facts read with e2fsprogs and coreutils, independent of podfleet's own code."""

from __future__ import annotations

import subprocess
from pathlib import Path


def has_topdir_attribute(path: Path) -> bool:
    """Whether `lsattr` shows the ext2/3/4 "top of directory hierarchy" attribute (T) on `path`."""
    out = subprocess.run(["lsattr", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return "T" in out.split()[0]


def on_ext4(path: Path) -> bool:
    return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip() in ("ext2/ext3", "ext4")
