"""Removing a pod's cgroup parent once its containers are gone.

runc creates `<parent>/<container>` in every mounted hierarchy (v1 controllers and the v2 unified
mount on hybrid hosts) and removes the leaf on delete; the pod-level parent directories are ours to
remove.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def remove_cgroup_tree(parent: str, root: Path = CGROUP_ROOT) -> None:
    """rmdir `parent` (and empty leftovers below it) in every hierarchy; busy or missing dirs are skipped."""
    rel = parent.strip("/")
    if not rel:
        return
    hierarchies = [p for p in root.iterdir() if p.is_dir()] if root.exists() else []
    if (root / "cgroup.controllers").exists():
        hierarchies = [root]
    for h in hierarchies:
        top = h / rel
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
