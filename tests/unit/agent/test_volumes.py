"""downwardAPI and projected volumes on the node, and the ServiceAccount tokens in them: written into
one directory with their modes, tokens bound to the pod, cached, renewed at 80 % of their life and
rewritten in place while the pod runs (the executor syncs the pod again by then)."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path
from typing import Any

import pytest

from podfleet.agent.downward_api import format_map, go_quote
from podfleet.agent.executor import PodActionsExecutor
from podfleet.agent.pod_actions import PodActions
from podfleet.agent.sandboxes.fake import FakePodSandboxes
from podfleet.agent.service_account_tokens import TokenManager, refresh_time
from podfleet.agent.volumes import VolumeError, VolumeManager
from podfleet.api.errors import NotFound
from podfleet.api.meta import rfc3339
from podfleet.api.resources import CONFIGMAPS, SECRETS, ResourceType
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class TokenAPI:
    """The in-memory API for ConfigMaps and Secrets, plus a TokenRequest endpoint that records what it
    is asked and issues numbered tokens valid for the lifetime asked."""

    def __init__(self, client: LocalClient, clock: FakeClock) -> None:
        self.client, self.clock = client, clock
        self.requests: list[tuple[str, str, str, str, dict[str, Any]]] = []
        self.fail = False

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> dict[str, Any]:
        return await self.client.get(rt, name, namespace)

    async def post_subresource(self, rt: ResourceType, name: str, namespace: str, subresource: str,
                               body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((rt.plural, name, namespace, subresource, body))
        if self.fail:
            raise NotFound(f'serviceaccounts "{name}" not found')
        expires = self.clock.now() + dt.timedelta(seconds=body["spec"]["expirationSeconds"])
        return {"kind": "TokenRequest", "spec": body["spec"],
                "status": {"token": f"token-{len(self.requests)}", "expirationTimestamp": rfc3339(expires)}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(client: LocalClient, clock: FakeClock) -> TokenAPI:
    return TokenAPI(client, clock)


@pytest.fixture
def volumes(tmp_path: Path, api: TokenAPI, clock: FakeClock) -> VolumeManager:
    return VolumeManager(tmp_path, api, TokenManager(api, clock), clock)  # type: ignore[arg-type]


def make_pod(volumes: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default", "uid": "uid-1",
                         "labels": {"app": "web", "tier": 'front "end"'},
                         "annotations": {"note": "line1\nline2", "zz": "é\u200b"}},
            "spec": {"volumes": volumes, **spec,
                     "containers": [{"name": "app", "resources": {"limits": {"memory": "100Mi", "cpu": "1500m"},
                                                                  "requests": {"cpu": "250m"}}}]}}


def kube_api_access(expiration: int = 3607) -> dict[str, Any]:
    """The volume ServiceAccount admission adds to every pod."""
    return {"name": "kube-api-access-abcde", "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": expiration, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                       "fieldPath": "metadata.namespace"}}]}}]}}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def add_root_ca(client: LocalClient) -> None:
    await client.create(CONFIGMAPS, {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "CA"}},
                        "default")


# ---------------------------------------------------------------------------- downward API

def test_maps_are_sorted_key_value_lines_quoted_as_go() -> None:
    assert go_quote('a"b\\c\nd\x01é\u200b\U0001F600') == '"a\\"b\\\\c\\nd\\x01é\\u200b\U0001F600"'
    assert format_map({"b": "2", "a": 'x "y"'}) == 'a="x \\"y\\""\nb="2"'
    assert format_map({}) == ""


async def test_a_downward_api_volume_holds_metadata_and_resources_with_their_modes(
        volumes: VolumeManager) -> None:
    def field(path: str, field_path: str, **kw: Any) -> dict[str, Any]:
        return {"path": path, "fieldRef": {"apiVersion": "v1", "fieldPath": field_path}, **kw}

    def resource(path: str, resource: str, divisor: str | None = None) -> dict[str, Any]:
        ref = {"containerName": "app", "resource": resource, **({"divisor": divisor} if divisor else {})}
        return {"path": path, "resourceFieldRef": ref}

    pod = make_pod([{"name": "podinfo", "downwardAPI": {"defaultMode": 0o600, "items": [
        field("labels", "metadata.labels", mode=0o444), field("annotations", "metadata.annotations"),
        field("name", "metadata.name"), field("ns", "metadata.namespace"), field("uid", "metadata.uid"),
        field("app", "metadata.labels['app']"), field("sub/note", "metadata.annotations['note']"),
        resource("mem_mi", "limits.memory", "1Mi"), resource("cpu_m", "limits.cpu", "1m"),
        resource("cpu", "limits.cpu"), resource("req_cpu_m", "requests.cpu", "1m"),
        resource("req_mem", "requests.memory")]}}])
    target = (await volumes.setup(pod))["podinfo"]
    read = {p: (target / p).read_text() for p in ("labels", "annotations", "name", "ns", "uid", "app", "sub/note",
                                                  "mem_mi", "cpu_m", "cpu", "req_cpu_m", "req_mem")}
    assert read == {"labels": 'app="web"\ntier="front \\"end\\""', "annotations": 'note="line1\\nline2"\nzz="é\\u200b"',
                    "name": "web", "ns": "default", "uid": "uid-1", "app": "web", "sub/note": "line1\nline2",
                    "mem_mi": "100", "cpu_m": "1500", "cpu": "2", "req_cpu_m": "250", "req_mem": "0"}
    assert mode(target / "labels") == 0o444 and mode(target / "name") == 0o600


# ---------------------------------------------------------------------------- projected volumes

async def test_a_projected_volume_gathers_every_source_in_one_directory(
        volumes: VolumeManager, client: LocalClient, api: TokenAPI) -> None:
    await add_root_ca(client)
    await client.create(SECRETS, {"metadata": {"name": "creds"}, "type": "Opaque",
                                  "data": {"user": base64.b64encode(b"admin").decode(),
                                           "pass": base64.b64encode(b"s3cret").decode()}}, "default")
    vol = kube_api_access()
    vol["projected"]["defaultMode"] = 0o640
    vol["projected"]["sources"] += [
        {"secret": {"name": "creds", "items": [{"key": "pass", "path": "db/password", "mode": 0o400}]}},
        {"configMap": {"name": "absent", "optional": True}},
        {"secret": {"name": "absent-too", "optional": True}},
    ]
    target = (await volumes.setup(make_pod([vol])))[vol["name"]]
    assert target.parent.parent == volumes.pod_volumes_dir("uid-1")
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == ["ca.crt", "db/password", "namespace", "token"]
    assert (target / "token").read_text() == "token-1" and (target / "ca.crt").read_text() == "CA"
    assert (target / "namespace").read_text() == "default" and (target / "db/password").read_text() == "s3cret"
    assert mode(target / "token") == mode(target / "ca.crt") == 0o640 and mode(target / "db/password") == 0o400


async def test_a_missing_configmap_that_is_not_optional_fails_the_mount(volumes: VolumeManager) -> None:
    with pytest.raises(VolumeError, match=r'volume "kube-api-access-abcde" : configmap "kube-root-ca\.crt" not'):
        await volumes.setup(make_pod([kube_api_access()]))


async def test_the_token_is_requested_bound_to_the_pod_and_cached(
        volumes: VolumeManager, client: LocalClient, api: TokenAPI) -> None:
    await add_root_ca(client)
    vol = kube_api_access()
    vol["projected"]["sources"].append({"serviceAccountToken": {"audience": "vault", "expirationSeconds": 7200,
                                                                "path": "vault-token"}})
    pod = make_pod([vol], serviceAccountName="builder")
    await volumes.setup(pod)
    await volumes.setup(pod)  # a container restart sets the volumes up again: no new tokens
    assert [r[:4] for r in api.requests] == [("serviceaccounts", "builder", "default", "token")] * 2
    bound = {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": "uid-1"}
    assert [r[4] for r in api.requests] == [
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"audiences": [], "expirationSeconds": 3607, "boundObjectRef": bound}},
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"audiences": ["vault"], "expirationSeconds": 7200, "boundObjectRef": bound}}]


async def test_the_token_is_renewed_at_80_percent_of_its_life_and_rewritten_in_place(
        volumes: VolumeManager, client: LocalClient, api: TokenAPI, clock: FakeClock) -> None:
    await add_root_ca(client)
    pod = make_pod([kube_api_access(expiration=1000), {"name": "scratch", "emptyDir": {}}])
    start = clock.now().timestamp()
    token = (await volumes.setup(pod))["kube-api-access-abcde"] / "token"
    assert volumes.refresh_at("uid-1") == pytest.approx(start + 800)
    assert not volumes.refresh_due(pod)
    await clock.advance(799)
    assert not volumes.refresh_due(pod)
    await clock.advance(1)
    assert volumes.refresh_due(pod)
    inode = token.stat().st_ino
    await volumes.refresh(pod)
    assert token.read_text() == "token-2" and token.stat().st_ino != inode  # replaced, not rewritten in place
    assert len(api.requests) == 2 and volumes.refresh_at("uid-1") == pytest.approx(start + 1600)


def test_a_long_lived_token_is_renewed_after_a_day() -> None:
    issued = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert refresh_time(issued, issued + dt.timedelta(days=365)) == issued + dt.timedelta(hours=24)
    assert refresh_time(issued, issued + dt.timedelta(hours=1)) == issued + dt.timedelta(minutes=48)


async def test_a_volume_this_agent_has_not_written_is_due_at_once(volumes: VolumeManager) -> None:
    """After an agent restart the running pod's token volume is written again: its token may be stale."""
    pod = make_pod([kube_api_access(), {"name": "scratch", "emptyDir": {}}])
    assert volumes.refresh_due(pod) and volumes.refresh_at("uid-1") is None
    assert not volumes.refresh_due(make_pod([{"name": "scratch", "emptyDir": {}}]))


async def test_teardown_forgets_the_pods_tokens(
        volumes: VolumeManager, client: LocalClient, api: TokenAPI) -> None:
    await add_root_ca(client)
    pod = make_pod([kube_api_access()])
    await volumes.setup(pod)
    await volumes.teardown("uid-1")
    assert volumes.refresh_at("uid-1") is None and not volumes.pod_volumes_dir("uid-1").exists()
    await volumes.setup(pod)
    assert len(api.requests) == 2


async def test_a_refused_token_request_fails_the_mount_naming_the_service_account(
        volumes: VolumeManager, client: LocalClient, api: TokenAPI) -> None:
    await add_root_ca(client)
    api.fail = True
    with pytest.raises(VolumeError, match=r'ServiceAccount "default/robot": serviceaccounts "robot" not found'):
        await volumes.setup(make_pod([kube_api_access()], serviceAccountName="robot"))


async def test_a_failed_renewal_keeps_the_token_while_it_is_valid(
        volumes: VolumeManager, client: LocalClient, api: TokenAPI, clock: FakeClock) -> None:
    await add_root_ca(client)
    pod = make_pod([kube_api_access(expiration=1000)])
    token = (await volumes.setup(pod))["kube-api-access-abcde"] / "token"
    api.fail = True
    await clock.advance(900)
    await volumes.refresh(pod)
    assert token.read_text() == "token-1"
    await clock.advance(100)
    with pytest.raises(VolumeError, match="ServiceAccount"):
        await volumes.refresh(pod)


# ---------------------------------------------------------------------------- the executor

class Events:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, str]] = []

    def emit(self, pod: dict[str, Any], kind: str, reason: str, message: str) -> None:
        self.emitted.append((reason, message))


async def test_a_running_pod_is_synced_again_when_its_token_is_due_and_the_volume_rewritten(
        tmp_path: Path, volumes: VolumeManager, client: LocalClient, api: TokenAPI, clock: FakeClock) -> None:
    await add_root_ca(client)
    sandboxes = FakePodSandboxes(tmp_path / "sandboxes", clock=clock)
    events = Events()
    executor = PodActionsExecutor(sandboxes=sandboxes, runner=None, volumes=volumes, records=None,  # type: ignore[arg-type]
                                  backoff=None, probes=None, events=events, clock=clock)  # type: ignore[arg-type]
    pod = make_pod([kube_api_access(expiration=1000)])
    assert await executor.execute(pod, PodActions(requeue_after=30.0)) == 30.0  # no sandbox: nothing to refresh
    await sandboxes.create(pod)
    token = (await volumes.setup(pod))["kube-api-access-abcde"] / "token"
    assert await executor.execute(pod, PodActions()) == pytest.approx(800)
    assert await executor.execute(pod, PodActions(requeue_after=30.0)) == 30.0
    await clock.advance(800)
    assert await executor.execute(pod, PodActions()) == pytest.approx(800)
    assert token.read_text() == "token-2" and len(api.requests) == 2
    api.fail = True
    await clock.advance(1000)
    assert await executor.execute(pod, PodActions()) == 4.0
    assert [reason for reason, _ in events.emitted] == ["FailedMount"]
