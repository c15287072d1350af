"""Field schema of apps/v1 DaemonSet (k8s.io/api/apps/v1 types), in the vocabulary of `schema_dsl`."""

from __future__ import annotations

from podfleet.api.schema_dsl import INT32, INT64, INTSTR, STR, TIME, merge_list, struct
from podfleet.api.schema_pod import LABEL_SELECTOR, POD_TEMPLATE_SPEC

DAEMON_SET_SPEC = struct(
    "v1.DaemonSetSpec", selector=LABEL_SELECTOR, template=POD_TEMPLATE_SPEC,
    updateStrategy=struct("v1.DaemonSetUpdateStrategy", type=STR,
                          rollingUpdate=struct("v1.RollingUpdateDaemonSet", maxUnavailable=INTSTR,
                                               maxSurge=INTSTR)),
    minReadySeconds=INT32, revisionHistoryLimit=INT32,
)
DAEMON_SET_STATUS = struct(
    "v1.DaemonSetStatus", currentNumberScheduled=INT32, numberMisscheduled=INT32, desiredNumberScheduled=INT32,
    numberReady=INT32, observedGeneration=INT64, updatedNumberScheduled=INT32, numberAvailable=INT32,
    numberUnavailable=INT32, collisionCount=INT32,
    conditions=merge_list(struct("v1.DaemonSetCondition", type=STR, status=STR, lastTransitionTime=TIME,
                                 reason=STR, message=STR), "type"),
)
