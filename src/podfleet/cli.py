"""The `podfleet` command: `server`, `agent`, `up`, `images` and friends.

Each subcommand parses its flags and hands off to the async entry point of its component.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from podfleet.daemon import run_daemon
from podfleet.logs import setup_logging

log = logging.getLogger("podfleet")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="log verbosity (default: info)")


def _cmd_server(args: argparse.Namespace) -> int:
    from podfleet.apiserver.app import APIServer, ServerConfig
    from podfleet.apiserver.flags import server_limits

    config = ServerConfig(data_dir=Path(args.data_dir), bind_address=args.bind_address, port=args.port,
                          storage_url=args.storage, advertise_address=args.advertise_address,
                          **server_limits(args))
    server = APIServer(config)

    async def start() -> None:
        await server.start()
        print(f"podfleet API server is up at {server.url}", flush=True)
        print(f"kubeconfig: {server.kubeconfig_path}", flush=True)
        print(f"try: KUBECONFIG={server.kubeconfig_path} kubectl get namespaces", flush=True)

    run_daemon(start, server.stop, loop_lag_threshold=args.loop_lag_log_threshold)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podfleet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("server", help="run the API server (control plane)")
    _add_common(p)
    p.add_argument("--data-dir", default="/var/lib/podfleet", help="state directory (default /var/lib/podfleet)")
    p.add_argument("--bind-address", default="0.0.0.0")
    p.add_argument("--port", type=int, default=6443)
    p.add_argument("--advertise-address", default="127.0.0.1",
                   help="address clients use to reach the server (goes into kubeconfigs and the certificate)")
    p.add_argument("--storage", default="", help="storage URL: sqlite:///path (default <data-dir>/state.db), "
                   "etcd://host:port[,host:port] or etcds://host:port[,...]?cafile=CA&certfile=CERT&keyfile=KEY")
    from podfleet.apiserver.flags import add_server_flags

    add_server_flags(p)
    p.set_defaults(func=_cmd_server)

    for register in _optional_registrations():
        register(sub)
    return parser


def _optional_registrations() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """Subcommands contributed by other packages (images, agent, up), each optional at import time."""
    regs = []
    for module in ("podfleet.images.commands", "podfleet.cluster.commands", "podfleet.cluster.user_commands",
                   "podfleet.cluster.secrets_commands"):
        with contextlib.suppress(ImportError):
            mod = __import__(module, fromlist=["register"])
            regs.append(mod.register)
    return regs


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "log_level", "info"))
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
