"""Choosing a storage backend from a URL: `sqlite:///abs/path.db`, `memory://`, `etcd://h:p[,h:p]`."""

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
        endpoints = [e for e in url[len("etcd://"):].split("/")[0].split(",") if e]
        if not endpoints:
            raise ValueError(f"etcd storage URL needs host:port endpoints: etcd://host:port,... (got {url!r})")
        from podfleet.storage.etcd import EtcdStorage

        return EtcdStorage(endpoints)
    raise ValueError(f"unsupported storage URL {url!r}: use sqlite:///path, memory:// or etcd://host:port")
