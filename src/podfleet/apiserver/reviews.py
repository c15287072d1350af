"""The review APIs: asking the server who you are and what someone may do, without storing anything.

As kube-apiserver serves them (create-only, the answer in the returned object's `status`):

- `authorization.k8s.io/v1` SelfSubjectAccessReview (may I?), SubjectAccessReview (may they?,
  cluster-wide), LocalSubjectAccessReview (may they, in this namespace?) — decided by the server's
  own authorizer chain, so the answer is exactly what a request would get; SelfSubjectRulesReview
  (what may I do in a namespace?) — the rules RBAC holds for the caller;
- `authentication.k8s.io/v1` SelfSubjectReview (who am I?) and TokenReview (whose is this token?).

`kubectl auth can-i [--list]` and `kubectl auth whoami` are built on these. Who may create a review
is decided before this module runs (RBAC's `system:basic-user` grants the self reviews to everyone
authenticated; SubjectAccessReview and TokenReview need `system:auth-delegator` or more).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from podfleet.api.errors import BadRequest, Cause, Unauthorized, invalid
from podfleet.api.resources import (
    LOCALSUBJECTACCESSREVIEWS,
    SELFSUBJECTACCESSREVIEWS,
    SELFSUBJECTREVIEWS,
    SELFSUBJECTRULESREVIEWS,
    SUBJECTACCESSREVIEWS,
    TOKENREVIEWS,
    ResourceType,
)
from podfleet.apiserver.auth import Authenticator, Decision, RequestAttributes, UserInfo
from podfleet.apiserver.negotiation import decode_body, encode_response, parse_accept, read_body
from podfleet.apiserver.rbac.evaluate import RulesReview
from podfleet.apiserver.routing import RequestInfo

Decide = Callable[[RequestAttributes], Decision]
RulesFor = Callable[[UserInfo, str], RulesReview]


class Reviews:
    def __init__(self, authenticator: Authenticator, decide: Decide, rules_for: RulesFor) -> None:
        self.authenticator = authenticator
        self.decide = decide
        self.rules_for = rules_for

    async def handle(self, request: web.Request, info: RequestInfo, user: UserInfo) -> web.Response:
        body = await decode_body(await read_body(request), request.content_type)
        if not isinstance(body, dict):
            raise BadRequest("the request body must be an object")
        rt = info.resource
        kind = body.get("kind") or rt.kind
        if kind != rt.kind:
            raise BadRequest(f"the body is a {kind}, not a {rt.kind}")
        review: dict[str, Any] = {**body, "apiVersion": rt.api_version, "kind": rt.kind}
        meta = review.get("metadata") if isinstance(review.get("metadata"), dict) else {}
        review["metadata"] = {**(meta or {}), "creationTimestamp": None}
        spec = review.get("spec") if isinstance(review.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        if rt is SELFSUBJECTACCESSREVIEWS:
            review["status"] = self._access(rt, spec, user)
        elif rt in (SUBJECTACCESSREVIEWS, LOCALSUBJECTACCESSREVIEWS):
            review["status"] = self._access(rt, spec, _subject(rt, spec), info.namespace)
            if info.namespace:
                review["metadata"]["namespace"] = info.namespace
        elif rt is SELFSUBJECTRULESREVIEWS:
            review["status"] = self._rules(spec, user)
        elif rt is SELFSUBJECTREVIEWS:
            review["status"] = {"userInfo": user_info(user)}
        elif rt is TOKENREVIEWS:
            review["status"] = self._token(spec)
        else:  # pragma: no cover - every create-only kind is handled above
            raise BadRequest(f"{rt.kind} is not served")
        return encode_response(review, 201, parse_accept(request.headers.get("Accept", "")))

    def _access(self, rt: ResourceType, spec: dict[str, Any], user: UserInfo, namespace: str = "") -> dict[str, Any]:
        attrs = access_attributes(rt, spec, user, namespace)
        decision = self.decide(attrs)
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        return status

    def _rules(self, spec: dict[str, Any], user: UserInfo) -> dict[str, Any]:
        namespace = str(spec.get("namespace") or "")
        rules = self.rules_for(user, namespace)
        status: dict[str, Any] = {"resourceRules": rules.resource_rules, "nonResourceRules": rules.non_resource_rules,
                                  "incomplete": rules.incomplete}
        errors = [rules.evaluation_error] if rules.evaluation_error else []
        if user.node_name is not None:
            # The Node authorizer decides from its own graph, which it does not list (as upstream).
            status["incomplete"] = True
            errors.append("node authorizer does not support user rule resolution")
        if errors:
            status["evaluationError"] = "[" + ", ".join(errors) + "]" if len(errors) > 1 else errors[0]
        return status

    def _token(self, spec: dict[str, Any]) -> dict[str, Any]:
        token = str(spec.get("token") or "")
        if not token:
            raise invalid(TOKENREVIEWS.kind, "", [Cause("spec.token", "Required value: token is required",
                                                        "FieldValueRequired")])
        audiences = [str(a) for a in spec.get("audiences") or []]
        try:
            user = self.authenticator.authenticate(token)
        except Unauthorized as e:
            return {"authenticated": False, "user": {}, "error": e.message or "invalid bearer token"}
        status: dict[str, Any] = {"authenticated": True, "user": user_info(user)}
        if audiences:
            status["audiences"] = audiences
        return status


def user_info(user: UserInfo) -> dict[str, Any]:
    """authentication.k8s.io UserInfo."""
    out: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        out["uid"] = user.uid
    return out


def _subject(rt: ResourceType, spec: dict[str, Any]) -> UserInfo:
    """The user a (Local)SubjectAccessReview asks about."""
    name = str(spec.get("user") or "")
    groups = tuple(str(g) for g in spec.get("groups") or [])
    if not name and not groups:
        raise invalid(rt.kind, "", [Cause("spec.user", 'Invalid value: "": at least one of user or group must be '
                                          "specified")])
    return UserInfo(name, groups, uid=str(spec.get("uid") or ""))


def access_attributes(rt: ResourceType, spec: dict[str, Any], user: UserInfo, namespace: str = "") -> RequestAttributes:
    """The request a (Self|Local)SubjectAccessReview describes; 422/400 for a spec that describes none."""
    res, nonres = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(res, dict) == isinstance(nonres, dict):
        raise invalid(rt.kind, "", [Cause("spec.resourceAttributes", 'Invalid value: "null": exactly one of '
                                          "nonResourceAttributes or resourceAttributes must be specified")])
    if isinstance(nonres, dict):
        if rt is LOCALSUBJECTACCESSREVIEWS:
            raise invalid(rt.kind, "", [Cause("spec.nonResourceAttributes", "Invalid value: disallowed on this kind "
                                              "of request")])
        return RequestAttributes(user, str(nonres.get("verb") or ""), path=str(nonres.get("path") or ""))
    assert isinstance(res, dict)
    ns = str(res.get("namespace") or "")
    if rt is LOCALSUBJECTACCESSREVIEWS:
        if not namespace:
            raise BadRequest("namespace is required on this type")
        if ns and ns != namespace:
            raise BadRequest(f"spec.resourceAttributes.namespace must match metadata.namespace: {ns!r} vs "
                             f"{namespace!r}")
        ns = namespace
    return RequestAttributes(user, str(res.get("verb") or ""), str(res.get("resource") or ""),
                             str(res.get("group") or ""), ns, str(res.get("name") or ""),
                             str(res.get("subresource") or ""))
