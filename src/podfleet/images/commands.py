"""`podfleet images load|import|ls|rm|pull`: manage a node's image store from the shell."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from podfleet.images.store import ImageError, ImageStore

DEFAULT_DATA_DIR = "/var/lib/podfleet/node"


def _store(args: argparse.Namespace) -> ImageStore:
    return ImageStore(Path(args.data_dir) / "images")


def _cmd(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        if args.images_cmd == "load":
            for img in asyncio.run(store.load(Path(args.file))):
                print(f"Loaded image: {img.ref} ({img.id[:19]})")
        elif args.images_cmd == "import":
            img = asyncio.run(store.import_rootfs(Path(args.rootfs), args.ref))
            print(f"Imported image: {img.ref} ({img.id[:19]})")
        elif args.images_cmd == "pull":
            img = asyncio.run(store.ensure(args.ref, "Always"))
            print(f"Pulled image: {img.ref} ({img.manifest_digest})")
        elif args.images_cmd == "rm":
            store.remove(args.ref)
            print(f"Removed image: {args.ref}")
        else:
            print(f"{'IMAGE':<50} {'IMAGE ID':<20} LAYERS")
            for img in store.list_images():
                print(f"{img.ref:<50} {img.id.split(':')[1][:12]:<20} {len(img.layers)}")
    except (ImageError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("images", help="manage the node's images")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=f"node state directory (default {DEFAULT_DATA_DIR})")
    isub = p.add_subparsers(dest="images_cmd", required=True)
    load = isub.add_parser("load", help="load an OCI archive or docker-archive (skopeo/podman save)")
    load.add_argument("file")
    imp = isub.add_parser("import", help="import a root filesystem tarball as an image (like docker import)")
    imp.add_argument("rootfs")
    imp.add_argument("ref")
    pull = isub.add_parser("pull", help="pull an image from its registry")
    pull.add_argument("ref")
    rm = isub.add_parser("rm", help="remove an image")
    rm.add_argument("ref")
    isub.add_parser("ls", help="list images")
    p.set_defaults(func=_cmd, log_level="warning")
