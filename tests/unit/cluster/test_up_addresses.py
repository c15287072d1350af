"""`podfleet up` on one node: people and the agent use the bind address; pods reach the API server at
the node's address on their bridge (the `kubernetes` Service's endpoint), which it also listens on."""

from __future__ import annotations

from pathlib import Path

from podfleet.cluster.up import LocalCluster, UpConfig


def test_one_node_advertises_the_pod_bridge_gateway(tmp_path: Path) -> None:
    cfg = LocalCluster(UpConfig(data_dir=tmp_path, pod_cidr="10.250.3.0/24")).server.config
    assert (cfg.bind_address, cfg.kubeconfig_address) == ("127.0.0.1", "127.0.0.1")
    assert (cfg.advertise_address, cfg.extra_bind_addresses) == ("10.250.3.1", ["10.250.3.1"])


def test_a_wildcard_bind_needs_no_second_listener(tmp_path: Path) -> None:
    cfg = LocalCluster(UpConfig(data_dir=tmp_path, bind_address="0.0.0.0", pod_cidr="10.250.3.0/24")).server.config
    assert (cfg.kubeconfig_address, cfg.advertise_address, cfg.extra_bind_addresses) == \
        ("127.0.0.1", "10.250.3.1", [])
