"""Choosing a storage backend from a URL.

- `sqlite:///abs/path.db` — the embedded default (one API server).
- `memory://` — the in-process fake, for tests.
- `etcd://host:port[,host:port...]` — an etcd v3 cluster over plaintext gRPC (several API servers
  can share it). The port defaults to 2379; IPv6 addresses go in brackets (`etcd://[::1]:2379`).
- `etcds://host:port[,...]?cafile=/ca.crt&certfile=/client.crt&keyfile=/client.key` — the same over
  TLS. The parameters are kube-apiserver's `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`:
  `cafile` verifies etcd's server certificate (the system roots without it), `certfile` and
  `keyfile` (both or neither) are the client certificate etcd checks with `--client-cert-auth`.
  Paths are absolute.
"""

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
    if parts.scheme in ("etcd", "etcds"):
        from podfleet.storage.etcd import EtcdStorage  # imports grpc: only when etcd is asked for

        return EtcdStorage.from_url(url)
    raise ValueError(f"unsupported storage URL {url!r}: use sqlite:///path, memory://, etcd://host:port "
                     "or etcds://host:port?cafile=...&certfile=...&keyfile=...")
