"""Typed API errors that map one-to-one onto Kubernetes `Status` objects.

Every layer raises these; the API server turns them into HTTP responses and the client turns
HTTP responses back into them, so callers handle `NotFound` and `Conflict` the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Cause:
    """One reason an object is invalid, naming the field as Kubernetes does (`spec.containers[0].image`)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def describe(self) -> str:
        """`spec.containers[0].image: Required value` — the form used in the Status message."""
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass
class APIError(Exception):
    """Base class: an HTTP status code, a Kubernetes `reason` and a human message."""

    message: str
    kind: str = ""
    name: str = ""
    group: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after: int | None = None

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> dict[str, Any]:
        """The `Status` body, keys in `metav1.Status`'s field order as kube-apiserver serialises it.

        Clients that compare response text byte for byte depend on that order: TypeMeta (kind,
        apiVersion), metadata, status, message, reason, details (only when set), then code.
        """
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            status["details"] = details
        status["code"] = self.code
        return status


class BadRequest(APIError):
    code, reason = 400, "BadRequest"


class Unauthorized(APIError):
    code, reason = 401, "Unauthorized"


class Forbidden(APIError):
    code, reason = 403, "Forbidden"


class NotFound(APIError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(APIError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(APIError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(APIError):
    code, reason = 409, "AlreadyExists"


class Conflict(APIError):
    code, reason = 409, "Conflict"


class Gone(APIError):
    """A watch or list asked for a resourceVersion that was compacted away (reason `Expired`)."""

    code, reason = 410, "Expired"


class RequestEntityTooLarge(APIError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(APIError):
    code, reason = 422, "Invalid"


class TooManyRequests(APIError):
    code, reason = 429, "TooManyRequests"


class InternalError(APIError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(APIError):
    code, reason = 503, "ServiceUnavailable"


_BY_REASON: dict[str, type[APIError]] = {
    cls.reason: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable,
                AlreadyExists, Conflict, Gone, RequestEntityTooLarge, UnsupportedMediaType, Invalid,
                TooManyRequests, InternalError, ServiceUnavailable)
}
_BY_CODE: dict[int, type[APIError]] = {410: Gone, 409: Conflict}


def invalid(kind: str, name: str, causes: list[Cause]) -> Invalid:
    """Build the 422 Kubernetes returns for a failed validation: every cause listed in the message."""
    joined = ", ".join(c.describe() for c in causes)
    shown = f'{kind} "{name}"' if name else kind
    return Invalid(f"{shown} is invalid: {joined}", kind=kind, name=name, causes=causes)


def from_status(code: int, status: dict[str, Any] | None) -> APIError:
    """Rebuild a typed error from a `Status` body (used by the API client)."""
    status = status or {}
    reason = str(status.get("reason") or "")
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:
        cls = next((c for c in _BY_REASON.values() if c.code == code), InternalError)
    details = status.get("details") or {}
    causes = [Cause(field=str(c.get("field", "")), message=str(c.get("message", "")),
                    reason=str(c.get("reason", ""))) for c in details.get("causes") or []]
    return cls(str(status.get("message") or f"HTTP {code}"), kind=str(details.get("kind", "")),
               name=str(details.get("name", "")), group=str(details.get("group", "")), causes=causes)
