"""`podfleet user-kubeconfig NAME`: a kubeconfig for a person or program, run on the server.

The user gets a bearer token of its own in the server's token file (`tokens.json`, which the
server re-reads when it changes): it authenticates as NAME with the `--group`s given plus
`system:authenticated`, and may do what RBAC bindings to that user or those groups grant, nothing
more. Running the command again for the same name replaces the token; deleting the user's entry
from the file (or letting `--expires` pass) revokes it at once.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (`90m`, `1h30m`, `720h`; `d` for days too)."""
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text) or total <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30m, 12h, 7d)")
    return total


def _user_kubeconfig(args: argparse.Namespace) -> int:
    import yaml

    from podfleet.apiserver.auth import MASTERS_GROUP, TokenFile
    from podfleet.kubeconfig import build_kubeconfig

    data = Path(args.data_dir)
    ca = data / "pki" / "ca.crt"
    if not ca.exists():
        print(f"error: {ca} not found: run `podfleet server --data-dir {data}` once first", file=sys.stderr)
        return 1
    if args.name.startswith("system:"):
        # system: names are the cluster's own identities (nodes, controllers, ServiceAccounts)
        print(f"error: user names starting with \"system:\" are reserved: {args.name}", file=sys.stderr)
        return 1
    groups = tuple(dict.fromkeys(args.group or ()))
    if MASTERS_GROUP in groups:
        print(f"warning: {MASTERS_GROUP} is allowed everything, whatever RBAC says", file=sys.stderr)
    expires = time.time() + args.expires if args.expires else 0.0
    token = TokenFile.load_or_create(data / "tokens.json").issue_user_token(args.name, groups, expires)
    sys.stdout.write(yaml.safe_dump(build_kubeconfig(args.server, ca.read_bytes(), args.name, token),
                                    sort_keys=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    uk = sub.add_parser("user-kubeconfig", help="print a kubeconfig with a user's own credential (run on the server)")
    uk.add_argument("name", help="user name (what RBAC bindings name)")
    uk.add_argument("--group", action="append", default=[], help="a group the user is in (repeatable)")
    uk.add_argument("--expires", type=parse_duration, default=0.0,
                    help="the token stops working after this long (e.g. 12h, 30d); default never")
    uk.add_argument("--server", required=True, help="API server URL as the user will reach it")
    uk.add_argument("--data-dir", default="/var/lib/podfleet")
    uk.set_defaults(func=_user_kubeconfig)
