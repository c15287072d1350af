"""Choosing a storage backend from a URL: `sqlite:///abs/path.db` (default) or `memory://` (tests)."""

from __future__ import annotations

from urllib.parse import urlsplit

from podfleet.storage.interface import Storage


def open_storage(url: str) -> Storage:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = url[len("sqlite://"):]
        if not path or (path != ":memory:" and not path.startswith("/")):
            raise ValueError(f"sqlite storage URL needs an absolute path: sqlite:///path/to/db (got {url!r})")
        from podfleet.storage.sqlite import SQLiteStorage

        return SQLiteStorage(path)
    if parts.scheme == "memory":
        from podfleet.storage.memory import MemoryStorage

        return MemoryStorage()
    if parts.scheme == "etcd":
        raise ValueError("etcd:// storage is not available yet; use the embedded default sqlite:///path")
    raise ValueError(f"unsupported storage URL {url!r}: use sqlite:///path, memory:// or etcd://host:port")
