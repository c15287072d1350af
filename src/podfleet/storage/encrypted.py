"""Secrets encrypted at rest: a `Storage` that stores the values under `/registry/secrets/` AES-GCM
encrypted, as kube-apiserver's EncryptionConfiguration (aesgcm provider) and k3s'
`--secrets-encryption` do.

A stored value reads `k8s:enc:aesgcm:v1:<key name>:` + 12-byte nonce + ciphertext and tag, with the
storage key as additional data (a value copied to another key does not decrypt). The keyring is a
file of the data dir (`secrets-encryption.json`, mode 0600): its first key encrypts, every key
decrypts, so `podfleet secrets rotate-key` adds a key first and rewrites every Secret with it. A
value without the prefix is plaintext written before encryption was on, read as it is. The file is
re-read when it changes, so a rotation reaches a running server.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as pysecrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from podfleet.storage.interface import KeyValue, ListResult, RevisionMismatch, Storage, WatchEvent

SECRETS_PREFIX = "/registry/secrets/"
_MAGIC = b"k8s:enc:aesgcm:v1:"
KEYRING_FILE = "secrets-encryption.json"
_RECHECK = 1.0  # seconds between looks at whether the keyring file changed


class KeyringError(Exception):
    """The keyring file is missing, unreadable or names no usable key; the message names the file."""


@dataclass(frozen=True)
class _Key:
    name: str
    aead: AESGCM


class Keyring:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: list[_Key] = []
        self._mtime = -1.0
        self._checked = 0.0

    @staticmethod
    def create(path: Path) -> None:
        """A new keyring with one fresh 256-bit key (only when there is none: never overwrites)."""
        write_keys(path, [new_key()], exclusive=True)

    def reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
            keys = read_keys(self.path)
        except FileNotFoundError:
            raise KeyringError(f"{self.path}: the Secrets encryption keyring is missing") from None
        self._keys = [_Key(k["name"], AESGCM(base64.b64decode(k["secret"]))) for k in keys]
        self._mtime = mtime

    async def open(self, storage: Storage) -> None:
        """Load the keyring; make one when there is none and no Secret is stored encrypted yet (a
        missing keyring with encrypted Secrets is an error naming the file, never a fresh key)."""
        if not self.path.exists():
            if await secrets_encrypted(storage):
                raise KeyringError(f"{self.path}: the Secrets encryption keyring is missing, and Secrets are "
                                   "stored encrypted with it")
            Keyring.create(self.path)
        self.reload()

    def _fresh(self) -> None:
        now = time.monotonic()
        if self._keys and now - self._checked < _RECHECK:
            return
        self._checked = now
        try:
            changed = self.path.stat().st_mtime != self._mtime
        except OSError:
            return  # keep the keys in memory: a file being replaced reappears
        if changed or not self._keys:
            self.reload()

    def _key(self, name: bytes) -> _Key | None:
        return next((k for k in self._keys if k.name.encode() == name), None)

    def encrypt(self, key: str, value: bytes) -> bytes:
        self._fresh()
        current = self._keys[0]
        nonce = os.urandom(12)
        return _MAGIC + current.name.encode() + b":" + nonce + current.aead.encrypt(nonce, value, key.encode())

    def decrypt(self, key: str, value: bytes) -> bytes:
        if not value.startswith(_MAGIC):
            return value  # written before encryption was on
        self._fresh()
        name, _, rest = value[len(_MAGIC):].partition(b":")
        found = self._key(name)
        if found is None:  # written with a key added since (a rotation): read the keyring now
            self.reload()
            found = self._key(name)
        if found is not None:
            try:
                return found.aead.decrypt(rest[:12], rest[12:], key.encode())
            except InvalidTag:
                raise KeyringError(f"{key}: the stored value does not decrypt with key {found.name!r} of "
                                   f"{self.path}") from None
        raise KeyringError(f"{key}: encrypted with key {name.decode(errors='replace')!r}, which {self.path} "
                           "does not hold")


def new_key() -> dict[str, str]:
    return {"name": f"key-{int(time.time())}-{pysecrets.token_hex(3)}",
            "secret": base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}


def read_keys(path: Path) -> list[dict[str, str]]:
    try:
        keys = json.loads(path.read_text()).get("keys")
        if not keys or not all(isinstance(k, dict) and k.get("name") and
                               len(base64.b64decode(k.get("secret", ""), validate=True)) == 32 for k in keys):
            raise ValueError("no keys, or a key that is not 32 bytes of base64")
    except FileNotFoundError:
        raise
    except (OSError, ValueError, AttributeError) as e:
        raise KeyringError(f"{path}: not a usable Secrets encryption keyring: {e}") from None
    return list(keys)


def write_keys(path: Path, keys: list[dict[str, str]], exclusive: bool = False) -> None:
    """Written whole, mode 0600, replacing the file atomically (or only when absent)."""
    data = json.dumps({"keys": keys}, indent=1).encode()
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class EncryptingStorage:
    """Delegates to `inner`, encrypting Secret values on the way in and decrypting them on the way out."""

    def __init__(self, inner: Storage, keyring: Keyring) -> None:
        self.inner = inner
        self.keyring = keyring

    def _in(self, key: str, value: bytes) -> bytes:
        return self.keyring.encrypt(key, value) if key.startswith(SECRETS_PREFIX) else value

    def _out(self, kv: KeyValue) -> KeyValue:
        if not kv.key.startswith(SECRETS_PREFIX):
            return kv
        return replace(kv, value=self.keyring.decrypt(kv.key, kv.value))

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        kv = await self.inner.get(key, revision)
        return None if kv is None else self._out(kv)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        res = await self.inner.list(prefix, revision=revision, limit=limit, start_after=start_after)
        if not any(kv.key.startswith(SECRETS_PREFIX) for kv in res.items):
            return res
        return replace(res, items=[self._out(kv) for kv in res.items])

    async def create(self, key: str, value: bytes) -> KeyValue:
        return self._plain(await self.inner.create(key, self._in(key, value)), value)

    async def update(self, key: str, value: bytes, expected_revision: int = 0) -> KeyValue:
        try:
            kv = await self.inner.update(key, self._in(key, value), expected_revision)
        except RevisionMismatch as e:
            raise RevisionMismatch(str(e), self._out(e.current) if e.current is not None else None) from None
        return self._plain(kv, value)

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        try:
            return self._out(await self.inner.delete(key, expected_revision))
        except RevisionMismatch as e:
            raise RevisionMismatch(str(e), self._out(e.current) if e.current is not None else None) from None

    async def watch(self, prefix: str, revision: int) -> AsyncIterator[WatchEvent]:
        async for ev in self.inner.watch(prefix, revision):
            if ev.kv.key.startswith(SECRETS_PREFIX):
                ev = WatchEvent(ev.type, self._out(ev.kv), self._out(ev.prev) if ev.prev is not None else None)
            yield ev

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)

    @staticmethod
    def _plain(kv: KeyValue, value: bytes) -> KeyValue:
        return replace(kv, value=value)


async def secrets_encrypted(storage: Storage) -> bool:
    """Whether any Secret is stored encrypted (then a missing keyring must be an error)."""
    res = await storage.list(SECRETS_PREFIX)
    return any(kv.value.startswith(_MAGIC) for kv in res.items)


def keyring_for(data_dir: Path) -> Path:
    return data_dir / KEYRING_FILE
