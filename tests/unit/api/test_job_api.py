"""batch/v1 Job through the store: defaults, the generated selector, validation and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.api import batch
from podfleet.api.errors import APIError
from podfleet.api.resources import JOBS
from podfleet.client.local import LocalClient


def job(restart: str | None = "Never", **spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if restart:
        pod["restartPolicy"] = restart
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "default"},
            "spec": {"template": {"spec": pod}, **spec}}


async def invalid(client: LocalClient, obj: dict[str, Any]) -> str:
    with pytest.raises(APIError) as e:
        await client.create(JOBS, obj)
    assert e.value.code == 422
    return str(e.value)


async def test_defaults_and_generated_selector(client: LocalClient) -> None:
    j = await client.create(JOBS, job())
    spec, uid = j["spec"], j["metadata"]["uid"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"], spec["manualSelector"]) == ("NonIndexed", False, False)
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {batch.CONTROLLER_UID_LABEL: uid}}
    labels = {batch.CONTROLLER_UID_LABEL: uid, batch.JOB_NAME_LABEL: "j", "controller-uid": uid, "job-name": "j"}
    assert spec["template"]["metadata"]["labels"] == labels
    assert j["metadata"]["labels"] == labels
    assert "status" not in j or not j["status"].get("succeeded")


@pytest.mark.parametrize(("spec", "expected"), [
    ({"parallelism": 3}, (3, None)),
    ({"completions": 5}, (1, 5)),
])
async def test_parallelism_completions_defaults(client: LocalClient, spec: dict[str, Any],
                                                expected: tuple[int, int | None]) -> None:
    j = await client.create(JOBS, job(**spec))
    assert (j["spec"]["parallelism"], j["spec"].get("completions")) == expected


@pytest.mark.parametrize(("obj", "message"), [
    (job(restart=None), 'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'),
    (job(restart="Always"), "spec.template.spec.restartPolicy: Required value"),
    (job(parallelism=-1), "spec.parallelism: Invalid value: -1: must be greater than or equal to 0"),
    (job(completions=-2), "spec.completions: Invalid value: -2: must be greater than or equal to 0"),
    (job(backoffLimit=-1), "spec.backoffLimit: Invalid value: -1"),
    (job(completionMode="Indexed", parallelism=2), "spec.completions: Required value: when completion mode is "
                                                   "Indexed"),
    (job(completionMode="Sometimes"), 'spec.completionMode: Unsupported value: "Sometimes"'),
    (job(podFailurePolicy={"rules": []}), "spec.podFailurePolicy: Forbidden: is not supported by podfleet"),
    (job(successPolicy={"rules": []}), "spec.successPolicy: Forbidden: is not supported by podfleet"),
    (job(backoffLimitPerIndex=1, completionMode="Indexed", completions=2),
     "spec.backoffLimitPerIndex: Forbidden: is not supported by podfleet"),
    (job(maxFailedIndexes=1), "spec.maxFailedIndexes: Forbidden: is not supported by podfleet"),
    (job(podReplacementPolicy="Failed"), "spec.podReplacementPolicy: Forbidden: Failed is not supported"),
    (job(managedBy="example.com/mine"), "spec.managedBy: Forbidden"),
    (job(manualSelector=True), "spec.selector: Required value"),
    (job(manualSelector=True, selector={"matchLabels": {"a": "b"}}),
     "spec.template.metadata.labels: Invalid value: map[string]string{}: `selector` does not match template"),
    (job(selector={"matchLabels": {"a": "b"}}), "`selector` not auto-generated"),
])
async def test_invalid(client: LocalClient, obj: dict[str, Any], message: str) -> None:
    assert message in await invalid(client, obj)


async def test_manual_selector_accepted(client: LocalClient) -> None:
    obj = job(manualSelector=True, selector={"matchLabels": {"a": "b"}})
    obj["spec"]["template"]["metadata"] = {"labels": {"a": "b"}}
    j = await client.create(JOBS, obj)
    assert j["spec"]["selector"] == {"matchLabels": {"a": "b"}}


async def test_template_immutable_unless_suspended_and_never_started(client: LocalClient) -> None:
    j = await client.create(JOBS, job())
    j["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    with pytest.raises(APIError) as e:
        await client.update(JOBS, j)
    assert "spec.template: Invalid value" in str(e.value) and "field is immutable" in str(e.value)
    s = await client.create(JOBS, {**job(suspend=True), "metadata": {"name": "s", "namespace": "default"}})
    s["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    s["spec"]["template"]["metadata"]["annotations"] = {"a": "b"}
    updated = await client.update(JOBS, s)
    assert updated["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    with pytest.raises(APIError):
        await client.update(JOBS, updated)


async def test_completions_immutable_except_elastic_indexed(client: LocalClient) -> None:
    j = await client.create(JOBS, job(completions=2))
    j["spec"]["completions"] = 3
    with pytest.raises(APIError) as e:
        await client.update(JOBS, j)
    assert "spec.completions: Invalid value: 3: field is immutable" in str(e.value)
    obj = job(completions=2, parallelism=2, completionMode="Indexed")
    obj["metadata"]["name"] = "ix"
    ix = await client.create(JOBS, obj)
    ix["spec"]["completions"] = ix["spec"]["parallelism"] = 4
    assert (await client.update(JOBS, ix))["spec"]["completions"] == 4


async def test_status_subresource(client: LocalClient) -> None:
    j = await client.create(JOBS, job())
    j["status"] = {"succeeded": 1}
    j["spec"]["parallelism"] = 1
    written = await client.update(JOBS, j, "status")
    assert written["status"] == {"succeeded": 1}
    written["status"] = {"active": -1}
    with pytest.raises(APIError) as e:
        await client.update(JOBS, written, "status")
    assert "status.active" in str(e.value)
