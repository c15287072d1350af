"""A container's environment from ConfigMaps, Secrets, its resources and the pod's fields."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.agent.container_config import ConfigError, environment
from podfleet.agent.env_sources import referenced

POD: dict[str, Any] = {"metadata": {"name": "web", "namespace": "ns", "uid": "u1", "labels": {"app": "web"},
                                    "annotations": {"team": "blue"}},
                       "spec": {"nodeName": "n1", "serviceAccountName": "default"}}
SOURCES: dict[tuple[str, str], dict[str, str] | None] = {
    ("ConfigMap", "cfg"): {"MODE": "fast", "LEVEL": "3", "not a name": "x"},
    ("Secret", "creds"): {"password": "s3cret"},
    ("ConfigMap", "gone"): None,
}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return environment({"name": "main", **container}, {"Env": ["FROM_IMAGE=1"]}, POD, ["10.0.0.5"], "192.168.0.1",
                       SOURCES)


def test_env_from_and_keys_with_env_winning_and_expansion() -> None:
    env = env_of({"envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "APP_"}, {"secretRef": {"name": "creds"}}],
                  "env": [{"name": "APP_MODE", "value": "slow"},
                          {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                          {"name": "URL", "value": "db://$(PW)@host"}]})
    assert env["APP_LEVEL"] == "3" and env["APP_MODE"] == "slow" and env["password"] == "s3cret"
    assert env["URL"] == "db://s3cret@host" and env["FROM_IMAGE"] == "1"
    assert "APP_not a name" not in env  # not a variable name: skipped, as kubelet does


@pytest.mark.parametrize(("container", "message"), [
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}]},
     'configmap "gone" not found'),
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}}]},
     "couldn't find key nope in Secret ns/creds"),
    ({"envFrom": [{"configMapRef": {"name": "gone"}}]}, 'configmap "gone" not found'),
])
def test_missing_references_fail_the_start(container: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        env_of(container)
    assert str(e.value) == message


def test_optional_references_may_be_missing() -> None:
    env = env_of({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k",
                                                                          "optional": True}}},
                          {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "no",
                                                                       "optional": True}}}],
                  "envFrom": [{"configMapRef": {"name": "gone", "optional": True}}]})
    assert "X" not in env and "Y" not in env


def test_field_and_resource_references() -> None:
    env = env_of({"resources": {"limits": {"cpu": "1500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
                  "env": [{"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                          {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['team']"}}},
                          {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                          {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                          {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu",
                                                                               "divisor": "1m"}}},
                          {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                                "divisor": "1Mi"}}}]})
    assert (env["APP"], env["TEAM"], env["IPS"]) == ("web", "blue", "10.0.0.5")
    assert (env["CPU"], env["CPU_M"], env["MEM_MI"]) == ("2", "250", "128")  # rounded up, as kubelet


def test_what_is_fetched() -> None:
    assert referenced({"env": [{"name": "a", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                       "envFrom": [{"configMapRef": {"name": "c"}}]}) == {("Secret", "s"), ("ConfigMap", "c")}
