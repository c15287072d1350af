"""Authentication (bearer tokens) and authorization (admin, nodes) for the API server.

Two small interfaces so other schemes slot in: an `Authenticator` maps a request's credentials to a
`UserInfo`; an `Authorizer` decides one `RequestAttributes`. Node users (`system:node:<name>`,
group `system:nodes`) get the NodeRestriction rules: a node may write only its own Node and Lease,
the status of pods bound to it, and events; it may read what a kubelet reads, and of Secrets,
ConfigMaps, PersistentVolumeClaims and ServiceAccounts only those its pods reference (`NodeGraph`).
The object-level half of NodeRestriction (is this pod bound to me?) needs the stored object, so the
REST layer calls `check_node_object` with it.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from podfleet.api.errors import Forbidden, Unauthorized

if TYPE_CHECKING:  # the graph watches the store, which imports this module
    from podfleet.apiserver.node_graph import NodeGraph

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
MASTERS_GROUP = "system:masters"
READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""  # a ServiceAccount's uid; empty for others

    @property
    def node_name(self) -> str | None:
        if NODES_GROUP in self.groups and self.name.startswith(NODE_USER_PREFIX):
            return self.name[len(NODE_USER_PREFIX):]
        return None


@dataclass(frozen=True)
class RequestAttributes:
    user: UserInfo
    verb: str  # get list watch create update patch delete deletecollection
    resource: str = ""  # plural, "" for non-resource URLs
    group: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    path: str = ""


class Authenticator(Protocol):
    def authenticate(self, token: str | None) -> UserInfo:
        """Return the user, or raise Unauthorized."""


class Authorizer(Protocol):
    def authorize(self, attrs: RequestAttributes) -> None:
        """Return when allowed, else raise Forbidden."""


AUTHENTICATED_GROUP = "system:authenticated"


@dataclass
class UserToken:
    """A person's or program's credential from `podfleet user-kubeconfig`."""

    token: str
    groups: tuple[str, ...] = ()
    expires: float = 0.0  # Unix time after which the token no longer authenticates; 0 = never

    def to_json(self) -> dict[str, Any]:
        return {"token": self.token, "groups": list(self.groups), "expires": self.expires}

    @classmethod
    def from_json(cls, d: Any) -> UserToken:
        d = d if isinstance(d, dict) else {}
        return cls(str(d.get("token", "")), tuple(str(g) for g in d.get("groups") or ()),
                   float(d.get("expires") or 0.0))


@dataclass
class TokenFile:
    """`tokens.json` in the data dir: {"admin": token, "nodes": {name: token}, "users": {name:
    {token, groups, expires}}}. Secret, mode 0600. Removing an entry revokes it at once (the
    authenticator re-reads the file when it changes)."""

    path: Path
    admin: str = ""
    nodes: dict[str, str] = field(default_factory=dict)
    users: dict[str, UserToken] = field(default_factory=dict)

    @classmethod
    def load_or_create(cls, path: Path) -> TokenFile:
        tf = cls(path)
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            tf.admin = str(data.get("admin", ""))
            tf.nodes = {str(k): str(v) for k, v in (data.get("nodes") or {}).items()}
            tf.users = {str(k): UserToken.from_json(v) for k, v in (data.get("users") or {}).items()}
        if not tf.admin:
            tf.admin = secrets.token_urlsafe(32)
            tf.save()
        return tf

    def node_token(self, node: str) -> str:
        """The node's credential, created on first request (bootstrap)."""
        if node not in self.nodes:
            self.nodes[node] = secrets.token_urlsafe(32)
            self.save()
        return self.nodes[node]

    def component_token(self, name: str) -> str:
        """The credential of a component of the cluster itself (`system:kube-scheduler`): kept
        across restarts, created on first request."""
        current = self.users.get(name)
        if current is not None and current.token and not current.expires:
            return current.token
        return self.issue_user_token(name)

    def issue_user_token(self, name: str, groups: tuple[str, ...] = (), expires: float = 0.0) -> str:
        """A new credential for user `name` (replacing any it had: the old one stops working)."""
        token = secrets.token_urlsafe(32)
        self.users[name] = UserToken(token, groups, expires)
        self.save()
        return token

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"admin": self.admin, "nodes": self.nodes,
                       "users": {k: v.to_json() for k, v in self.users.items()}}, f, indent=2)
        os.replace(tmp, self.path)


class TokenAuthenticator:
    """Static bearer tokens, re-read when the token file changes (new nodes and users join, and
    removed ones are refused, without a restart). Tokens of other kinds (ServiceAccount JWTs) go to
    `fallback` when given."""

    def __init__(self, tokens: TokenFile, fallback: Authenticator | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self._tokens = tokens
        self._mtime = 0.0
        self.fallback = fallback
        self._now = now

    def _refresh(self) -> None:
        try:
            mtime = self._tokens.path.stat().st_mtime
        except OSError:
            return
        if mtime != self._mtime:
            try:
                fresh = TokenFile.load_or_create(self._tokens.path)
            except (ValueError, OSError):
                return  # caught mid-write (an editor saving in place): read it again on the next request
            self._mtime = mtime
            self._tokens.admin, self._tokens.nodes, self._tokens.users = fresh.admin, fresh.nodes, fresh.users

    def authenticate(self, token: str | None) -> UserInfo:
        if not token:
            raise Unauthorized("Unauthorized")
        self._refresh()
        if hmac.compare_digest(token, self._tokens.admin):
            return UserInfo("admin", (MASTERS_GROUP, AUTHENTICATED_GROUP))
        for node, node_token in self._tokens.nodes.items():
            if hmac.compare_digest(token, node_token):
                return UserInfo(NODE_USER_PREFIX + node, (NODES_GROUP, AUTHENTICATED_GROUP))
        for name, user in self._tokens.users.items():
            if user.token and hmac.compare_digest(token, user.token):
                if user.expires and self._now() >= user.expires:
                    break  # expired: as unknown
                groups = tuple(g for g in user.groups if g != AUTHENTICATED_GROUP)
                return UserInfo(name, (*groups, AUTHENTICATED_GROUP))
        if self.fallback is not None:
            return self.fallback.authenticate(token)
        raise Unauthorized("Unauthorized")


def _forbid(attrs: RequestAttributes, why: str = "") -> Forbidden:
    what = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    group = f' in API group "{attrs.group}"' if attrs.resource else ""
    scope = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    subject = f'{what or attrs.path} "{attrs.name}"' if attrs.name else (what or attrs.path)
    msg = f"{subject} is forbidden: "
    msg += f'User "{attrs.user.name}" cannot {attrs.verb} resource "{what}"{group}{scope}'
    if why:
        msg += f": {why}"
    return Forbidden(msg, kind=attrs.resource, name=attrs.name, group=attrs.group)


@dataclass(frozen=True)
class Decision:
    """One authorizer's answer: allowed, or no opinion (with a reason when it has one to give)."""

    allowed: bool
    reason: str = ""


class Decider(Protocol):
    """One link of `AuthorizerChain`."""

    def decide(self, attrs: RequestAttributes) -> Decision: ...


def forbidden_message(attrs: RequestAttributes, reason: str = "") -> str:
    """kube-apiserver's 403 message: what the user may not do, and why when an authorizer said."""
    user = json.dumps(attrs.user.name)
    if not attrs.resource:
        msg = f"User {user} cannot {attrs.verb} path {json.dumps(attrs.path)}"
        return f"forbidden: {msg}: {reason}" if reason else f"forbidden: {msg}"
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f"in the namespace {json.dumps(attrs.namespace)}" if attrs.namespace else "at the cluster scope"
    msg = (f"User {user} cannot {attrs.verb} resource {json.dumps(resource)} in API group "
           f"{json.dumps(attrs.group)} {scope}")
    if reason:
        msg += f": {reason}"
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    subject = f"{qualified} {json.dumps(attrs.name)}" if attrs.name else qualified
    return f"{subject} is forbidden: {msg}"


# What a node reads freely: its own and other pods (the scheduler's view), Nodes, leases, events,
# namespaces, and what its service proxy (kube-proxy's role) watches.
_NODE_READS = frozenset({"pods", "nodes", "namespaces", "services", "endpoints", "endpointslices", "leases",
                         "events"})
# Core kinds a node may read only when a pod bound to it references the object.
_GRAPH_READS = frozenset({"secrets", "configmaps", "persistentvolumeclaims", "serviceaccounts"})


class NodeAuthorizer:
    """The request half of the Node authorizer: the kubelet's rules for node users, no opinion on
    anyone else (RBAC decides for them). Without a `graph` no node reads any referenced kind."""

    def __init__(self, graph: NodeGraph | None = None) -> None:
        self.graph = graph

    def decide(self, attrs: RequestAttributes) -> Decision:
        node = attrs.user.node_name
        if node is None:
            return Decision(False)
        if not attrs.resource:  # non-resource: discovery, version, health
            return Decision(True)
        if attrs.group == "" and attrs.resource == "serviceaccounts" and attrs.verb not in READ_VERBS:
            return self._create_token(node, attrs)
        if attrs.group == "" and attrs.resource in _GRAPH_READS:
            return self._read_referenced(node, attrs)
        if attrs.group == "" and attrs.resource == "persistentvolumes":
            # Readable when a PVC of one of the node's pods is bound to it; podfleet has no PVs yet.
            return Decision(False, f"no relationship found between node '{node}' and this object")
        if self._node_allows(node, attrs):
            return Decision(True)
        return Decision(False, "node may only modify its own objects")

    def _read_referenced(self, node: str, a: RequestAttributes) -> Decision:
        """get/list/watch of one named object (list and watch name it by `metadata.name=` field
        selector) that a pod on this node references."""
        if a.verb not in READ_VERBS:
            return Decision(False, "can only read resources of this type")
        if a.subresource:
            return Decision(False, "cannot read subresource")
        if not a.namespace:
            return Decision(False, "can only read namespaced object of this type")
        return self._related(node, a)

    def _create_token(self, node: str, a: RequestAttributes) -> Decision:
        """A token for a ServiceAccount one of its pods runs as (which pod: NodeRestriction's
        check of the TokenRequest's bound object, in `token_request`)."""
        if a.verb != "create" or not a.name:
            return Decision(False, "can only create tokens for individual service accounts")
        if a.subresource != "token":
            return Decision(False, "can only create token subresource of serviceaccount")
        return self._related(node, a)

    def _related(self, node: str, a: RequestAttributes) -> Decision:
        if not a.name:
            return Decision(False, "No Object name found")
        if self.graph is not None and self.graph.references(node, a.resource, a.namespace, a.name):
            return Decision(True)
        return Decision(False, f"no relationship found between node '{node}' and this object")

    @staticmethod
    def _node_allows(node: str, a: RequestAttributes) -> bool:
        r, verb = a.resource, a.verb
        if verb in READ_VERBS and r in _NODE_READS:
            return True
        if r == "nodes":
            return verb in {"create", "update", "patch"} and (a.name == node or (verb == "create" and not a.name))
        if r == "leases":
            return a.namespace == "kube-node-lease" and verb in {"create", "update", "patch", "delete"} and \
                (a.name in ("", node))
        if r == "events":
            return verb in {"create", "update", "patch"}
        if r == "pods":
            # Object-level check (bound to this node) happens in check_node_object.
            if a.subresource == "status":
                return verb in {"update", "patch"}
            return verb == "delete" and not a.subresource
        return False


class DecidingAuthorizer:
    """An authorizer that decides (allowed or not, and why): `authorize`, the `Authorizer` protocol,
    raises Forbidden with Kubernetes' message and the reason."""

    def decide(self, attrs: RequestAttributes) -> Decision:
        raise NotImplementedError

    def allows(self, attrs: RequestAttributes) -> bool:
        return self.decide(attrs).allowed

    def authorize(self, attrs: RequestAttributes) -> None:
        decision = self.decide(attrs)
        if not decision.allowed:
            raise Forbidden(forbidden_message(attrs, decision.reason), kind=attrs.resource, name=attrs.name,
                            group=attrs.group)


class AuthorizerChain(DecidingAuthorizer):
    """kube-apiserver's union of authorizers: `system:masters` is allowed everything (its privileged
    group authorizer, ahead of the rest); then each link in turn, the first allow winning; when none
    allows, 403 with the reasons the links gave."""

    def __init__(self, *links: Decider) -> None:
        self.links = links

    def decide(self, attrs: RequestAttributes) -> Decision:
        if MASTERS_GROUP in attrs.user.groups:
            return Decision(True)
        reasons: list[str] = []
        for link in self.links:
            decision = link.decide(attrs)
            if decision.allowed:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision(False, "\n".join(reasons))



class ClusterAuthorizer(AuthorizerChain):
    """Masters and nodes only, without RBAC (for tests and tools that have no policy)."""

    def __init__(self, graph: NodeGraph | None = None) -> None:
        super().__init__(NodeAuthorizer(graph))


# Labels a kubelet may set on its own Node although they are in the kubernetes.io/k8s.io namespaces
# (NodeRestriction's list); every other label there, and all of node-restriction.kubernetes.io/, is
# the cluster administrator's, used to steer workloads to nodes the nodes themselves cannot claim.
_KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone"})
_KUBELET_LABEL_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")


def node_may_set_label(key: str) -> bool:
    prefix = key.split("/", 1)[0] if "/" in key else ""
    if prefix == "node-restriction.kubernetes.io" or prefix.endswith(".node-restriction.kubernetes.io"):
        return False
    if key in _KUBELET_LABELS or key.startswith(_KUBELET_LABEL_PREFIXES):
        return True
    return not (prefix in ("kubernetes.io", "k8s.io") or prefix.endswith((".kubernetes.io", ".k8s.io")))


def check_node_object(user: UserInfo, obj: dict[str, Any] | None, attrs: RequestAttributes,
                      old: dict[str, Any] | None = None) -> None:
    """NodeRestriction's object half: a node may act only on pods bound to itself (and its own Node,
    without touching the labels reserved to administrators); `old` is the stored object an update
    replaces."""
    node = user.node_name
    if node is None or obj is None:
        return
    if attrs.resource == "pods" and (attrs.verb not in READ_VERBS or attrs.subresource == "log"):
        if (obj.get("spec") or {}).get("nodeName") != node:
            raise _forbid(attrs, f'pod is not bound to node "{node}"')
    if attrs.resource == "nodes" and attrs.verb in {"create", "update", "patch"}:
        if (obj.get("metadata") or {}).get("name") != node:
            raise _forbid(attrs, f'node "{node}" may only modify its own Node object')
        if old is None and attrs.verb != "create":
            return  # the stored object of an update: only whose it is matters
        before = (old or {}).get("metadata", {}).get("labels") or {}
        after = (obj.get("metadata") or {}).get("labels") or {}
        changed = sorted(k for k in set(before) | set(after)
                         if before.get(k) != after.get(k) and not node_may_set_label(k))
        if changed:
            raise _forbid(attrs, f"is not allowed to modify labels: {', '.join(changed)}")
    if attrs.resource == "leases" and attrs.verb in {"create", "update", "patch"} \
            and (obj.get("metadata") or {}).get("name") != node:
        # A create names no object in its request: the name is in the body, checked here.
        raise _forbid(attrs, f'node "{node}" may only modify its own Lease')
