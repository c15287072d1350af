"""Field schema of apps/v1 StatefulSet (k8s.io/api/apps/v1 types), in the vocabulary of `schema_dsl`.

`volumeClaimTemplates` is kept as raw objects: podfleet has no PersistentVolumeClaims, so validation
refuses any non-empty list (the field must still be known, or it would be pruned and silently ignored).
"""

from __future__ import annotations

from podfleet.api.schema_dsl import INT32, INT64, INTSTR, RAW, STR, TIME, atomic, merge_list, struct
from podfleet.api.schema_pod import LABEL_SELECTOR, POD_TEMPLATE_SPEC

STATEFUL_SET_SPEC = struct(
    "v1.StatefulSetSpec", replicas=INT32, selector=LABEL_SELECTOR, template=POD_TEMPLATE_SPEC,
    volumeClaimTemplates=atomic(RAW), serviceName=STR, podManagementPolicy=STR,
    updateStrategy=struct("v1.StatefulSetUpdateStrategy", type=STR,
                          rollingUpdate=struct("v1.RollingUpdateStatefulSetStrategy", partition=INT32,
                                               maxUnavailable=INTSTR)),
    revisionHistoryLimit=INT32, minReadySeconds=INT32,
    persistentVolumeClaimRetentionPolicy=struct("v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
                                                whenDeleted=STR, whenScaled=STR),
    ordinals=struct("v1.StatefulSetOrdinals", start=INT32),
)
STATEFUL_SET_STATUS = struct(
    "v1.StatefulSetStatus", observedGeneration=INT64, replicas=INT32, readyReplicas=INT32, currentReplicas=INT32,
    updatedReplicas=INT32, currentRevision=STR, updateRevision=STR, collisionCount=INT32,
    conditions=merge_list(struct("v1.StatefulSetCondition", type=STR, status=STR, lastTransitionTime=TIME,
                                 reason=STR, message=STR), "type"),
    availableReplicas=INT32,
)
