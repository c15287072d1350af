"""Validation of batch/v1 Job (upstream pkg/apis/batch/validation), with its field paths and messages.

What podfleet's Job controller does not implement is refused with a 422 naming the field rather
than accepted and ignored: `podFailurePolicy`, `successPolicy`, `backoffLimitPerIndex`,
`maxFailedIndexes`, a `podReplacementPolicy` other than TerminatingOrFailed and a `managedBy`
other than the built-in controller's.
"""

from __future__ import annotations

import copy
from typing import Any

from podfleet.api import batch, cron
from podfleet.api.errors import Cause
from podfleet.api.selectors import selector_from_dict
from podfleet.api.validation_apps import selector_repr
from podfleet.api.validation_common import (
    Shown,
    bad,
    forbidden,
    immutable,
    is_int,
    nonnegative,
    not_supported,
    required,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from podfleet.api.validation_pod import validate_pod_spec
from podfleet.api.validation_unsupported import UNSUPPORTED

MAX_PARALLELISM_FOR_INDEXED_JOB = 100_000
_UNSUPPORTED_FIELDS = ("podFailurePolicy", "successPolicy", "backoffLimitPerIndex", "maxFailedIndexes")


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _template_labels(spec: dict[str, Any]) -> dict[str, Any]:
    return _d(_d(_d(spec.get("template")).get("metadata")).get("labels"))


def _has_label(field: str, labels: dict[str, Any], key: str, expected: str) -> list[Cause]:
    """ValidateHasLabel."""
    if key not in labels:
        return [required(f"{field}.labels[{key}]", expected)]
    if labels[key] != expected:
        return [bad(f"{field}.labels[{key}]", labels, f"must be '{expected}'")]
    return []


def _generated_selector(job: dict[str, Any]) -> list[Cause]:
    """validateGeneratedSelector: a generated selector selects the uid the template is labelled with."""
    spec, meta = _d(job.get("spec")), _d(job.get("metadata"))
    if spec.get("manualSelector") is True:
        return []
    labels = _template_labels(spec)
    if not labels:
        return []
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    causes: list[Cause] = []
    causes += _has_label("spec.template.metadata", labels, batch.LEGACY_CONTROLLER_UID_LABEL, uid)
    causes += _has_label("spec.template.metadata", labels, batch.LEGACY_JOB_NAME_LABEL, name)
    causes += _has_label("spec.template.metadata", labels, batch.CONTROLLER_UID_LABEL, uid)
    causes += _has_label("spec.template.metadata", labels, batch.JOB_NAME_LABEL, name)
    selector = spec.get("selector")
    if selector is None:
        return [*causes, required("spec.selector")]
    try:
        ok = selector_from_dict(selector).matches({batch.CONTROLLER_UID_LABEL: uid})
    except Exception:  # an invalid selector is reported by the selector checks
        ok = True
    if not ok:
        causes.append(bad("spec.selector", selector_repr(selector), "`selector` not auto-generated"))
    return causes


def _unsupported(spec: dict[str, Any], path: str = "spec") -> list[Cause]:
    causes = [forbidden(f"{path}.{f}", UNSUPPORTED) for f in _UNSUPPORTED_FIELDS if spec.get(f) is not None]
    prp = spec.get("podReplacementPolicy")
    if prp is not None and prp != batch.TERMINATING_OR_FAILED and spec.get("podFailurePolicy") is None:
        causes.append(forbidden(f"{path}.podReplacementPolicy", f"{prp!s} {UNSUPPORTED} (only "
                                                               f"{batch.TERMINATING_OR_FAILED} is)"))
    mb = spec.get("managedBy")
    if mb is not None and mb != batch.JOB_CONTROLLER_MANAGED_BY:
        causes.append(forbidden(f"{path}.managedBy", f"a controller other than {batch.JOB_CONTROLLER_MANAGED_BY} "
                                                  f"{UNSUPPORTED}"))
    return causes


def _job_spec(spec: dict[str, Any], path: str = "spec") -> list[Cause]:
    """validateJobSpec."""
    causes: list[Cause] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        causes += nonnegative(f"{path}.{key}", spec.get(key))
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in batch.COMPLETION_MODES:
            causes.append(not_supported(f"{path}.completionMode", mode, batch.COMPLETION_MODES))
        if mode == batch.INDEXED:
            if spec.get("completions") is None:
                causes.append(required(f"{path}.completions", f"when completion mode is {batch.INDEXED}"))
            par = spec.get("parallelism")
            if is_int(par) and par > MAX_PARALLELISM_FOR_INDEXED_JOB:
                causes.append(bad(f"{path}.parallelism", par, f"must be less than or equal to "
                                  f"{MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is {batch.INDEXED}"))
    causes += _unsupported(spec, path)
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        return [*causes, required(f"{path}.template")]
    tmeta = _d(tmpl.get("metadata"))
    causes += validate_labels(f"{path}.template.labels", tmeta.get("labels"))
    causes += validate_annotations(f"{path}.template.annotations", tmeta.get("annotations"))
    causes += validate_pod_spec(f"{path}.template.spec", tmpl.get("spec"))
    rp = _d(tmpl.get("spec")).get("restartPolicy")
    if rp in (None, "", "Always"):
        causes.append(required(f"{path}.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"'))
    elif rp not in ("OnFailure", "Never"):
        causes.append(not_supported(f"{path}.template.spec.restartPolicy", rp, ("OnFailure", "Never")))
    return causes


def validate_job(job: dict[str, Any]) -> list[Cause]:
    """ValidateJob (metadata is checked by the caller)."""
    spec = job.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes = _generated_selector(job)
    causes += _job_spec(spec)
    selector = spec.get("selector")
    if selector is None:
        causes.append(required("spec.selector"))
    else:
        causes += validate_label_selector("spec.selector", selector)
        try:
            matches = selector_from_dict(selector).matches(_template_labels(spec))
        except Exception:
            matches = True
        if not matches:
            causes.append(bad("spec.template.metadata.labels", _template_labels(spec),
                              "`selector` does not match template `labels`"))
    return causes


def _suspended_and_not_started(old: dict[str, Any]) -> bool:
    return bool(_d(old.get("spec")).get("suspend")) and not _d(old.get("status")).get("startTime")


def _template_for_comparison(new_tmpl: Any, old_tmpl: Any, mutable_scheduling: bool) -> tuple[Any, Any]:
    """validatePodTemplateUpdate: while a Job is suspended and never started, its pods' scheduling
    directives (node affinity, node selector, tolerations, scheduling gates, labels, annotations)
    may change; nothing else of the template may."""
    if not mutable_scheduling or not isinstance(new_tmpl, dict) or not isinstance(old_tmpl, dict):
        return new_tmpl, old_tmpl
    old = copy.deepcopy(old_tmpl)
    new_spec, old_spec = _d(new_tmpl.get("spec")), old.setdefault("spec", {})
    if not isinstance(old_spec, dict):
        return new_tmpl, old_tmpl
    old_meta = old.setdefault("metadata", {})
    new_meta = _d(new_tmpl.get("metadata"))
    for key in ("labels", "annotations"):
        if key in new_meta:
            old_meta[key] = new_meta[key]
        else:
            old_meta.pop(key, None)
    for key in ("nodeSelector", "tolerations", "schedulingGates"):
        if key in new_spec:
            old_spec[key] = new_spec[key]
        else:
            old_spec.pop(key, None)
    new_aff, old_aff = new_spec.get("affinity"), old_spec.get("affinity")
    if isinstance(old_aff, dict):
        rest = {k: v for k, v in old_aff.items() if k != "nodeAffinity"}
        if isinstance(new_aff, dict):
            if "nodeAffinity" in new_aff:
                rest["nodeAffinity"] = new_aff["nodeAffinity"]
            old_spec["affinity"] = rest
        elif not rest:
            old_spec.pop("affinity", None)
    elif isinstance(new_aff, dict) and set(new_aff) <= {"nodeAffinity"}:
        old_spec["affinity"] = new_aff
    return new_tmpl, old


def validate_job_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidateJobSpecUpdate."""
    spec, old_spec = _d(new.get("spec")), _d(old.get("spec"))
    causes: list[Cause] = []
    if spec.get("selector") != old_spec.get("selector"):
        causes.append(immutable("spec.selector", selector_repr(spec.get("selector"))))
    new_t, old_t = _template_for_comparison(spec.get("template"), old_spec.get("template"),
                                            _suspended_and_not_started(old))
    if new_t != old_t:
        causes.append(immutable("spec.template", Shown("core.PodTemplateSpec{...}")))
    for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy"):
        if spec.get(key) != old_spec.get(key):
            causes.append(immutable(f"spec.{key}", spec.get(key)))
    # validateCompletions: Indexed Jobs may change completions in tandem with parallelism (elastic).
    comp, old_comp = spec.get("completions"), old_spec.get("completions")
    if comp != old_comp:
        if spec.get("completionMode") != batch.INDEXED:
            causes.append(immutable("spec.completions", comp))
        elif comp is not None and comp != spec.get("parallelism"):
            causes.append(bad("spec.completions", comp, "can only be modified in tandem with spec.parallelism"))
    return causes


def validate_job_status(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """The counters of a status write (a subset of ValidateJobUpdateStatus)."""
    status = _d(new.get("status"))
    causes: list[Cause] = []
    for key in ("active", "succeeded", "failed", "ready", "terminating"):
        causes += nonnegative(f"status.{key}", status.get(key))
    old_status = _d(old.get("status"))
    if old_status.get("completionTime") and status.get("completionTime") != old_status.get("completionTime"):
        causes.append(immutable("status.completionTime", status.get("completionTime")))
    return causes


# ---------------------------------------------------------------------------- CronJob

def _schedule(spec: dict[str, Any]) -> list[Cause]:
    """validateScheduleFormat: what cron.ParseStandard refuses, and no TZ in the schedule."""
    schedule = spec.get("schedule")
    if not schedule:
        return [required("spec.schedule")]
    if not isinstance(schedule, str):
        return [bad("spec.schedule", schedule, "must be a string")]
    causes: list[Cause] = []
    try:
        cron.parse_schedule(schedule)
    except cron.ScheduleError as e:
        causes.append(bad("spec.schedule", schedule, str(e)))
    if "TZ" in schedule:
        causes.append(bad("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field "
                                                     "instead"))
    return causes


def _time_zone(tz: Any) -> list[Cause]:
    """validateTimeZone."""
    if tz is None:
        return []
    if not isinstance(tz, str) or not tz:
        return [bad("spec.timeZone", tz, "timeZone must be nil or non-empty string")]
    if not cron.valid_time_zone_name(tz):
        return [bad("spec.timeZone", tz, f"unknown time zone {tz}")]
    if tz.lower() == "local":
        return [bad("spec.timeZone", tz, "timeZone must be an explicit time zone as defined in "
                                         "https://www.iana.org/time-zones")]
    try:
        cron.load_time_zone(tz)
    except cron.ScheduleError as e:
        return [bad("spec.timeZone", tz, str(e))]
    return []


def validate_cron_job(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """ValidateCronJobCreate/Update less the metadata (checked by the caller): validateCronJobSpec,
    ValidateJobTemplateSpec and the name's length."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes = _schedule(spec)
    causes += nonnegative("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds"))
    old_spec = _d((old or {}).get("spec"))
    if old is None or old_spec.get("timeZone") != spec.get("timeZone"):
        causes += _time_zone(spec.get("timeZone"))
    policy = spec.get("concurrencyPolicy")
    if not policy:
        causes.append(required("spec.concurrencyPolicy"))
    elif policy not in batch.CONCURRENCY_POLICIES:
        causes.append(not_supported("spec.concurrencyPolicy", policy, batch.CONCURRENCY_POLICIES))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes += nonnegative(f"spec.{key}", spec.get(key))
    jt = spec.get("jobTemplate")
    if not isinstance(jt, dict):
        return [*causes, required("spec.jobTemplate")]
    jmeta = _d(jt.get("metadata"))
    causes += validate_labels("spec.jobTemplate.metadata.labels", jmeta.get("labels"))
    causes += validate_annotations("spec.jobTemplate.metadata.annotations", jmeta.get("annotations"))
    jspec = _d(jt.get("spec"))
    causes += _job_spec(jspec, "spec.jobTemplate.spec")
    if jspec.get("selector") is not None:
        causes.append(bad("spec.jobTemplate.spec.selector", selector_repr(jspec.get("selector")),
                          "`selector` will be auto-generated"))
    if jspec.get("manualSelector") is True:
        causes.append(not_supported("spec.jobTemplate.spec.manualSelector", Shown("true"), ("nil", "false")))
    name = _d(obj.get("metadata")).get("name")
    if old is None and isinstance(name, str) and len(name) > batch.MAX_CRONJOB_NAME_LENGTH:
        causes.append(bad("metadata.name", name, f"must be no more than {batch.MAX_CRONJOB_NAME_LENGTH} characters"))
    return causes


def validate_cron_job_status(new: dict[str, Any]) -> list[Cause]:
    """A status write's active references name Jobs."""
    causes: list[Cause] = []
    active = _d(new.get("status")).get("active")
    if active is not None and not isinstance(active, list):
        causes.append(bad("status.active", active, "must be a list"))
    return causes
