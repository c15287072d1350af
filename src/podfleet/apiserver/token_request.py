"""The TokenRequest subresource (`POST serviceaccounts/<name>/token`, `kubectl create token`).

As kube-apiserver's: the ServiceAccount must exist; `expirationSeconds` defaults to an hour and
may not be under ten minutes; `audiences` default to the API server's own; a `boundObjectRef` to a
Pod (kind Pod, apiVersion v1) binds the token to that pod, which must exist, have the uid given (if
one is), and run as this ServiceAccount. Nothing is stored: the token is in the returned
TokenRequest's status. A node (NodeRestriction) may ask only for tokens bound, by uid, to a pod
scheduled on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from podfleet.api.errors import BadRequest, Cause, Conflict, Forbidden, invalid
from podfleet.api.meta import rfc3339
from podfleet.api.resources import PODS, SERVICEACCOUNTS
from podfleet.apiserver.serviceaccount_tokens import BoundPod, TokenIssuer
from podfleet.apiserver.store import Store

DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 2**32
KIND, API_VERSION = "TokenRequest", "authentication.k8s.io/v1"


def _invalid(name: str, field: str, message: str, reason: str = "FieldValueInvalid") -> Exception:
    return invalid(KIND, name, [Cause(field, message, reason)])


async def create_token(store: Store, issuer: TokenIssuer, namespace: str, name: str, body: Any, *,
                       node: str | None = None) -> dict[str, Any]:
    """`node`: the requesting node's name when a node asks (NodeRestriction applies), else None."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a TokenRequest object")
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    if node is not None:
        await _admit_node(store, node, namespace, name, spec)
    sa = await store.get(SERVICEACCOUNTS, namespace, name)  # 404 when there is none
    expiration = spec.get("expirationSeconds")
    expiration = DEFAULT_EXPIRATION_SECONDS if expiration is None else expiration
    if not isinstance(expiration, int) or isinstance(expiration, bool):
        raise _invalid(name, "spec.expirationSeconds", f"Invalid value: {expiration!r}: must be an integer")
    if expiration < MIN_EXPIRATION_SECONDS:
        raise _invalid(name, "spec.expirationSeconds",
                       f"Invalid value: {expiration}: may not specify a duration less than 10 minutes")
    if expiration > MAX_EXPIRATION_SECONDS:
        raise _invalid(name, "spec.expirationSeconds",
                       f"Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds")
    audiences = [str(a) for a in spec.get("audiences") or []] or issuer.api_audiences
    ref = spec.get("boundObjectRef")
    pod: BoundPod | None = None
    if isinstance(ref, dict):
        pod = await _bound_pod(store, namespace, name, ref)
        ref = {**ref, "uid": pod.uid}
    token, exp = issuer.issue(namespace, name, str(sa["metadata"].get("uid") or ""), audiences, expiration, pod)
    out_spec: dict[str, Any] = {"audiences": audiences, "expirationSeconds": expiration,
                                "boundObjectRef": ref if isinstance(ref, dict) else None}
    return {"kind": KIND, "apiVersion": API_VERSION,
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": out_spec,
            "status": {"token": token, "expirationTimestamp": rfc3339(dt.datetime.fromtimestamp(exp, dt.UTC))}}


async def _bound_pod(store: Store, namespace: str, sa_name: str, ref: dict[str, Any]) -> BoundPod:
    kind, api_version = ref.get("kind"), ref.get("apiVersion") or "v1"
    if kind != "Pod":
        raise _invalid(sa_name, "spec.boundObjectRef.kind", f'Unsupported value: "{kind}": supported values: "Pod"',
                       "FieldValueNotSupported")
    if api_version != "v1":
        raise _invalid(sa_name, "spec.boundObjectRef.apiVersion",
                       f'Unsupported value: "{api_version}": supported values: "v1"', "FieldValueNotSupported")
    pod_name = str(ref.get("name") or "")
    if not pod_name:
        raise _invalid(sa_name, "spec.boundObjectRef.name", "Required value", "FieldValueRequired")
    pod = await store.get(PODS, namespace, pod_name)  # 404 when there is none
    uid = str(pod["metadata"].get("uid") or "")
    if ref.get("uid") and ref["uid"] != uid:
        raise Conflict(f'the UID in the bound object reference ({ref["uid"]}) does not match the UID in record '
                       f"({uid}). The object might have been deleted and then recreated", kind="pods", name=pod_name)
    runs_as = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    if runs_as != sa_name:
        raise BadRequest(f'cannot bind token for serviceaccount "{sa_name}" to pod running with different '
                         f'serviceaccount name.')
    return BoundPod(pod_name, uid)


async def _admit_node(store: Store, node: str, namespace: str, sa_name: str, spec: dict[str, Any]) -> None:
    """NodeRestriction's object half for TokenRequests: a node's token must be bound to a pod on that
    node, so a node cannot mint a credential that outlives its pods or speaks for a pod elsewhere."""
    ref = spec.get("boundObjectRef")
    ref = ref if isinstance(ref, dict) else {}
    if ref.get("apiVersion") != "v1" or ref.get("kind") != "Pod" or not ref.get("name"):
        raise _node_forbidden(sa_name, "node requested token not bound to a pod")
    if not ref.get("uid"):
        raise _node_forbidden(sa_name, "node requested token with a pod binding without a uid")
    pod = await store.get(PODS, namespace, str(ref["name"]))  # 404 when there is none
    if ref["uid"] != (pod.get("metadata") or {}).get("uid"):
        raise _node_forbidden(sa_name, f"the UID in the bound object reference ({ref['uid']}) does not match the "
                                       "UID in record. The object might have been deleted and then recreated")
    if (pod.get("spec") or {}).get("nodeName") != node:
        raise _node_forbidden(sa_name, "node requested token bound to a pod scheduled on a different node")


def _node_forbidden(sa_name: str, why: str) -> Forbidden:
    return Forbidden(f'serviceaccounts "{sa_name}" is forbidden: {why}', kind="serviceaccounts", name=sa_name)
