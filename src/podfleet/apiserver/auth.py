"""Authentication (bearer tokens) and authorization (admin, nodes) for the API server.

Two small interfaces so other schemes slot in: an `Authenticator` maps a request's credentials to a
`UserInfo`; an `Authorizer` decides one `RequestAttributes`. Node users (`system:node:<name>`,
group `system:nodes`) get the NodeRestriction rules: a node may write only its own Node and Lease,
the status of pods bound to it, and events; it may read what a kubelet reads.
The object-level half of NodeRestriction (is this pod bound to me?) needs the stored object, so the
REST layer calls `check_node_object` with it.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from podfleet.api.errors import Forbidden, Unauthorized

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
MASTERS_GROUP = "system:masters"
READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()

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


@dataclass
class TokenFile:
    """`tokens.json` in the data dir: {"admin": token, "nodes": {name: token}}. Secret, mode 0600."""

    path: Path
    admin: str = ""
    nodes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load_or_create(cls, path: Path) -> TokenFile:
        tf = cls(path)
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            tf.admin = str(data.get("admin", ""))
            tf.nodes = {str(k): str(v) for k, v in (data.get("nodes") or {}).items()}
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

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"admin": self.admin, "nodes": self.nodes}, f, indent=2)
        os.replace(tmp, self.path)


class TokenAuthenticator:
    """Static bearer tokens, re-read when the token file changes (new nodes join without a restart)."""

    def __init__(self, tokens: TokenFile) -> None:
        self._tokens = tokens
        self._mtime = 0.0

    def _refresh(self) -> None:
        try:
            mtime = self._tokens.path.stat().st_mtime
        except OSError:
            return
        if mtime != self._mtime:
            self._mtime = mtime
            fresh = TokenFile.load_or_create(self._tokens.path)
            self._tokens.admin, self._tokens.nodes = fresh.admin, fresh.nodes

    def authenticate(self, token: str | None) -> UserInfo:
        if not token:
            raise Unauthorized("Unauthorized")
        self._refresh()
        if hmac.compare_digest(token, self._tokens.admin):
            return UserInfo("admin", (MASTERS_GROUP, "system:authenticated"))
        for node, node_token in self._tokens.nodes.items():
            if hmac.compare_digest(token, node_token):
                return UserInfo(NODE_USER_PREFIX + node, (NODES_GROUP, "system:authenticated"))
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


class ClusterAuthorizer:
    """Masters may do anything; nodes get the kubelet's rules; anyone else nothing."""

    def authorize(self, attrs: RequestAttributes) -> None:
        if MASTERS_GROUP in attrs.user.groups:
            return
        node = attrs.user.node_name
        if node is None:
            raise _forbid(attrs)
        if not attrs.resource:  # discovery, version, health
            return
        if self._node_allows(node, attrs):
            return
        raise _forbid(attrs, "node may only modify its own objects")

    @staticmethod
    def _node_allows(node: str, a: RequestAttributes) -> bool:
        r, verb = a.resource, a.verb
        if verb in READ_VERBS and r in {"pods", "nodes", "namespaces", "secrets", "configmaps",
                                        "services", "endpoints", "endpointslices", "leases", "serviceaccounts",
                                        "events"}:
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
