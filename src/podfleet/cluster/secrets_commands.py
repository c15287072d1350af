"""`podfleet secrets rotate-key`: a new Secrets encryption key, and every Secret rewritten with it.

Run on the server's machine (it opens the server's storage directly). The new key goes first in the
keyring, so a running API server (which re-reads the keyring when it changes) encrypts with it
within a second; old keys stay for reading. Each Secret is rewritten with a compare-and-swap on its
revision, so a concurrent write is never lost: the loop reads it again and retries.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


async def rotate(data_dir: Path, storage_url: str) -> tuple[str, int]:
    """(the new key's name, Secrets rewritten)."""
    from podfleet.storage.encrypted import (
        SECRETS_PREFIX,
        EncryptingStorage,
        Keyring,
        keyring_for,
        new_key,
        read_keys,
        write_keys,
    )
    from podfleet.storage.factory import open_storage
    from podfleet.storage.interface import KeyNotFound, RevisionMismatch

    path = keyring_for(data_dir)
    keys = read_keys(path)  # a missing or broken keyring is an error naming the file, never a new one
    key = new_key()
    write_keys(path, [key, *keys])
    storage = open_storage(storage_url)
    await storage.start()
    try:
        keyring = Keyring(path)
        await keyring.open(storage)
        secrets = EncryptingStorage(storage, keyring)
        rewritten = 0
        for kv in (await secrets.list(SECRETS_PREFIX)).items:
            current = kv
            while True:
                try:
                    await secrets.update(current.key, current.value, current.mod_revision)
                    rewritten += 1
                    break
                except RevisionMismatch as e:  # written meanwhile: rewrite what is there now
                    if e.current is None:
                        break
                    current = e.current
                except KeyNotFound:
                    break
        return key["name"], rewritten
    finally:
        await storage.close()


def _rotate_key(args: argparse.Namespace) -> int:
    from podfleet.apiserver.app import ServerConfig
    from podfleet.storage.encrypted import KeyringError

    config = ServerConfig(data_dir=Path(args.data_dir), storage_url=args.storage)
    try:
        name, count = asyncio.run(rotate(config.data_dir, config.resolved_storage_url()))
    except (KeyringError, FileNotFoundError) as e:
        print(f"error: {e}")
        return 1
    print(f"new key {name}: {count} Secret(s) re-encrypted with it")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sec = sub.add_parser("secrets", help="Secrets encryption at rest (run on the server)")
    actions = sec.add_subparsers(dest="action", required=True)
    rot = actions.add_parser("rotate-key", help="add a new encryption key and re-encrypt every Secret with it")
    rot.add_argument("--data-dir", default="/var/lib/podfleet", help="the server's data directory")
    rot.add_argument("--storage", default="", help="the server's storage URL (default <data-dir>/state.db)")
    rot.set_defaults(func=_rotate_key, log_level="warning")
