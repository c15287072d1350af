"""The Scale subresource's view of each scalable kind."""

from __future__ import annotations

from podfleet.apiserver.scale import to_scale


def test_a_replication_controllers_map_selector_is_shown_as_a_label_selector() -> None:
    rc = {"kind": "ReplicationController", "metadata": {"name": "rc", "namespace": "default"},
          "spec": {"replicas": 3, "selector": {"app": "web", "tier": "fe"}}, "status": {"replicas": 2}}
    scale = to_scale(rc)
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"] == {"replicas": 2, "selector": "app=web,tier=fe"}


def test_a_replica_sets_label_selector_is_shown_as_it_is() -> None:
    rs = {"kind": "ReplicaSet", "metadata": {"name": "rs"},
          "spec": {"replicas": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "In",
                                                                      "values": ["a", "b"]}]}}}
    assert to_scale(rs)["status"]["selector"] == "app in (a,b)"
