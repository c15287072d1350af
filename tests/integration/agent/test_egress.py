"""Egress: a pod reaches an address beyond its node, leaving as the node (masquerade), so a host that
knows no route to pod addresses answers it.

The "outside" host is a network namespace this test creates, joined to the host by a veth pair and
given no route but its own link: it can only answer the node's address on that link.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_helpers import Cluster
from outside_helpers import OutsideHost, fetch_from_pod, outside_host

pytestmark = pytest.mark.integration


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[OutsideHost]:
    with outside_host(tmp_path) as host:
        yield host


def test_a_pod_reaches_beyond_its_node_as_the_node(cluster: Cluster, outside: OutsideHost) -> None:
    pod = fetch_from_pod(cluster, "egress", outside)
    assert outside.clients() == {outside.node_side}, pod["status"]["podIP"]  # the node's address, not the pod's
