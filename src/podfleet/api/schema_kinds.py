"""Top-level field schemas of every kind podfleet serves, keyed by kind.

Pod pieces live in `schema_pod`; this module assembles them into Pod, Node, Namespace, Event,
Secret, ConfigMap, ServiceAccount, Lease, ReplicaSet, Deployment and ControllerRevision.
"""

from __future__ import annotations

from podfleet.api.schema_dsl import (
    BOOL,
    BYTESMAP,
    INT32,
    INT64,
    INTSTR,
    MICROTIME,
    RAW,
    RESOURCE_LIST,
    STR,
    STRINGS,
    STRMAP,
    TIME,
    ListOf,
    Node,
    Struct,
    struct,
)
from podfleet.api.schema_pod import (
    LABEL_SELECTOR,
    LOCAL_OBJECT_REFERENCE,
    OBJECT_META,
    OBJECT_REFERENCE,
    POD_SPEC,
    POD_STATUS,
    POD_TEMPLATE_SPEC,
)

TAINT = struct("v1.Taint", key=STR, value=STR, effect=STR, timeAdded=TIME)
NODE_SPEC = struct("v1.NodeSpec", podCIDR=STR, podCIDRs=STRINGS, providerID=STR, unschedulable=BOOL,
                   taints=ListOf(TAINT), configSource=RAW, externalID=STR)
NODE_STATUS = struct(
    "v1.NodeStatus", capacity=RESOURCE_LIST, allocatable=RESOURCE_LIST, phase=STR,
    conditions=ListOf(struct("v1.NodeCondition", type=STR, status=STR, lastHeartbeatTime=TIME,
                             lastTransitionTime=TIME, reason=STR, message=STR)),
    addresses=ListOf(struct("v1.NodeAddress", type=STR, address=STR)),
    daemonEndpoints=struct("v1.NodeDaemonEndpoints",
                           kubeletEndpoint=struct("v1.DaemonEndpoint", Port=INT32)),
    nodeInfo=struct("v1.NodeSystemInfo", machineID=STR, systemUUID=STR, bootID=STR, kernelVersion=STR, osImage=STR,
                    containerRuntimeVersion=STR, kubeletVersion=STR, kubeProxyVersion=STR, operatingSystem=STR,
                    architecture=STR, swap=RAW),
    images=ListOf(struct("v1.ContainerImage", names=STRINGS, sizeBytes=INT64)), volumesInUse=STRINGS,
    volumesAttached=ListOf(struct("v1.AttachedVolume", name=STR, devicePath=STR)), config=RAW,
    runtimeHandlers=ListOf(RAW), features=RAW, declaredFeatures=STRINGS,
)
NAMESPACE_STATUS = struct(
    "v1.NamespaceStatus", phase=STR,
    conditions=ListOf(struct("v1.NamespaceCondition", type=STR, status=STR, lastTransitionTime=TIME, reason=STR,
                             message=STR)),
)
LEASE_SPEC = struct("v1.LeaseSpec", holderIdentity=STR, leaseDurationSeconds=INT32, acquireTime=MICROTIME,
                    renewTime=MICROTIME, leaseTransitions=INT32, strategy=STR, preferredHolder=STR)
_WORKLOAD_CONDITION = dict(type=STR, status=STR, lastTransitionTime=TIME, reason=STR, message=STR)
REPLICA_SET_SPEC = struct("v1.ReplicaSetSpec", replicas=INT32, minReadySeconds=INT32, selector=LABEL_SELECTOR,
                          template=POD_TEMPLATE_SPEC)
REPLICA_SET_STATUS = struct(
    "v1.ReplicaSetStatus", replicas=INT32, fullyLabeledReplicas=INT32, readyReplicas=INT32, availableReplicas=INT32,
    terminatingReplicas=INT32, observedGeneration=INT64,
    conditions=ListOf(struct("v1.ReplicaSetCondition", **_WORKLOAD_CONDITION)),
)
DEPLOYMENT_SPEC = struct(
    "v1.DeploymentSpec", replicas=INT32, selector=LABEL_SELECTOR, template=POD_TEMPLATE_SPEC,
    strategy=struct("v1.DeploymentStrategy", type=STR,
                    rollingUpdate=struct("v1.RollingUpdateDeployment", maxUnavailable=INTSTR, maxSurge=INTSTR)),
    minReadySeconds=INT32, revisionHistoryLimit=INT32, paused=BOOL, progressDeadlineSeconds=INT32,
)
DEPLOYMENT_STATUS = struct(
    "v1.DeploymentStatus", observedGeneration=INT64, replicas=INT32, updatedReplicas=INT32, readyReplicas=INT32,
    availableReplicas=INT32, unavailableReplicas=INT32, terminatingReplicas=INT32,
    conditions=ListOf(struct("v1.DeploymentCondition", lastUpdateTime=TIME, **_WORKLOAD_CONDITION)),
    collisionCount=INT32,
)


def _kind(go: str, **fields: Node) -> Struct:
    return struct(go, apiVersion=STR, kind=STR, metadata=OBJECT_META, **fields)


KINDS: dict[str, Struct] = {
    "Pod": _kind("v1.Pod", spec=POD_SPEC, status=POD_STATUS),
    "Namespace": _kind("v1.Namespace", spec=struct("v1.NamespaceSpec", finalizers=STRINGS), status=NAMESPACE_STATUS),
    "Node": _kind("v1.Node", spec=NODE_SPEC, status=NODE_STATUS),
    "Event": _kind(
        "v1.Event", involvedObject=OBJECT_REFERENCE, reason=STR, message=STR,
        source=struct("v1.EventSource", component=STR, host=STR), firstTimestamp=TIME, lastTimestamp=TIME,
        count=INT32, type=STR, eventTime=MICROTIME,
        series=struct("v1.EventSeries", count=INT32, lastObservedTime=MICROTIME), action=STR,
        related=OBJECT_REFERENCE, reportingComponent=STR, reportingInstance=STR,
    ),
    "Secret": _kind("v1.Secret", immutable=BOOL, data=BYTESMAP, stringData=STRMAP, type=STR),
    "ConfigMap": _kind("v1.ConfigMap", immutable=BOOL, data=STRMAP, binaryData=BYTESMAP),
    "ServiceAccount": _kind("v1.ServiceAccount", secrets=ListOf(OBJECT_REFERENCE),
                            imagePullSecrets=ListOf(LOCAL_OBJECT_REFERENCE), automountServiceAccountToken=BOOL),
    "Lease": _kind("v1.Lease", spec=LEASE_SPEC),
    "ReplicaSet": _kind("v1.ReplicaSet", spec=REPLICA_SET_SPEC, status=REPLICA_SET_STATUS),
    "Deployment": _kind("v1.Deployment", spec=DEPLOYMENT_SPEC, status=DEPLOYMENT_STATUS),
    "ControllerRevision": _kind("v1.ControllerRevision", data=RAW, revision=INT64),
}
