"""Field schema of policy/v1 PodDisruptionBudget (k8s.io/api/policy/v1 types), in the vocabulary of
`schema_dsl`."""

from __future__ import annotations

from podfleet.api.schema_dsl import INT32, INT64, INTSTR, STR, TIME, MapOf, merge_list, struct
from podfleet.api.schema_pod import LABEL_SELECTOR

# metav1.Condition (k8s.io/apimachinery/pkg/apis/meta/v1), as PodDisruptionBudgetStatus holds it.
META_CONDITION = struct("v1.Condition", type=STR, status=STR, observedGeneration=INT64, lastTransitionTime=TIME,
                        reason=STR, message=STR)
PDB_SPEC = struct("v1.PodDisruptionBudgetSpec", minAvailable=INTSTR, selector=LABEL_SELECTOR,
                  maxUnavailable=INTSTR, unhealthyPodEvictionPolicy=STR)
PDB_STATUS = struct(
    "v1.PodDisruptionBudgetStatus", observedGeneration=INT64, disruptedPods=MapOf(TIME),
    disruptionsAllowed=INT32, currentHealthy=INT32, desiredHealthy=INT32, expectedPods=INT32,
    # +listType=map +listMapKey=type, patchStrategy=merge/patchMergeKey=type, as upstream declares it.
    conditions=merge_list(META_CONDITION, "type"),
)
