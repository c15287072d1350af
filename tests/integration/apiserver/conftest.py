"""One real API server subprocess shared by the API integration tests of a module.

It runs alone, without the controller manager that gives every namespace its `default`
ServiceAccount, so ServiceAccount admission is off (pods need no account and get no credential);
tests/integration/cluster/test_in_cluster_identity.py covers it on a whole cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server_helpers import STANDALONE, RunningServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("apiserver")), *STANDALONE) as s:
        yield s
