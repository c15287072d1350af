"""`podfleet images load|import|ls|rm|pull`: manage a node's image store from the shell.

`register(subparsers)` adds the command group; `--data-dir` (the node's state directory, the store
lives in `<data-dir>/images`) is accepted before or after the subcommand. `pull` shows its progress
(progress.py): live bars on a terminal, a line per finished layer otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from podfleet.images.interface import Image, ImageError
from podfleet.images.progress import PullDisplay
from podfleet.images.registry import basic_credentials
from podfleet.images.store import OverlayImageStore

DEFAULT_DATA_DIR = "/var/lib/podfleet/node"


def _store(args: argparse.Namespace) -> OverlayImageStore:
    return OverlayImageStore(Path(args.data_dir) / "images")


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.3g}{unit}"
        size /= 1000
    return f"{n}B"  # pragma: no cover


def _short_id(img: Image) -> str:
    return img.id.split(":", 1)[1][:12]


def _ls(store: OverlayImageStore, quiet: bool) -> None:
    images = store.list()
    if quiet:
        for img in images:
            print(img.ref)
        return
    rows = [(img.ref, _short_id(img), human_size(img.size), str(len(img.layers))) for img in images]
    width = max([len("IMAGE"), *(len(r[0]) for r in rows)])
    print(f"{'IMAGE':<{width}}  {'IMAGE ID':<12}  {'SIZE':>8}  LAYERS")
    for ref, image_id, size, layers in rows:
        print(f"{ref:<{width}}  {image_id:<12}  {size:>8}  {layers}")


async def _run(args: argparse.Namespace) -> int:
    store = _store(args)
    cmd = args.images_cmd
    if cmd == "load":
        for img in await store.load(Path(args.file), args.name):
            print(f"Loaded image: {img.ref} ({_short_id(img)})")
    elif cmd == "import":
        img = await store.import_rootfs(Path(args.rootfs), args.ref)
        print(f"Imported image: {img.ref} ({_short_id(img)})")
    elif cmd == "pull":
        creds = basic_credentials(args.creds) if args.creds else None
        display = PullDisplay(sys.stdout, sys.stdout.isatty(), shutil.get_terminal_size().columns)
        async with display:
            img = await store.ensure(args.ref, "Always", creds, progress=display.update)
        print(f"Pulled image: {img.ref} ({img.repo_digest})")
    elif cmd == "rm":
        for ref in args.refs:
            await store.remove(ref, force=args.force)
            print(f"Removed: {ref}")
    else:
        _ls(store, args.quiet)
    return 0


def _cmd(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except ImageError as e:
        print(f"error: {e} ({e.reason})", file=sys.stderr)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
    return 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `podfleet images ...` to the top-level subparsers."""
    p = sub.add_parser("images", help="manage the node's images",
                       description="Manage the images of a node's store (<data-dir>/images).")
    data_help = f"node state directory (default {DEFAULT_DATA_DIR})"
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=data_help)
    isub = p.add_subparsers(dest="images_cmd", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = isub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_help)
        return sp

    load = add("load", "load an oci-archive or docker-archive tarball (skopeo copy, podman/docker save)")
    load.add_argument("file")
    load.add_argument("--name", help="reference for the (single) image in the archive, overriding its own")
    imp = add("import", "import a root filesystem tarball as a one-layer image (like docker import)")
    imp.add_argument("rootfs", metavar="ROOTFS.tar")
    imp.add_argument("ref", metavar="NAME:TAG")
    pull = add("pull", "pull an image from its registry (always contacts the registry)")
    pull.add_argument("ref")
    pull.add_argument("--creds", metavar="USER:PASSWORD", help="registry credentials")
    rm = add("rm", "remove images by reference or image ID (refused while a container uses one)")
    rm.add_argument("refs", nargs="+", metavar="REF")
    rm.add_argument("--force", "-f", action="store_true", help="remove even if a container uses it")
    ls = add("ls", "list images")
    ls.add_argument("--quiet", "-q", action="store_true", help="references only")
    p.set_defaults(func=_cmd, log_level="warning")
