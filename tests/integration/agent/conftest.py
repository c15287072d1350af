"""One real single-node cluster (`podfleet up` subprocess) per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_helpers import Cluster, running_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(Path(tmp_path_factory.mktemp("up")), "--backoff-base", "1") as c:
        yield c
