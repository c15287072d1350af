"""What the review APIs ask the authorizer: the request a (Self|Local)SubjectAccessReview describes."""

from __future__ import annotations

import pytest

from podfleet.api.errors import BadRequest, Invalid
from podfleet.api.resources import LOCALSUBJECTACCESSREVIEWS, SELFSUBJECTACCESSREVIEWS, SUBJECTACCESSREVIEWS
from podfleet.apiserver.auth import AuthorizerChain, RequestAttributes, UserInfo
from podfleet.apiserver.rbac.evaluate import RulesReview
from podfleet.apiserver.reviews import Reviews, _subject, access_attributes

JANE = UserInfo("jane", ("system:authenticated",))
NODE = UserInfo("system:node:a", ("system:nodes",))


def test_resource_and_non_resource_attributes() -> None:
    spec = {"resourceAttributes": {"verb": "get", "resource": "pods", "subresource": "log", "namespace": "ns",
                                   "name": "p", "group": ""}}
    assert access_attributes(SELFSUBJECTACCESSREVIEWS, spec, JANE) == \
        RequestAttributes(JANE, "get", "pods", "", "ns", "p", "log")
    spec = {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}
    assert access_attributes(SELFSUBJECTACCESSREVIEWS, spec, JANE) == RequestAttributes(JANE, "get", path="/healthz")


def test_exactly_one_kind_of_attributes() -> None:
    with pytest.raises(Invalid, match="exactly one of"):
        access_attributes(SELFSUBJECTACCESSREVIEWS, {}, JANE)
    with pytest.raises(Invalid, match="exactly one of"):
        access_attributes(SELFSUBJECTACCESSREVIEWS, {"resourceAttributes": {}, "nonResourceAttributes": {}}, JANE)
    with pytest.raises(Invalid, match="disallowed"):
        access_attributes(LOCALSUBJECTACCESSREVIEWS, {"nonResourceAttributes": {"path": "/x"}}, JANE, "ns")


def test_a_local_review_is_in_its_namespace() -> None:
    spec = {"resourceAttributes": {"verb": "list", "resource": "pods"}}
    assert access_attributes(LOCALSUBJECTACCESSREVIEWS, spec, JANE, "team").namespace == "team"
    with pytest.raises(BadRequest, match="must match"):
        access_attributes(LOCALSUBJECTACCESSREVIEWS, {"resourceAttributes": {"namespace": "x"}}, JANE, "team")


def test_a_subject_review_names_a_user_or_groups() -> None:
    assert _subject(SUBJECTACCESSREVIEWS, {"groups": ["dev"]}) == UserInfo("", ("dev",))
    with pytest.raises(Invalid, match="at least one of user or group"):
        _subject(SUBJECTACCESSREVIEWS, {})


def test_a_nodes_rules_review_is_incomplete() -> None:
    class NoAuth:
        def authenticate(self, token: str | None) -> UserInfo:
            raise AssertionError

    reviews = Reviews(NoAuth(), AuthorizerChain().decide, lambda user, ns: RulesReview())
    status = reviews._rules({"namespace": "default"}, NODE)
    assert status["incomplete"] is True and "node authorizer" in status["evaluationError"]
    assert reviews._rules({"namespace": "default"}, JANE) == {"resourceRules": [], "nonResourceRules": [],
                                                             "incomplete": False}
