"""Top-level field schemas of every kind podfleet serves, keyed by kind.

Pod pieces live in `schema_pod`; this module assembles them into Pod, Node, Namespace, Event,
Secret, ConfigMap, ServiceAccount, Lease, ReplicaSet, Deployment, ControllerRevision, Service,
Endpoints, EndpointSlice, ReplicationController and the four RBAC kinds (Role, ClusterRole,
RoleBinding, ClusterRoleBinding).
"""

from __future__ import annotations

from podfleet.api.schema_batch import CRON_JOB_SPEC, CRON_JOB_STATUS, JOB_SPEC, JOB_STATUS
from podfleet.api.schema_daemonset import DAEMON_SET_SPEC, DAEMON_SET_STATUS
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
    atomic,
    atomic_struct,
    map_list,
    merge_list,
    set_of,
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
from podfleet.api.schema_policy import META_CONDITION, PDB_SPEC, PDB_STATUS
from podfleet.api.schema_statefulset import STATEFUL_SET_SPEC, STATEFUL_SET_STATUS

TAINT = struct("v1.Taint", key=STR, value=STR, effect=STR, timeAdded=TIME)
NODE_SPEC = struct("v1.NodeSpec", podCIDR=STR, podCIDRs=set_of(STR, patch_strategy="merge"), providerID=STR,
                   unschedulable=BOOL, taints=atomic(TAINT), configSource=RAW, externalID=STR)
NODE_STATUS = struct(
    "v1.NodeStatus", capacity=RESOURCE_LIST, allocatable=RESOURCE_LIST, phase=STR,
    conditions=merge_list(struct("v1.NodeCondition", type=STR, status=STR, lastHeartbeatTime=TIME,
                                 lastTransitionTime=TIME, reason=STR, message=STR), "type"),
    addresses=merge_list(struct("v1.NodeAddress", type=STR, address=STR), "type"),
    daemonEndpoints=struct("v1.NodeDaemonEndpoints",
                           kubeletEndpoint=struct("v1.DaemonEndpoint", Port=INT32)),
    nodeInfo=struct("v1.NodeSystemInfo", machineID=STR, systemUUID=STR, bootID=STR, kernelVersion=STR, osImage=STR,
                    containerRuntimeVersion=STR, kubeletVersion=STR, kubeProxyVersion=STR, operatingSystem=STR,
                    architecture=STR, swap=RAW),
    images=atomic(struct("v1.ContainerImage", names=STRINGS, sizeBytes=INT64)), volumesInUse=STRINGS,
    volumesAttached=atomic(struct("v1.AttachedVolume", name=STR, devicePath=STR)), config=RAW,
    runtimeHandlers=atomic(RAW), features=RAW, declaredFeatures=STRINGS,
)
NAMESPACE_STATUS = struct(
    "v1.NamespaceStatus", phase=STR,
    conditions=merge_list(struct("v1.NamespaceCondition", type=STR, status=STR, lastTransitionTime=TIME,
                                 reason=STR, message=STR), "type"),
)
LEASE_SPEC = struct("v1.LeaseSpec", holderIdentity=STR, leaseDurationSeconds=INT32, acquireTime=MICROTIME,
                    renewTime=MICROTIME, leaseTransitions=INT32, strategy=STR, preferredHolder=STR)
_WORKLOAD_CONDITION = dict(type=STR, status=STR, lastTransitionTime=TIME, reason=STR, message=STR)
REPLICA_SET_SPEC = struct("v1.ReplicaSetSpec", replicas=INT32, minReadySeconds=INT32, selector=LABEL_SELECTOR,
                          template=POD_TEMPLATE_SPEC)
REPLICA_SET_STATUS = struct(
    "v1.ReplicaSetStatus", replicas=INT32, fullyLabeledReplicas=INT32, readyReplicas=INT32, availableReplicas=INT32,
    terminatingReplicas=INT32, observedGeneration=INT64,
    conditions=merge_list(struct("v1.ReplicaSetCondition", **_WORKLOAD_CONDITION), "type"),
)
DEPLOYMENT_SPEC = struct(
    "v1.DeploymentSpec", replicas=INT32, selector=LABEL_SELECTOR, template=POD_TEMPLATE_SPEC,
    strategy=Struct("v1.DeploymentStrategy",
                    {"type": STR, "rollingUpdate": struct("v1.RollingUpdateDeployment", maxUnavailable=INTSTR,
                                                          maxSurge=INTSTR)},
                    patch_strategy="retainKeys"),
    minReadySeconds=INT32, revisionHistoryLimit=INT32, paused=BOOL, progressDeadlineSeconds=INT32,
)
DEPLOYMENT_STATUS = struct(
    "v1.DeploymentStatus", observedGeneration=INT64, replicas=INT32, updatedReplicas=INT32, readyReplicas=INT32,
    availableReplicas=INT32, unavailableReplicas=INT32, terminatingReplicas=INT32,
    conditions=merge_list(struct("v1.DeploymentCondition", lastUpdateTime=TIME, **_WORKLOAD_CONDITION), "type"),
    collisionCount=INT32,
)

_CONDITION = struct("v1.Condition", type=STR, status=STR, observedGeneration=INT64, lastTransitionTime=TIME,
                    reason=STR, message=STR)
SERVICE_PORT = struct("v1.ServicePort", name=STR, protocol=STR, appProtocol=STR, port=INT32, targetPort=INTSTR,
                      nodePort=INT32)
SERVICE_SPEC = struct(
    "v1.ServiceSpec", ports=merge_list(SERVICE_PORT, "port", "protocol"), selector=STRMAP, clusterIP=STR,
    clusterIPs=ListOf(STR, "atomic"), type=STR, externalIPs=STRINGS, sessionAffinity=STR, loadBalancerIP=STR,
    loadBalancerSourceRanges=STRINGS, externalName=STR, externalTrafficPolicy=STR, healthCheckNodePort=INT32,
    publishNotReadyAddresses=BOOL,
    sessionAffinityConfig=struct("v1.SessionAffinityConfig",
                                 clientIP=struct("v1.ClientIPConfig", timeoutSeconds=INT32)),
    ipFamilies=ListOf(STR, "atomic"), ipFamilyPolicy=STR, allocateLoadBalancerNodePorts=BOOL,
    loadBalancerClass=STR, internalTrafficPolicy=STR, trafficDistribution=STR,
)
SERVICE_STATUS = struct(
    "v1.ServiceStatus",
    loadBalancer=struct("v1.LoadBalancerStatus", ingress=atomic(struct(
        "v1.LoadBalancerIngress", ip=STR, hostname=STR, ipMode=STR,
        ports=atomic(struct("v1.PortStatus", port=INT32, protocol=STR, error=STR))))),
    conditions=map_list(_CONDITION, "type"),
)
ENDPOINT_ADDRESS = atomic_struct("v1.EndpointAddress", ip=STR, hostname=STR, nodeName=STR, targetRef=OBJECT_REFERENCE)
ENDPOINT_PORT = atomic_struct("v1.EndpointPort", name=STR, port=INT32, protocol=STR, appProtocol=STR)
ENDPOINT_SUBSET = struct("v1.EndpointSubset", addresses=atomic(ENDPOINT_ADDRESS),
                         notReadyAddresses=atomic(ENDPOINT_ADDRESS), ports=atomic(ENDPOINT_PORT))
SLICE_ENDPOINT = struct(
    "v1.Endpoint", addresses=set_of(STR),
    conditions=struct("v1.EndpointConditions", ready=BOOL, serving=BOOL, terminating=BOOL),
    hostname=STR, targetRef=OBJECT_REFERENCE, deprecatedTopology=STRMAP, nodeName=STR, zone=STR,
    hints=struct("v1.EndpointHints", forZones=atomic(struct("v1.ForZone", name=STR)),
                 forNodes=atomic(struct("v1.ForNode", name=STR))),
)
SLICE_PORT = atomic_struct("v1.EndpointPort", name=STR, protocol=STR, port=INT32, appProtocol=STR)
REPLICATION_CONTROLLER_SPEC = struct("v1.ReplicationControllerSpec", replicas=INT32, minReadySeconds=INT32,
                                     selector=STRMAP, template=POD_TEMPLATE_SPEC)
REPLICATION_CONTROLLER_STATUS = struct(
    "v1.ReplicationControllerStatus", replicas=INT32, fullyLabeledReplicas=INT32, readyReplicas=INT32,
    availableReplicas=INT32, observedGeneration=INT64,
    conditions=merge_list(struct("v1.ReplicationControllerCondition", **_WORKLOAD_CONDITION), "type"),
)

# rbac.authorization.k8s.io/v1: every list is `+listType=atomic`, Subject and RoleRef `+structType=atomic`.
POLICY_RULE = struct("v1.PolicyRule", verbs=STRINGS, apiGroups=STRINGS, resources=STRINGS, resourceNames=STRINGS,
                     nonResourceURLs=STRINGS)
SUBJECT = atomic_struct("v1.Subject", kind=STR, apiGroup=STR, name=STR, namespace=STR)
ROLE_REF = atomic_struct("v1.RoleRef", apiGroup=STR, kind=STR, name=STR)
AGGREGATION_RULE = struct("v1.AggregationRule", clusterRoleSelectors=atomic(LABEL_SELECTOR))


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
    "ServiceAccount": _kind("v1.ServiceAccount", secrets=merge_list(OBJECT_REFERENCE, "name"),
                            imagePullSecrets=atomic(LOCAL_OBJECT_REFERENCE), automountServiceAccountToken=BOOL),
    "Lease": _kind("v1.Lease", spec=LEASE_SPEC),
    "ReplicaSet": _kind("v1.ReplicaSet", spec=REPLICA_SET_SPEC, status=REPLICA_SET_STATUS),
    "Deployment": _kind("v1.Deployment", spec=DEPLOYMENT_SPEC, status=DEPLOYMENT_STATUS),
    "ControllerRevision": _kind("v1.ControllerRevision", data=RAW, revision=INT64),
    "DaemonSet": _kind("v1.DaemonSet", spec=DAEMON_SET_SPEC, status=DAEMON_SET_STATUS),
    "StatefulSet": _kind("v1.StatefulSet", spec=STATEFUL_SET_SPEC, status=STATEFUL_SET_STATUS),
    "Service": _kind("v1.Service", spec=SERVICE_SPEC, status=SERVICE_STATUS),
    "Endpoints": _kind("v1.Endpoints", subsets=atomic(ENDPOINT_SUBSET)),
    "EndpointSlice": _kind("v1.EndpointSlice", addressType=STR, endpoints=atomic(SLICE_ENDPOINT),
                           ports=atomic(SLICE_PORT)),
    "ReplicationController": _kind("v1.ReplicationController", spec=REPLICATION_CONTROLLER_SPEC,
                                   status=REPLICATION_CONTROLLER_STATUS),
    "Role": _kind("v1.Role", rules=atomic(POLICY_RULE)),
    "ClusterRole": _kind("v1.ClusterRole", rules=atomic(POLICY_RULE), aggregationRule=AGGREGATION_RULE),
    "RoleBinding": _kind("v1.RoleBinding", subjects=atomic(SUBJECT), roleRef=ROLE_REF),
    "ClusterRoleBinding": _kind("v1.ClusterRoleBinding", subjects=atomic(SUBJECT), roleRef=ROLE_REF),
    "Job": _kind("v1.Job", spec=JOB_SPEC, status=JOB_STATUS),
    "CronJob": _kind("v1.CronJob", spec=CRON_JOB_SPEC, status=CRON_JOB_STATUS),
    "PodDisruptionBudget": _kind("v1.PodDisruptionBudget", spec=PDB_SPEC, status=PDB_STATUS),
    "PriorityClass": _kind("v1.PriorityClass", value=INT32, globalDefault=BOOL, description=STR,
                           preemptionPolicy=STR),
}

# What a `List` response carries besides its items (`metadata` of PodList and friends).
LIST_META = struct("v1.ListMeta", selfLink=STR, resourceVersion=STR, remainingItemCount=INT64,
                   **{"continue": STR})

# The Go package of each struct names its OpenAPI definition (`io.k8s.api.core.v1.PodSpec`). A kind
# lives in its API group's package and a struct in the package of the struct holding it, except at
# these roots, where a type of another package is embedded (apps/v1 Deployment holds core/v1
# PodTemplateSpec, every kind holds meta/v1 ObjectMeta).
META_PACKAGE = "k8s.io/apimachinery/pkg/apis/meta/v1"
CORE_PACKAGE = "k8s.io/api/core/v1"
PACKAGE_ROOTS: dict[Struct, str] = {
    OBJECT_META: META_PACKAGE, LABEL_SELECTOR: META_PACKAGE, LIST_META: META_PACKAGE,
    POD_TEMPLATE_SPEC: CORE_PACKAGE, OBJECT_REFERENCE: CORE_PACKAGE, META_CONDITION: META_PACKAGE,
}

# One line per kind for `kubectl explain`.
DESCRIPTIONS: dict[str, str] = {
    "Pod": "A group of containers scheduled together onto one node, sharing network and volumes.",
    "Namespace": "A scope for names; namespaced objects live in exactly one.",
    "Node": "A machine running the podfleet agent, which runs the pods bound to it.",
    "Event": "A report of something that happened to an object, kept for a limited time.",
    "Secret": "Sensitive data (tokens, keys, passwords) for pods to mount or read as environment variables.",
    "ConfigMap": "Non-confidential key-value configuration for pods to mount or read as environment variables.",
    "ServiceAccount": "An identity for processes running in pods.",
    "Lease": "A time-bound claim, used for node heartbeats and leader election.",
    "ReplicaSet": "Keeps a given number of pods matching a selector running.",
    "Deployment": "Declarative updates for pods: rolls ReplicaSets from one template to the next.",
    "ControllerRevision": "An immutable snapshot of state data, kept by controllers to roll back to.",
    "DaemonSet": "Runs one copy of a pod on every eligible node, rolling it from one template to the next.",
    "StatefulSet": "Runs pods with stable ordinal names (<set>-0, <set>-1, ...) and DNS identities, created, "
                   "scaled and rolled in order.",
    "Service": "A stable virtual address and DNS name for a set of pods chosen by a selector.",
    "Endpoints": "The addresses and ports behind a Service (the legacy form of EndpointSlices).",
    "EndpointSlice": "A part of the endpoints of a Service: addresses with readiness conditions and ports.",
    "ReplicationController": "Keeps a given number of pods matching an equality selector running.",
    "Role": "A namespaced set of PolicyRules, granted by a RoleBinding in its namespace.",
    "ClusterRole": "A cluster-wide set of PolicyRules, granted by a ClusterRoleBinding everywhere or by a "
                   "RoleBinding in one namespace; its rules may be aggregated from other ClusterRoles.",
    "RoleBinding": "Grants the rules of a Role or ClusterRole to users, groups or service accounts in one namespace.",
    "ClusterRoleBinding": "Grants the rules of a ClusterRole to users, groups or service accounts in every "
                          "namespace and at the cluster scope.",
    "Job": "Runs pods to completion: a given number succeed, with retries, deadlines and completion indexes.",
    "CronJob": "Creates Jobs on a repeating schedule written in cron format.",
    "PodDisruptionBudget": "The minimum number (or share) of the pods a selector chooses that must stay available "
                           "through voluntary disruptions: evictions that would break it are refused.",
    "PriorityClass": "A name for a pod priority (an integer; higher schedules first and may preempt lower).",
}
