"""batch/v1 Job: the labels, annotations and finalizer its controller and API agree on, its
defaulting (SetDefaults_Job) and the selector the API server generates for it (generateSelector).

Kept apart from the other kinds' defaults so that everything Job-specific lives together.
"""

from __future__ import annotations

from typing import Any

GROUP = "batch"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
JOB_CONTROLLER_MANAGED_BY = "kubernetes.io/job-controller"

NON_INDEXED, INDEXED = "NonIndexed", "Indexed"
COMPLETION_MODES = (NON_INDEXED, INDEXED)
TERMINATING_OR_FAILED = "TerminatingOrFailed"
DEFAULT_BACKOFF_LIMIT = 6


def _dict(v: Any) -> dict[str, Any] | None:
    return v if isinstance(v, dict) else None


def default_job(obj: dict[str, Any]) -> None:
    """SetDefaults_Job, less the pod template's own defaults (the caller applies those)."""
    spec = _dict(obj.get("spec"))
    if spec is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else DEFAULT_BACKOFF_LIMIT
    tmpl = _dict(spec.get("template"))
    if tmpl is not None and tmpl.get("metadata") is None:
        tmpl["metadata"] = {}
    template_labels = (_dict((tmpl or {}).get("metadata")) or {}).get("labels")
    meta = _dict(obj.get("metadata"))
    if isinstance(template_labels, dict) and meta is not None and not meta.get("labels"):
        meta["labels"] = dict(template_labels)
    if spec.get("completionMode") is None:
        spec["completionMode"] = NON_INDEXED
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if spec.get("podFailurePolicy") is not None else TERMINATING_OR_FAILED
    if spec.get("manualSelector") is None:
        spec["manualSelector"] = False


def generate_selector(obj: dict[str, Any]) -> None:
    """The Job strategy's generateSelector: unless `manualSelector`, label the template with the job's
    name and uid and select the uid. Labels the user set already are left for validation to judge."""
    spec = _dict(obj.get("spec"))
    meta = _dict(obj.get("metadata")) or {}
    if spec is None or spec.get("manualSelector") is True:
        return
    tmpl = _dict(spec.get("template"))
    if tmpl is None:
        return
    tmeta = tmpl.get("metadata")
    if tmeta is None:
        tmeta = tmpl["metadata"] = {}
    if not isinstance(tmeta, dict):
        return
    labels = tmeta.get("labels")
    if labels is None:
        labels = tmeta["labels"] = {}
    if not isinstance(labels, dict):
        return
    name, uid = str(meta.get("name") or ""), str(meta.get("uid") or "")
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, uid)
    selector = spec.get("selector")
    if selector is None:
        selector = spec["selector"] = {}
    if not isinstance(selector, dict):
        return
    match = selector.get("matchLabels")
    if match is None:
        match = selector["matchLabels"] = {}
    if isinstance(match, dict):
        match.setdefault(CONTROLLER_UID_LABEL, uid)
    # As a read of the stored Job defaults it: a Job without labels takes its template's.
    if not meta.get("labels"):
        meta["labels"] = dict(labels)


def is_finished(job: dict[str, Any]) -> tuple[bool, str]:
    """(finished, "Complete" | "Failed" | "")."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return True, str(c["type"])
    return False, ""


# ---------------------------------------------------------------------------- CronJob

CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
ALLOW, FORBID, REPLACE = "Allow", "Forbid", "Replace"
CONCURRENCY_POLICIES = (ALLOW, FORBID, REPLACE)
DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT, DEFAULT_FAILED_JOBS_HISTORY_LIMIT = 3, 1
# The controller names each Job `<cronjob>-<minutes since the epoch>` (an 11-character suffix at
# most until the year 2159), and a Job's name is at most 63 characters.
MAX_CRONJOB_NAME_LENGTH = 63 - 11


def default_cron_job(obj: dict[str, Any]) -> None:
    """SetDefaults_CronJob, less the pod template's own defaults (the caller applies those)."""
    spec = _dict(obj.get("spec"))
    if spec is None:
        return
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = ALLOW
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = DEFAULT_FAILED_JOBS_HISTORY_LIMIT
    jt = _dict(spec.get("jobTemplate"))
    if jt is not None:
        tmpl = _dict((_dict(jt.get("spec")) or {}).get("template"))
        if tmpl is not None and tmpl.get("metadata") is None:
            tmpl["metadata"] = {}
