"""Typed errors round-trip through Kubernetes Status objects."""

from __future__ import annotations

from podfleet.api.errors import AlreadyExists, Cause, Conflict, Gone, Invalid, NotFound, from_status, invalid


def test_invalid_status_lists_causes() -> None:
    err = invalid("Pod", "p", [Cause("spec.containers[0].image", "Required value", "FieldValueRequired"),
                               Cause("metadata.name", 'Invalid value: "A"', "FieldValueInvalid")])
    st = err.to_status()
    assert st["code"] == 422 and st["reason"] == "Invalid" and st["kind"] == "Status"
    assert st["message"] == ('Pod "p" is invalid: spec.containers[0].image: Required value, '
                             'metadata.name: Invalid value: "A"')
    assert st["details"]["causes"][0] == {"reason": "FieldValueRequired", "message": "Required value",
                                          "field": "spec.containers[0].image"}


def test_from_status_rebuilds_types() -> None:
    for cls in (NotFound, AlreadyExists, Conflict, Gone, Invalid):
        err = cls("boom", kind="pods", name="p")
        back = from_status(cls.code, err.to_status())
        assert type(back) is cls and back.name == "p" and str(back) == "boom"
    assert isinstance(from_status(410, {"reason": "Expired"}), Gone)
    assert isinstance(from_status(404, None), NotFound)


def test_status_keys_follow_kube_apiserver_order() -> None:
    # metav1.Status serialises TypeMeta, metadata, status, message, reason, details, code in that order.
    with_details = NotFound('pods "p" not found', kind="pods", name="p").to_status()
    assert list(with_details) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details",
                                  "code"]
    assert list(with_details["details"]) == ["name", "kind"]
    without = Gone("too old").to_status()
    assert list(without) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "code"]
