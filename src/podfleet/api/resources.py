"""The catalogue of resource types podfleet serves: group, version, kind, plural, scope, verbs.

Discovery, routing, storage keys and the client all derive from this one table, so adding a
resource is one entry here plus its validation and defaulting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for core
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    singular: str = field(default="")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def group_resource(self) -> str:
        """`pods`, `deployments.apps` — as Kubernetes names a resource in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def storage_prefix(self, namespace: str | None = None) -> str:
        """Key prefix in storage: `/registry/<group-resource>/[<namespace>/]`."""
        base = f"/registry/{self.group_resource}/"
        if self.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def storage_key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} is namespaced: a namespace is required")
            return f"/registry/{self.group_resource}/{namespace}/{name}"
        return f"/registry/{self.group_resource}/{name}"


NAMESPACES = ResourceType("", "v1", "Namespace", "namespaces", False, ("ns",), ("status", "finalize"))
PODS = ResourceType("", "v1", "Pod", "pods", True, ("po",), ("status", "binding", "log", "eviction", "exec", "attach",
                                                              "portforward", "ephemeralcontainers"),
                    ("all",))
NODES = ResourceType("", "v1", "Node", "nodes", False, ("no",), ("status", "proxy"))
EVENTS = ResourceType("", "v1", "Event", "events", True, ("ev",))
SECRETS = ResourceType("", "v1", "Secret", "secrets", True)
CONFIGMAPS = ResourceType("", "v1", "ConfigMap", "configmaps", True, ("cm",))
SERVICEACCOUNTS = ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), ("token",))
LEASES = ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True)
REPLICASETS = ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale"),
                           ("all",))
DEPLOYMENTS = ResourceType("apps", "v1", "Deployment", "deployments", True, ("deploy",),
                           ("status", "scale"), ("all",))
CONTROLLERREVISIONS = ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", True)
DAEMONSETS = ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",), ("all",))
STATEFULSETS = ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("status", "scale"),
                            ("all",))
SERVICES = ResourceType("", "v1", "Service", "services", True, ("svc",), ("status",), ("all",))
ENDPOINTS = ResourceType("", "v1", "Endpoints", "endpoints", True, ("ep",), singular="endpoints")
ENDPOINTSLICES = ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True)
REPLICATIONCONTROLLERS = ResourceType("", "v1", "ReplicationController", "replicationcontrollers", True, ("rc",),
                                      ("status", "scale"), ("all",))
JOBS = ResourceType("batch", "v1", "Job", "jobs", True, (), ("status",), ("all",))
CRONJOBS = ResourceType("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("status",), ("all",))
PODDISRUPTIONBUDGETS = ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True,
                                    ("pdb",), ("status",))
PRIORITYCLASSES = ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",))
# rbac.authorization.k8s.io/v1: no short names, no subresources, no categories (as upstream).
ROLES = ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True)
CLUSTERROLES = ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False)
ROLEBINDINGS = ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True)
CLUSTERROLEBINDINGS = ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
                                   False)

RESOURCES: tuple[ResourceType, ...] = (
    NAMESPACES, PODS, NODES, EVENTS, SECRETS, CONFIGMAPS, SERVICEACCOUNTS,
    LEASES, REPLICASETS, DEPLOYMENTS, DAEMONSETS, STATEFULSETS, CONTROLLERREVISIONS, SERVICES, ENDPOINTS,
    ENDPOINTSLICES,
    REPLICATIONCONTROLLERS, ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS,
    JOBS, CRONJOBS,
    PODDISRUPTIONBUDGETS,
    PRIORITYCLASSES,
)

# Kinds that are only ever created, answered from the request and never stored (kube-apiserver's
# review APIs): served and in discovery, but not in `RESOURCES` (no storage, list, watch or schema).
_AUTHZ, _AUTHN = "authorization.k8s.io", "authentication.k8s.io"
SELFSUBJECTACCESSREVIEWS = ResourceType(_AUTHZ, "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
                                        verbs=("create",))
SUBJECTACCESSREVIEWS = ResourceType(_AUTHZ, "v1", "SubjectAccessReview", "subjectaccessreviews", False,
                                    verbs=("create",))
LOCALSUBJECTACCESSREVIEWS = ResourceType(_AUTHZ, "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True,
                                         verbs=("create",))
SELFSUBJECTRULESREVIEWS = ResourceType(_AUTHZ, "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False,
                                       verbs=("create",))
SELFSUBJECTREVIEWS = ResourceType(_AUTHN, "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=("create",))
TOKENREVIEWS = ResourceType(_AUTHN, "v1", "TokenReview", "tokenreviews", False, verbs=("create",))
CREATE_ONLY: tuple[ResourceType, ...] = (
    SELFSUBJECTACCESSREVIEWS, SUBJECTACCESSREVIEWS, LOCALSUBJECTACCESSREVIEWS, SELFSUBJECTRULESREVIEWS,
    SELFSUBJECTREVIEWS, TOKENREVIEWS,
)
# The resource metrics API (`kubectl top`): read from the node agents' usage, never stored.
NODEMETRICS = ResourceType("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", False, verbs=("get", "list"))
PODMETRICS = ResourceType("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", True, verbs=("get", "list"))
METRICS: tuple[ResourceType, ...] = (NODEMETRICS, PODMETRICS)



def _group_versions(types: tuple[ResourceType, ...]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for r in types:
        out.setdefault(r.group, ())
        if r.version not in out[r.group]:
            out[r.group] += (r.version,)
    return out


GROUP_VERSIONS = _group_versions(RESOURCES)  # of stored kinds (what OpenAPI documents)
SERVED_GROUP_VERSIONS = _group_versions(RESOURCES + CREATE_ONLY + METRICS)  # what discovery lists

_BY_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES + CREATE_ONLY + METRICS}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def by_plural(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_PLURAL.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    return _BY_KIND.get((api_version, kind))


def in_group_version(group: str, version: str) -> list[ResourceType]:
    """The stored kinds of a group-version."""
    return [r for r in RESOURCES if r.group == group and r.version == version]


def served_in_group_version(group: str, version: str) -> list[ResourceType]:
    """Every kind a group-version serves, the create-only ones included (discovery's list)."""
    return [r for r in RESOURCES + CREATE_ONLY + METRICS if r.group == group and r.version == version]
