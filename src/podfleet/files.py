"""Replacing a small file atomically: written beside it, then renamed over it.

Records, /etc files, image records and generated scripts are read by other processes (conmon,
runc, containers) or by a restarted agent at any moment; they must see the old content or the new,
never a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Replace `path` with `text` through `<name>.tmp` and rename(2); `mode` sets the permissions
    (otherwise the umask decides)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
