"""A busybox root filesystem for tests, built from Debian's busybox-static (no image needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

APPLETS = ("sh", "ls", "cat", "echo", "sleep", "httpd", "nc", "wget", "hostname", "id", "env", "true", "false",
           "kill", "ps", "mkdir", "touch", "test", "printf", "seq")


def busybox_rootfs(dest: Path) -> Path:
    (dest / "bin").mkdir(parents=True, exist_ok=True)
    for d in ("etc", "tmp", "proc", "sys", "dev", "root", "var/www"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", dest / "bin" / "busybox")
    for a in APPLETS:
        link = dest / "bin" / a
        if not link.exists():
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (dest / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")
    return dest


def unique(prefix: str = "pft") -> str:
    import secrets

    return f"{prefix}{secrets.token_hex(3)}"


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
