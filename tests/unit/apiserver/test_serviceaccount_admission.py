"""The ServiceAccount admission plugin: the pod's account must exist; its credential is mounted in every
init and app container unless the pod or the account opts out; the account's imagePullSecrets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from podfleet.api.errors import Forbidden
from podfleet.api.resources import NAMESPACES, PODS, SERVICEACCOUNTS, ResourceType
from podfleet.apiserver.serviceaccount_admission import (
    TOKEN_MOUNT_PATH,
    VOLUME_PREFIX,
    ServiceAccountAdmission,
    mount_token,
    should_automount,
    token_volume,
)
from podfleet.apiserver.store import Store, WriteOptions
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage


def pod_spec(**extra: Any) -> dict[str, Any]:
    return {"initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "app", "image": "busybox"},
                           {"name": "own", "image": "busybox",
                            "volumeMounts": [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]}],
            "volumes": [{"name": "mine", "emptyDir": {}}], **extra}


def test_token_volume_is_upstreams_kube_api_access() -> None:
    vol = token_volume("kube-api-access-abcde")
    sources = vol["projected"]["sources"]
    assert vol["projected"]["defaultMode"] == 0o644
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"] == {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_mount_token_mounts_every_container_without_its_own_mount() -> None:
    spec = pod_spec()
    mount_token(spec)
    added = [v for v in spec["volumes"] if v["name"].startswith(VOLUME_PREFIX)]
    assert len(added) == 1 and "projected" in added[0]
    mount = {"name": added[0]["name"], "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}
    assert spec["initContainers"][0]["volumeMounts"] == [mount]
    assert spec["containers"][0]["volumeMounts"] == [mount]
    assert spec["containers"][1]["volumeMounts"] == [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]


def test_mount_token_reuses_a_kube_api_access_volume_and_adds_none_when_nobody_needs_it() -> None:
    spec = pod_spec(volumes=[{"name": "kube-api-access-zzzzz", "emptyDir": {}}])
    mount_token(spec)
    assert [v["name"] for v in spec["volumes"]] == ["kube-api-access-zzzzz"]
    assert spec["containers"][0]["volumeMounts"][0]["name"] == "kube-api-access-zzzzz"
    taken = {"containers": [{"name": "a", "volumeMounts": [{"name": "x", "mountPath": TOKEN_MOUNT_PATH}]}],
             "volumes": [{"name": "x", "emptyDir": {}}]}
    mount_token(taken)
    assert [v["name"] for v in taken["volumes"]] == ["x"]


@pytest.mark.parametrize(("pod_setting", "account_setting", "expected"), [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True), (False, True, False)])
def test_the_pods_automount_setting_wins_over_the_accounts(pod_setting: bool | None, account_setting: bool | None,
                                                           expected: bool) -> None:
    spec = {} if pod_setting is None else {"automountServiceAccountToken": pod_setting}
    account = {} if account_setting is None else {"automountServiceAccountToken": account_setting}
    assert should_automount(spec, account) is expected


class Accounts:
    """A lookup answering from a dict, with the sleeps it was asked for."""

    def __init__(self, accounts: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.accounts = accounts
        self.lookups = 0
        self.sleeps: list[float] = []

    async def lookup(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        assert rt is SERVICEACCOUNTS
        self.lookups += 1
        return self.accounts.get((namespace, name))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def new_pod(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": spec}


async def test_a_missing_account_is_forbidden_and_default_is_waited_for() -> None:
    accounts = Accounts({})
    admission = ServiceAccountAdmission(default_attempts=4, retry_interval=0.1, sleep=accounts.sleep)
    with pytest.raises(Forbidden, match='error looking up service account ns/bot: serviceaccount "bot" not found'):
        await admission.admit(new_pod({"serviceAccountName": "bot", "containers": []}), accounts.lookup)
    assert (accounts.lookups, accounts.sleeps) == (1, [])
    with pytest.raises(Forbidden, match='serviceaccount "default" not found'):
        await admission.admit(new_pod({"containers": []}), accounts.lookup)
    assert accounts.sleeps == [0.1, 0.1, 0.1]


async def test_admission_mounts_the_token_and_copies_pull_secrets() -> None:
    accounts = Accounts({("ns", "bot"): {"imagePullSecrets": [{"name": "reg"}]},
                         ("ns", "quiet"): {"automountServiceAccountToken": False}})
    admission = ServiceAccountAdmission(sleep=accounts.sleep)
    pod = new_pod(pod_spec(serviceAccountName="bot"))
    await admission.admit(pod, accounts.lookup)
    assert pod["spec"]["imagePullSecrets"] == [{"name": "reg"}]
    assert any(v["name"].startswith(VOLUME_PREFIX) for v in pod["spec"]["volumes"])
    own = new_pod(pod_spec(serviceAccountName="bot", imagePullSecrets=[{"name": "mine"}]))
    await admission.admit(own, accounts.lookup)
    assert own["spec"]["imagePullSecrets"] == [{"name": "mine"}]
    quiet = new_pod(pod_spec(serviceAccountName="quiet"))
    await admission.admit(quiet, accounts.lookup)
    assert [v["name"] for v in quiet["spec"]["volumes"]] == ["mine"]
    mirror = {"metadata": {"name": "m", "namespace": "ns", "annotations": {"kubernetes.io/config.mirror": "x"}},
              "spec": pod_spec(serviceAccountName="nobody")}
    await admission.admit(mirror, accounts.lookup)  # static pods' mirrors are the node's, not an account's


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = MemoryStorage()
    await s.start()
    st = Store(s, FakeClock(), service_accounts=ServiceAccountAdmission(default_attempts=1))
    await st.create(NAMESPACES, "", {"metadata": {"name": "default"}}, WriteOptions())
    yield st
    await s.close()


async def test_the_store_admits_pods_before_validating_them(store: Store) -> None:
    body = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    with pytest.raises(Forbidden, match='serviceaccount "default" not found'):
        await store.create(PODS, "default", body, WriteOptions())
    await store.create(SERVICEACCOUNTS, "default", {"metadata": {"name": "default"}}, WriteOptions())
    stored = (await store.create(PODS, "default", body, WriteOptions())).object
    (volume,) = stored["spec"]["volumes"]
    assert volume["name"].startswith(VOLUME_PREFIX) and "projected" in volume
    assert stored["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == TOKEN_MOUNT_PATH
    # a pod whose added volume would make it invalid is refused with the cause, as any other
    bad = {"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "busybox", "volumeMounts": [
        {"name": "nope", "mountPath": "/x"}]}]}}
    with pytest.raises(Exception, match="nope"):
        await store.create(PODS, "default", bad, WriteOptions())
