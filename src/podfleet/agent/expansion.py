"""`$(VAR)` references in a container's command, args, env values and subPathExpr, expanded from its
environment as kubelet does (an unknown reference stays as written)."""

from __future__ import annotations

import re

_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    return _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), value)
