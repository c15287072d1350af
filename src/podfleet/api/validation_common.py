"""Building blocks of validation: Kubernetes' field-error constructors, name/label syntax, ObjectMeta.

Messages follow apimachinery word for word (`Invalid value: "Foo_1": a lowercase RFC 1123 label
must consist of ...`), so a 422 from podfleet reads like one from a real API server.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, TypeGuard

from podfleet.api.errors import Cause
from podfleet.api.resources import ResourceType
from podfleet.api.selectors import selector_from_dict

# ---------------------------------------------------------------------------- values and causes


class Shown(str):
    """A bad value printed unquoted, as Go prints values that have a String() method (IntOrString)."""

    __slots__ = ()


def go_value(v: Any) -> str:
    """How apimachinery prints a bad value: strings quoted, numbers and bools bare, maps as Go literals."""
    if isinstance(v, Shown):
        return str(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, dict):
        inner = ", ".join(f"{json.dumps(str(k))}:{go_value(v[k])}" for k in sorted(v))
        return f"map[string]string{{{inner}}}"
    if isinstance(v, list):
        return "[]string{" + ", ".join(go_value(x) for x in v) + "}"
    return str(v)


def required(field: str, detail: str = "") -> Cause:
    return Cause(field, f"Required value: {detail}" if detail else "Required value", "FieldValueRequired")


def bad(field: str, value: Any, detail: str = "") -> Cause:
    msg = f"Invalid value: {go_value(value)}"
    return Cause(field, f"{msg}: {detail}" if detail else msg, "FieldValueInvalid")


def duplicate(field: str, value: Any) -> Cause:
    return Cause(field, f"Duplicate value: {go_value(value)}", "FieldValueDuplicate")


def not_supported(field: str, value: Any, allowed: list[str] | tuple[str, ...]) -> Cause:
    supported = ", ".join(json.dumps(a) for a in allowed)
    return Cause(field, f"Unsupported value: {go_value(value)}: supported values: {supported}",
                 "FieldValueNotSupported")


def forbidden(field: str, detail: str) -> Cause:
    return Cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def not_found(field: str, value: Any) -> Cause:
    return Cause(field, f"Not found: {go_value(value)}", "FieldValueNotFound")


def too_long(field: str, max_bytes: int) -> Cause:
    return Cause(field, f"Too long: must have at most {max_bytes} bytes", "FieldValueTooLong")


def immutable(field: str, value: Any) -> Cause:
    return bad(field, value, "field is immutable")


def each(field: str, value: Any, messages: list[str]) -> list[Cause]:
    return [bad(field, value, m) for m in messages]


def nonnegative(field: str, value: Any) -> list[Cause]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return [bad(field, value, "must be greater than or equal to 0")]
    return []


def is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


# ---------------------------------------------------------------------------- syntax (IsXxx: messages)

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_ENV_VAR_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_PERCENT_FMT = "[0-9]+%"


def _full(fmt: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{fmt})$")


_DNS1123_LABEL = _full(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = _full(_DNS1123_SUBDOMAIN_FMT)
_QUALIFIED_NAME = _full(_QUALIFIED_NAME_FMT)
_LABEL_VALUE = _full(_LABEL_VALUE_FMT)
_ENV_VAR = _full(_ENV_VAR_FMT)
_CONFIG_KEY = _full(_CONFIG_KEY_FMT)
_PERCENT = _full(_PERCENT_FMT)
_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_PORT_NAME_LETTER = re.compile(r"[a-z]")


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError: the rule, examples, and the regex itself."""
    shown = ",  or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {shown}, regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


LABEL_ERROR = regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                          "and must start and end with an alphanumeric character", _DNS1123_LABEL_FMT,
                          "my-name", "123-abc")
SUBDOMAIN_ERROR = regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                              "'-' or '.', and must start and end with an alphanumeric character",
                              _DNS1123_SUBDOMAIN_FMT, "example.com")
_QUALIFIED_NAME_ERROR = regex_error("must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                                    "end with an alphanumeric character", _QUALIFIED_NAME_FMT,
                                    "MyName", "my.name", "123-abc")
LABEL_VALUE_ERROR = regex_error("a valid label must be an empty string or consist of alphanumeric characters, "
                                "'-', '_' or '.', and must start and end with an alphanumeric character",
                                _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
ENV_VAR_ERROR = regex_error("a valid environment variable name must consist of alphabetic characters, digits, "
                            "'_', '-', or '.', and must not start with a digit", _ENV_VAR_FMT,
                            "my.env-name", "MY_ENV.NAME", "MyEnvName1")
CONFIG_KEY_ERROR = regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                               _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name")
PERCENT_ERROR = regex_error("a valid percent string must be a numeric string followed by an ending '%'",
                            _PERCENT_FMT, "1%", "93%")
PORT_RANGE_ERROR = "must be between 1 and 65535, inclusive"


def is_dns1123_label(v: str) -> list[str]:
    errs = [max_len_error(63)] if len(v) > 63 else []
    return errs if _DNS1123_LABEL.match(v) else [*errs, LABEL_ERROR]


_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL = re.compile(f"^{_DNS1035_LABEL_FMT}$")
DNS1035_ERROR = regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                            "with an alphabetic character, and end with an alphanumeric character",
                            _DNS1035_LABEL_FMT, "my-name", "abc-123")


def is_dns1035_label(v: str) -> list[str]:
    """Service names: a DNS label that starts with a letter (it becomes a DNS name and an env var prefix)."""
    errs = [max_len_error(63)] if len(v) > 63 else []
    return errs if _DNS1035_LABEL.match(v) else [*errs, DNS1035_ERROR]


def is_dns1123_subdomain(v: str) -> list[str]:
    errs = [max_len_error(253)] if len(v) > 253 else []
    return errs if _DNS1123_SUBDOMAIN.match(v) else [*errs, SUBDOMAIN_ERROR]


def is_qualified_name(v: str) -> list[str]:
    parts = v.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _QUALIFIED_NAME_ERROR +
                " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in is_dns1123_subdomain(prefix)]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _QUALIFIED_NAME.match(name):
        errs.append("name part " + _QUALIFIED_NAME_ERROR)
    return errs


def is_label_value(v: str) -> list[str]:
    errs = [max_len_error(63)] if len(v) > 63 else []
    return errs if _LABEL_VALUE.match(v) else [*errs, LABEL_VALUE_ERROR]


def is_env_var_name(v: str) -> list[str]:
    return [] if _ENV_VAR.match(v) else [ENV_VAR_ERROR]


def is_config_key(v: str) -> list[str]:
    errs = [max_len_error(253)] if len(v) > 253 else []
    if not _CONFIG_KEY.match(v):
        errs.append(CONFIG_KEY_ERROR)
    if v == ".":
        errs.append("must not be '.'")
    elif v == "..":
        errs.append("must not be '..'")
    elif v.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_port_name(v: str) -> list[str]:
    """IANA_SVC_NAME (RFC 6335)."""
    errs = []
    if len(v) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARS.match(v):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in v:
        errs.append("must not contain consecutive hyphens")
    if not _PORT_NAME_LETTER.search(v):
        errs.append("must contain at least one letter (a-z)")
    if v.startswith("-") or v.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_port_num(v: Any) -> list[str]:
    return [] if is_int(v) and 1 <= v <= 65535 else [PORT_RANGE_ERROR]


def is_percent(v: str) -> list[str]:
    return [] if _PERCENT.match(v) else [PERCENT_ERROR]


def int_or_percent(field: str, v: Any) -> list[Cause]:
    """ValidatePositiveIntOrPercent and IsNotMoreThan100Percent."""
    if isinstance(v, str):
        causes = each(field, Shown(v), is_percent(v))
        if not causes and int(v[:-1]) > 100:
            causes.append(bad(field, Shown(v), "must not be greater than 100%"))
        return causes
    return nonnegative(field, v)


def is_ip(v: str) -> list[str]:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def is_cidr(v: str) -> list[str]:
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    return [] if "/" in v else ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]


def dns_label(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or not value:
        return [required(field)]
    return each(field, value, is_dns1123_label(value))


def dns_subdomain(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or not value:
        return [required(field)]
    return each(field, value, is_dns1123_subdomain(value))


def qualified_name(field: str, value: Any) -> list[Cause]:
    return each(field, value, is_qualified_name(value)) if isinstance(value, str) else [required(field)]


# ---------------------------------------------------------------------------- labels, selectors, metadata

ANNOTATIONS_MAX_BYTES = 256 * 1024
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def validate_labels(field: str, labels: Any) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(labels, dict):
        return causes
    for k, v in labels.items():
        causes += each(field, k, is_qualified_name(k))
        causes += each(field, v, is_label_value(v if isinstance(v, str) else str(v)))
    return causes


def validate_annotations(field: str, annotations: Any) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(annotations, dict):
        return causes
    total = 0
    for k, v in annotations.items():
        causes += each(field, k, is_qualified_name(k.lower()))
        total += len(k) + len(str(v))
    if total > ANNOTATIONS_MAX_BYTES:
        causes.append(too_long(field, ANNOTATIONS_MAX_BYTES))
    return causes


def validate_label_selector(field: str, selector: Any) -> list[Cause]:
    if not isinstance(selector, dict):
        return []
    causes = validate_labels(f"{field}.matchLabels", selector.get("matchLabels"))
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        ef = f"{field}.matchExpressions[{i}]"
        op, values = expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                causes.append(required(f"{ef}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                causes.append(forbidden(f"{ef}.values", "may not be specified when `operator` is 'Exists' or "
                                                        "'DoesNotExist'"))
        else:
            causes.append(bad(f"{ef}.operator", op, "not a valid selector operator"))
        causes += qualified_name(f"{ef}.key", expr.get("key"))
        for v in values:
            causes += each(f"{ef}.values", v, is_label_value(str(v)))
    return causes


def _validate_finalizers(field: str, finalizers: Any) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(finalizers, list):
        return causes
    for f in finalizers:
        if not isinstance(f, str):
            continue
        causes += each(field, f, is_qualified_name(f))
        if "/" not in f and f not in STANDARD_FINALIZERS:
            causes.append(bad(field, f, "name is neither a standard finalizer name nor is it fully qualified"))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        causes.append(bad(field, finalizers, "finalizer orphan and foregroundDeletion cannot be both set"))
    return causes


def _validate_owner_references(field: str, refs: Any) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(refs, list):
        return causes
    controllers: list[str] = []
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        api_version = str(ref.get("apiVersion") or "")
        if not api_version.rpartition("/")[2]:
            causes.append(bad(f"{field}.apiVersion", api_version, "version must not be empty"))
        if not ref.get("kind"):
            causes.append(bad(f"{field}.kind", ref.get("kind") or "", "kind must not be empty"))
        if not ref.get("name"):
            causes.append(bad(f"{field}.name", ref.get("name") or "", "name must not be empty"))
        if not ref.get("uid"):
            causes.append(bad(f"{field}.uid", ref.get("uid") or "", "uid must not be empty"))
        if ref.get("controller"):
            controllers.append(str(ref.get("name") or ""))
    if len(controllers) > 1:
        causes.append(bad(field, Shown(f"[{len(refs)} owner references]"),
                          "Only one reference can have Controller set to true. Found \"true\" in references for "
                          + " and ".join(controllers)))
    return causes


def validate_metadata(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    """ValidateObjectMeta: name (per kind), namespace scope, labels, annotations, finalizers, owners."""
    m = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(m, dict)
    causes: list[Cause] = []
    name, generate = m.get("name"), m.get("generateName")
    # StatefulSet names become pod hostnames, hence labels (ValidateStatefulSetName).
    name_check = {"Namespace": is_dns1123_label, "Service": is_dns1035_label,
                  "StatefulSet": is_dns1123_label}.get(rt.kind, is_dns1123_subdomain)
    if generate:
        causes += each("metadata.generateName", generate, name_check(str(generate).rstrip("-") or "x"))
    if not name:
        if not generate:
            causes.append(required("metadata.name", "name or generateName is required"))
    else:
        causes += each("metadata.name", name, name_check(str(name)))
    ns = m.get("namespace")
    if rt.namespaced:
        if not ns:
            causes.append(required("metadata.namespace"))
        else:
            causes += each("metadata.namespace", ns, is_dns1123_label(str(ns)))
    elif ns:
        causes.append(forbidden("metadata.namespace", "not allowed on this type"))
    causes += nonnegative("metadata.generation", m.get("generation"))
    causes += nonnegative("metadata.deletionGracePeriodSeconds", m.get("deletionGracePeriodSeconds"))
    causes += validate_labels("metadata.labels", m.get("labels"))
    causes += validate_annotations("metadata.annotations", m.get("annotations"))
    causes += _validate_owner_references("metadata.ownerReferences", m.get("ownerReferences"))
    causes += _validate_finalizers("metadata.finalizers", m.get("finalizers"))
    return causes


def validate_metadata_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidateObjectMetaUpdate: identity fields never change; generation never goes back."""
    nm, om = new.get("metadata") or {}, old.get("metadata") or {}
    causes: list[Cause] = []
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if om.get(key) and nm.get(key) != om.get(key):
            causes.append(immutable(f"metadata.{key}", nm.get(key)))
    ng, og = nm.get("generation"), om.get("generation")
    if is_int(ng) and is_int(og) and ng < og:
        causes.append(bad("metadata.generation", ng, "must not be decremented"))
    return causes


def selector_selects(selector: Any, labels: dict[str, Any]) -> bool:
    """Whether a workload's selector matches its template's labels: a nil selector selects nothing; an
    invalid one counts as matching, since the selector's own checks report it."""
    if not isinstance(selector, dict):
        return False
    try:
        return bool(selector_from_dict(selector).matches(labels))
    except Exception:
        return True
