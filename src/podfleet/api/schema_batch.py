"""Field schema of batch/v1 Job and CronJob (k8s.io/api/batch/v1 types), in the vocabulary of `schema_dsl`."""

from __future__ import annotations

from podfleet.api.schema_dsl import (
    BOOL,
    INT32,
    INT64,
    STR,
    TIME,
    ListOf,
    atomic,
    set_of,
    struct,
)
from podfleet.api.schema_pod import LABEL_SELECTOR, OBJECT_META, OBJECT_REFERENCE, POD_TEMPLATE_SPEC

POD_FAILURE_POLICY = struct(
    "v1.PodFailurePolicy",
    rules=atomic(struct(
        "v1.PodFailurePolicyRule", action=STR,
        onExitCodes=struct("v1.PodFailurePolicyOnExitCodesRequirement", containerName=STR, operator=STR,
                           values=set_of(INT32)),
        onPodConditions=atomic(struct("v1.PodFailurePolicyOnPodConditionsPattern", type=STR, status=STR)))),
)
SUCCESS_POLICY = struct("v1.SuccessPolicy", rules=atomic(struct("v1.SuccessPolicyRule", succeededIndexes=STR,
                                                                 succeededCount=INT32)))
JOB_SPEC = struct(
    "v1.JobSpec", parallelism=INT32, completions=INT32, activeDeadlineSeconds=INT64,
    podFailurePolicy=POD_FAILURE_POLICY, successPolicy=SUCCESS_POLICY, backoffLimit=INT32,
    backoffLimitPerIndex=INT32, maxFailedIndexes=INT32, selector=LABEL_SELECTOR, manualSelector=BOOL,
    template=POD_TEMPLATE_SPEC, ttlSecondsAfterFinished=INT32, completionMode=STR, suspend=BOOL,
    podReplacementPolicy=STR, managedBy=STR,
)
JOB_CONDITION = struct("v1.JobCondition", type=STR, status=STR, lastProbeTime=TIME, lastTransitionTime=TIME,
                       reason=STR, message=STR)
JOB_STATUS = struct(
    "v1.JobStatus",
    # +listType=atomic with patchStrategy=merge/patchMergeKey=type, as upstream declares it.
    conditions=ListOf(JOB_CONDITION, "atomic", merge_key="type", patch_strategy="merge"),
    startTime=TIME, completionTime=TIME, active=INT32, succeeded=INT32, failed=INT32, terminating=INT32,
    completedIndexes=STR, failedIndexes=STR,
    uncountedTerminatedPods=struct("v1.UncountedTerminatedPods", succeeded=set_of(STR), failed=set_of(STR)),
    ready=INT32,
)

JOB_TEMPLATE_SPEC = struct("v1.JobTemplateSpec", metadata=OBJECT_META, spec=JOB_SPEC)
CRON_JOB_SPEC = struct(
    "v1.CronJobSpec", schedule=STR, timeZone=STR, startingDeadlineSeconds=INT64, concurrencyPolicy=STR,
    suspend=BOOL, jobTemplate=JOB_TEMPLATE_SPEC, successfulJobsHistoryLimit=INT32, failedJobsHistoryLimit=INT32,
)
CRON_JOB_STATUS = struct("v1.CronJobStatus", active=atomic(OBJECT_REFERENCE), lastScheduleTime=TIME,
                         lastSuccessfulTime=TIME)
