"""batch/v1 CronJob through the store: defaults, validation with upstream's causes, the table."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from podfleet.api.errors import APIError
from podfleet.api.resources import CRONJOBS
from podfleet.api.table import to_table
from podfleet.api.validation import validation_warnings
from podfleet.client.local import LocalClient


def cron_job(name: str = "cj", restart: str | None = "OnFailure", job_spec: dict[str, Any] | None = None,
             **spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if restart:
        pod["restartPolicy"] = restart
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": pod},
                                                                         **(job_spec or {})}}, **spec}}


async def invalid(client: LocalClient, obj: dict[str, Any]) -> str:
    with pytest.raises(APIError) as e:
        await client.create(CRONJOBS, obj)
    assert e.value.code == 422
    return str(e.value)


async def test_defaults(client: LocalClient) -> None:
    cj = await client.create(CRONJOBS, cron_job())
    spec = cj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirst" and pod["containers"][0]["terminationMessagePolicy"] == "File"
    assert "selector" not in spec["jobTemplate"]["spec"]  # generated per Job, not here
    assert cj["metadata"]["generation"] == 1
    assert "timeZone" not in spec


@pytest.mark.parametrize("schedule", ["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually",
                                      "@midnight", "@every 1h30m", "0 9 * * MON-FRI", "*/5 0-6 1,15 * ?"])
async def test_schedules_accepted(client: LocalClient, schedule: str) -> None:
    cj = await client.create(CRONJOBS, cron_job(schedule=schedule))
    assert cj["spec"]["schedule"] == schedule


async def test_time_zone_accepted(client: LocalClient) -> None:
    cj = await client.create(CRONJOBS, cron_job(timeZone="Europe/Berlin"))
    assert cj["spec"]["timeZone"] == "Europe/Berlin"


@pytest.mark.parametrize(("obj", "message"), [
    (cron_job(schedule="not a schedule"),
     'spec.schedule: Invalid value: "not a schedule": expected exactly 5 fields, found 3: [not a schedule]'),
    (cron_job(schedule="61 * * * *"), 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above '
                                      "maximum (59): 61"),
    (cron_job(schedule="@sometimes"), 'spec.schedule: Invalid value: "@sometimes": unrecognized descriptor: '
                                      "@sometimes"),
    (cron_job(schedule=""), "spec.schedule: Required value"),
    (cron_job(schedule="TZ=UTC * * * * *"), 'spec.schedule: Invalid value: "TZ=UTC * * * * *": cannot use TZ or '
                                            "CRON_TZ in schedule, use timeZone field instead"),
    (cron_job(timeZone="Mars/Olympus"), 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone '
                                        "Mars/Olympus"),
    (cron_job(timeZone="../etc/passwd"), 'spec.timeZone: Invalid value: "../etc/passwd": unknown time zone'),
    (cron_job(timeZone=""), 'spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string'),
    (cron_job(timeZone="Local"), 'spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone'),
    (cron_job(concurrencyPolicy="Sometimes"), 'spec.concurrencyPolicy: Unsupported value: "Sometimes": '
                                              'supported values: "Allow", "Forbid", "Replace"'),
    (cron_job(startingDeadlineSeconds=-1), "spec.startingDeadlineSeconds: Invalid value: -1: must be greater "
                                           "than or equal to 0"),
    (cron_job(successfulJobsHistoryLimit=-1), "spec.successfulJobsHistoryLimit: Invalid value: -1"),
    (cron_job(failedJobsHistoryLimit=-2), "spec.failedJobsHistoryLimit: Invalid value: -2"),
    (cron_job(restart="Always"), "spec.jobTemplate.spec.template.spec.restartPolicy: Required value"),
    (cron_job(job_spec={"selector": {"matchLabels": {"a": "b"}}}),
     "spec.jobTemplate.spec.selector: Invalid value: ",),
    (cron_job(job_spec={"manualSelector": True}), 'spec.jobTemplate.spec.manualSelector: Unsupported value: true: '
                                                  'supported values: "nil", "false"'),
    (cron_job(job_spec={"parallelism": -1}), "spec.jobTemplate.spec.parallelism: Invalid value: -1"),
    (cron_job(job_spec={"podFailurePolicy": {"rules": []}}),
     "spec.jobTemplate.spec.podFailurePolicy: Forbidden: is not supported by podfleet"),
    (cron_job(name="x" * 53), "metadata.name: Invalid value: \"" + "x" * 53 + "\": must be no more than 52 "
                              "characters"),
])
async def test_invalid(client: LocalClient, obj: dict[str, Any], message: str) -> None:
    assert message in await invalid(client, obj)


async def test_update_keeps_status_and_validates(client: LocalClient) -> None:
    cj = await client.create(CRONJOBS, cron_job())
    cj["spec"]["schedule"] = "0 0 * * 8"
    with pytest.raises(APIError) as e:
        await client.update(CRONJOBS, cj)
    assert e.value.code == 422 and "spec.schedule" in str(e.value)
    patched = await client.patch(CRONJOBS, "cj", {"spec": {"suspend": True, "schedule": "@hourly"}}, "default")
    assert patched["spec"]["suspend"] is True and patched["metadata"]["generation"] == 2
    status = {"lastScheduleTime": "2026-01-01T00:00:00Z",
              "active": [{"kind": "Job", "name": "cj-1", "namespace": "default", "uid": "u"}]}
    written = await client.update(CRONJOBS, {**patched, "status": status}, "status")
    assert written["status"] == status
    assert written["metadata"]["generation"] == 2


def test_table_columns() -> None:
    now = dt.datetime(2026, 1, 1, 0, 10, tzinfo=dt.UTC)
    obj = cron_job(timeZone="Europe/Berlin", suspend=False)
    obj["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    obj["status"] = {"lastScheduleTime": "2026-01-01T00:09:00Z", "active": [{"name": "a"}, {"name": "b"}]}
    table = to_table(CRONJOBS, [obj], now=now)
    cols = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert cols == ["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"]
    assert table["rows"][0]["cells"] == ["cj", "*/1 * * * *", "Europe/Berlin", "False", 2, "60s", "10m", "c",
                                         "busybox", "<none>"]
    bare = cron_job()
    bare["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    cells = to_table(CRONJOBS, [bare], now=now)["rows"][0]["cells"]
    assert cells[2:6] == ["<none>", "<unset>", 0, "<none>"]


def test_pod_template_warnings() -> None:
    obj = cron_job()
    obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 80}, {"containerPort": 80}]
    warnings = validation_warnings(CRONJOBS, obj)
    assert warnings and "spec.jobTemplate.spec.template.spec.containers[0].ports[1]" in warnings[0]
