"""One real etcd member (plaintext) and one with TLS and client certificates, shared by this
directory's tests: each is started on first use and stopped, its files removed, at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage_helpers import EtcdProcess, etcd_available, running_etcd


def _member(tls: bool) -> Iterator[EtcdProcess]:
    if not etcd_available():
        pytest.skip("etcd is not installed (Debian's etcd-server: scripts/bootstrap.sh installs it)")
    with running_etcd(tls=tls) as etcd:
        yield etcd


@pytest.fixture(scope="session")
def etcd_member() -> Iterator[EtcdProcess]:
    yield from _member(False)


@pytest.fixture(scope="session")
def etcd_tls_member() -> Iterator[EtcdProcess]:
    yield from _member(True)
