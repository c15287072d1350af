"""Hostile-request generators for the API server fuzzers (`tests/unit/apiserver/test_fuzz.py` and
`bench/fuzz.py`), in one place so the in-process property test and the load benchmark throw the
same things at the server.

Objects start valid-looking: a per-kind seed that passes validation, overlaid with fields drawn
from the kind's field schema (`podfleet.api.schema.schema_for`, walking Struct/ListOf/MapOf/Scalar),
so requests get past decoding into defaulting, validation, patching and storage, where the bugs
are. Then they are mutated: wrong JSON types at any schema position, numbers JSON allows but Go does
not (1e400, 2**64, NaN literals), huge or malformed quantities, 1,000-level nesting, odd names and
keys. Requests cover every verb, patch type, content type, Content-Encoding and list/watch/delete
query parameter.

A request's path and headers may hold two placeholders, filled in when it is sent: `{NS}` (the
namespace the harness currently fuzzes in, which a fuzzed DELETE may take away) and `{TOKEN}` (the
admin bearer token).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import yaml
from hypothesis import strategies as st

from podfleet.api.resources import RESOURCES, ResourceType
from podfleet.api.schema import schema_for
from podfleet.api.schema_dsl import ListOf, MapOf, Node, Scalar, Struct

NS = "{NS}"
TOKEN = "{TOKEN}"
SEED_NAME = "fuzz-seed"
MAX_DEPTH = 4  # how deep valid-looking objects go below the top level
NEST = 1000  # levels of nesting for the deep-nesting mutation

_TEMPLATE = {"metadata": {"labels": {"app": "fz"}},
             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
# Minimal bodies (besides metadata) that pass validation, per kind.
SEEDS: dict[str, dict[str, Any]] = {
    "Namespace": {},
    "Pod": {"spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}},
    "Node": {"status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}},
    "Event": {"involvedObject": {"kind": "Pod", "name": "x"}, "reason": "R",
              "message": "m"},
    "Secret": {"data": {"k": "dmFs"}},
    "ConfigMap": {"data": {"k": "v"}},
    "ServiceAccount": {},
    "Lease": {"spec": {"holderIdentity": "a", "leaseDurationSeconds": 10}},
    "ReplicaSet": {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "fz"}}, "template": _TEMPLATE}},
    "Deployment": {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "fz"}}, "template": _TEMPLATE}},
    "DaemonSet": {"spec": {"selector": {"matchLabels": {"app": "fz"}}, "template": _TEMPLATE}},
    "StatefulSet": {"spec": {"replicas": 1, "serviceName": "fz", "selector": {"matchLabels": {"app": "fz"}},
                             "template": _TEMPLATE}},
    "ControllerRevision": {"data": {"a": 1}, "revision": 1},
    "Service": {"spec": {"selector": {"app": "fz"}, "ports": [{"port": 80, "protocol": "TCP"}]}},
    "Endpoints": {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}]},
    "EndpointSlice": {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}],
                      "ports": [{"port": 80, "protocol": "TCP"}]},
    "ReplicationController": {"spec": {"replicas": 1, "selector": {"app": "fz"}, "template": _TEMPLATE}},
    "Job": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}}},
    "CronJob": {"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}},
    "PodDisruptionBudget": {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "fz"}}}},
    "PriorityClass": {"value": 1000, "description": "fuzz"},
    "Role": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
    "ClusterRole": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
    "RoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fz"},
                    "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "fz"}]},
    "ClusterRoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "fz"},
                           "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "fz"}]},
}


def seed_object(rt: ResourceType, name: str = SEED_NAME, namespace: str = "") -> dict[str, Any]:
    """A fresh valid object of `rt` (JSON-able; a new copy every call); `namespace` is where it
    will be created (an Event's involvedObject must be in the Event's namespace)."""
    if rt.kind not in SEEDS:
        raise AssertionError(f"no seed for {rt.kind}: add a minimal valid body to fuzz_helpers.SEEDS")
    obj: dict[str, Any] = json.loads(json.dumps(SEEDS[rt.kind]))
    if rt.kind == "Event" and namespace:
        obj["involvedObject"]["namespace"] = namespace
    return {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": {"name": name, "labels": {"fuzz": "1"}},
            **obj}


# ----------------------------------------------------------------------------- raw JSON text


@dataclass(frozen=True)
class Raw:
    """JSON text put into a document verbatim: what `json.dumps` cannot write (1e400, a 1,000-deep
    document) and what it writes only as a Python extension (NaN, Infinity)."""

    text: str


def dumps(doc: Any) -> str:
    """JSON text of `doc`, with every `Raw` inside written as its text."""
    nonce = secrets.token_hex(8)
    raws: list[str] = []

    def sub(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"@@{nonce}:{len(raws) - 1}@@"
        if isinstance(v, dict):
            return {str(sub(k)) if isinstance(k, Raw) else k: sub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x) for x in v]
        return v

    text = json.dumps(sub(doc), separators=(",", ":"), allow_nan=True)
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@{nonce}:{i}@@"', raw)
    return text


def plain(doc: Any) -> Any:
    """`doc` with each `Raw` replaced by its text as a string (for YAML, which has no raw insert)."""
    if isinstance(doc, Raw):
        return doc.text if len(doc.text) < 200 else doc.text[:200]
    if isinstance(doc, dict):
        return {k: plain(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [plain(v) for v in doc]
    return doc


# ----------------------------------------------------------------------------- hostile leaves

HUGE_NUMBERS = [Raw("1e400"), Raw("-1e400"), Raw(str(2**64)), Raw(str(-(2**63) - 1)), Raw(str(2**63)),
                Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e-400"), Raw("-0"), Raw("1.0e308"),
                Raw("9" * 5000), Raw("0." + "0" * 5000 + "1"), Raw("123456789012345678901234567890.5")]
BAD_QUANTITIES = ["1e10000000", "1e9999999999", "9" * 5000, "1E", "1Ei", ".", "+", "-", "1.5.5", "0x10",
                  " 1", "1 Ki", "1e-10000000", "123456789012345678901234567890Ei", "1e308Ei", "-1e400",
                  "NaN", "Inf", "1Ki1", "1m1", "0.0000000000000000000000001", "1e3m", "99999999999999999999E"]
ODD_STRINGS = ["", " ", "..", ".", "/", "a/b", "%2F", "\x00", "\r\nX-Injected: 1", "\n", "\"", "\\",
               "ü" * 150, "a" * 300, "日本語", "\U0001F600", "\ud800", "-", "A_B", "${x}", "*", "?", "#",
               "2024-13-45T99:99:99Z", "9999-99-99T99:99:99Z", "0000-00-00T00:00:00Z", "null", "true"]
WRONG_TYPES: list[Any] = ["str", 12, -1, 0, True, False, None, [], {}, [1, "a", None], {"a": 1}, 1.5,
                          [[[]]], {"": {}}]


def deep_nesting(levels: int = NEST, kind: str = "object") -> Raw:
    """A `levels`-deep JSON document (objects or arrays), written as text."""
    if kind == "array":
        return Raw("[" * levels + "1" + "]" * levels)
    return Raw('{"a":' * levels + "1" + "}" * levels)


hostile_values: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(WRONG_TYPES),
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from(BAD_QUANTITIES),
    st.sampled_from(ODD_STRINGS),
    st.sampled_from([deep_nesting(), deep_nesting(kind="array"), deep_nesting(60)]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
hostile_keys = st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=12),
                         st.sampled_from(["$patch", "$retainKeys", "$setElementOrder/containers",
                                          "$deleteFromPrimitiveList/finalizers", "metadata", "kind"]))

# ----------------------------------------------------------------------------- schema-derived objects

_LABEL = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")
_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "string": st.one_of(_LABEL, st.text(max_size=12)),
    "int32": st.one_of(st.integers(-5, 100), st.sampled_from([2**31 - 1, -(2**31)])),
    "int64": st.one_of(st.integers(-5, 100), st.sampled_from([2**63 - 1, -(2**63)])),
    "bool": st.booleans(),
    "float64": st.floats(allow_nan=False, allow_infinity=False, width=32),
}
_SPECIAL: dict[str, st.SearchStrategy[Any]] = {
    "quantity": st.sampled_from(["100m", "1", "1Gi", "0.5", "250Mi", "1e3", "2k", 3, 0.25]),
    "intstr": st.one_of(st.integers(0, 10), st.sampled_from(["25%", "1", "http"])),
    "time": st.sampled_from(["2024-01-01T00:00:00Z", "2030-06-30T12:34:56.123456+02:00"]),
    "bytes": st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode()),
    "raw": st.dictionaries(_LABEL, st.integers(0, 3) | _LABEL, max_size=2),
}
_cache: dict[tuple[int, int], st.SearchStrategy[Any]] = {}


def from_schema(node: Node, depth: int = MAX_DEPTH) -> st.SearchStrategy[Any]:
    """Valid-looking values for a schema node: right JSON types, plausible scalars, small
    collections, at most `depth` levels of structure below (deeper structs come out empty)."""
    key = (id(node), depth)
    if key in _cache:
        return _cache[key]
    strat: st.SearchStrategy[Any]
    if isinstance(node, Scalar):
        strat = _SPECIAL[node.kind] if node.kind else _SCALARS.get(node.go, st.none())
    elif isinstance(node, ListOf):
        strat = st.just([]) if depth <= 0 else st.lists(from_schema(node.item, depth - 1), max_size=2)
    elif isinstance(node, MapOf):
        strat = st.just({}) if depth <= 0 else st.dictionaries(_LABEL, from_schema(node.value, depth - 1),
                                                               max_size=2)
    else:
        skip = {"apiVersion", "kind"}
        fields = {k: from_schema(v, depth - 1) for k, v in node.fields.items() if k not in skip}
        strat = st.just({}) if depth <= 0 else st.fixed_dictionaries({}, optional=fields)
    _cache[key] = strat
    return strat


def _overlay(base: Any, top: Any) -> Any:
    """`top` merged over `base` (objects merged key by key, anything else replaced)."""
    if isinstance(base, dict) and isinstance(top, dict):
        out = dict(base)
        for k, v in top.items():
            out[k] = _overlay(base.get(k), v) if k in base else v
        return out
    return top


def valid_looking(rt: ResourceType) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-drawn fields with the kind's seed on top (so required fields stay valid)."""
    seed = seed_object(rt)
    return from_schema(schema_for(rt), MAX_DEPTH).map(
        lambda drawn: _overlay(_overlay({}, drawn), json.loads(json.dumps(seed))))


def _positions(doc: Any, node: Node | None, out: list[tuple[Any, Any]]) -> None:
    """Every place a value can be put into `doc`: existing keys and indices, plus absent struct
    fields of the schema (so every field can get a wrong type, not only the ones drawn)."""
    if isinstance(doc, dict):
        fields = node.fields if isinstance(node, Struct) else {}
        for k in fields:
            if k not in doc:
                out.append((doc, k))
        for k, v in doc.items():
            out.append((doc, k))
            child = fields.get(k) if isinstance(node, Struct) else node.value if isinstance(node, MapOf) else None
            _positions(v, child, out)
    elif isinstance(doc, list):
        item = node.item if isinstance(node, ListOf) else None
        for i, v in enumerate(doc):
            out.append((doc, i))
            _positions(v, item, out)


@st.composite
def hostile_object(draw: st.DrawFn, rt: ResourceType) -> dict[str, Any]:
    """A valid-looking object of `rt` with 0-3 mutations: a hostile value at any schema position,
    or a hostile new key in any object."""
    # Private copies: strategies hand out shared values (st.just({}), sampled []/{}) and mutating
    # them would change later draws (Hypothesis then reports a flaky strategy).
    obj = copy.deepcopy(draw(valid_looking(rt)))
    for _ in range(draw(st.integers(0, 3))):
        places: list[tuple[Any, Any]] = [(obj, "metadata")]
        _positions(obj, schema_for(rt), places)
        container, key = draw(st.sampled_from(places))
        if isinstance(container, dict) and draw(st.booleans()) and isinstance(container.get(key), dict):
            container[key][draw(hostile_keys)] = copy.deepcopy(draw(hostile_values))
        else:
            container[key] = copy.deepcopy(draw(hostile_values))
    if draw(st.integers(0, 9)) == 9:
        obj["metadata"] = dict(obj["metadata"] if isinstance(obj.get("metadata"), dict) else {},
                               name=draw(st.sampled_from(ODD_STRINGS)))
    return obj


# ----------------------------------------------------------------------------- bodies

YAML_SPECIALS = [
    b"metadata: {name: y, creationTimestamp: 2020-01-01}\n",  # a date, not a string
    b"metadata: {name: y, labels: {1: 2, true: null}}\n",  # non-string keys
    b"metadata: &a {name: y, labels: *a}\n",  # an alias to its own parent: a cycle
    b"a: &a [*a]\nmetadata: {name: y}\n",
    b"metadata: {name: y}\ndata: !!binary aGVsbG8=\n",
    b"metadata: {name: y}\nspec: !!set {a, b}\n",
    b"metadata: {name: y, labels: {a: .nan, b: .inf}}\nspec: {replicas: .inf}\n",
    b"metadata: {name: y}\nspec: {replicas: 0x7fffffffffffffffffff}\n",
    b"? [1, 2]\n: x\n",
    b"!!python/object/apply:os.system ['true']\n",
    b"--- {a: 1}\n--- {b: 2}\n",
    b"metadata: {name: y}\nx: " + b"[" * NEST + b"]" * NEST + b"\n",
    b"metadata: {name: y}\nx: " + b"{a: " * 200 + b"1" + b"}" * 200 + b"\n",
    # a small "billion laughs": 10^5 leaves from a few hundred bytes
    b"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nmetadata: {name: y}\n",
    b"\t\x00garbage: [\n",
    b"",
]
RAW_BODIES = [
    b"", b"null", b"[]", b"1e400", b'"str"', b"{", b"}", b"\xff\xfe{\x00}\x00", b"\xef\xbb\xbf{}", b"NaN",
    b'{"metadata":null}', b'{"metadata":[]}', b'{"metadata":{"name":null}}', b'{"kind":5,"apiVersion":[]}',
    b'{"a":1,"a":2}', b"\x00" * 64, b'{"metadata":{"name":"x"}}' + b" " * 100 + b"trailing",
    (deep_nesting().text).encode(), (deep_nesting(kind="array").text).encode(),
    b'{"metadata":{"name":"big","annotations":{"a":"' + b"x" * (3 * 1024 * 1024) + b'"}}}',  # over 3 MiB: 413
]
PROTOBUF_GARBAGE = [b"k8s\x00", b"k8s\x00\n\x02v1\x12\x03Pod\x1a\xff\xff\xff\xff\x0f", b"k8s\x00" + b"\xff" * 40,
                    b"\x0a\x80\x80\x80\x80\x10", b"k8s\x00\x12" + b"\x80" * 11]
CONTENT_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "text/plain",
                 "application/x-unknown", "", "application/json; charset=utf-16", "multipart/form-data; boundary=x",
                 "application/json;;;", "text/yaml", "application/octet-stream", "*/*", "application/json; x=\"",
                 "application/merge-patch+json"]
PATCH_TYPES = ["application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json", "application/apply-patch+yaml"]
ACCEPTS = ["application/json", "application/yaml", "application/json;as=Table;v=v1;g=meta.k8s.io",
           "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", "application/vnd.kubernetes.protobuf",
           "*/*", "text/html", "application/json;as=;g=", ";;;,,,", ""]


def _compress(body: bytes, how: str) -> bytes:
    if how == "gzip-valid":
        return gzip.compress(body)
    if how == "deflate-valid":
        return zlib.compress(body)
    return body


CONTENT_ENCODINGS: list[tuple[str | None, str]] = [  # (header, how the body is treated)
    (None, "plain"), ("gzip", "gzip-valid"), ("deflate", "deflate-valid"), ("gzip", "plain"), ("deflate", "plain"),
    ("br", "plain"), ("zstd", "plain"), ("x-garbage", "plain"), ("identity", "plain"), ("gzip, gzip", "gzip-valid"),
    ("gzip", "truncated"),
]


@st.composite
def body_for(draw: st.DrawFn, rt: ResourceType, ctype: str) -> bytes:
    """A body of content type `ctype` holding a hostile object of `rt`, or raw garbage."""
    choice = draw(st.integers(0, 9))
    if choice == 9:
        return draw(st.sampled_from(RAW_BODIES))
    if choice == 8:
        return draw(st.binary(max_size=64))
    base = ctype.split(";")[0].strip()
    if base == "application/vnd.kubernetes.protobuf":
        return draw(st.sampled_from(PROTOBUF_GARBAGE)) + draw(st.binary(max_size=32))
    obj = draw(hostile_object(rt))
    if base in ("application/yaml", "text/yaml", "application/apply-patch+yaml"):
        if draw(st.integers(0, 2)) == 0:
            return draw(st.sampled_from(YAML_SPECIALS))
        try:
            return yaml.safe_dump(plain(obj), allow_unicode=True).encode("utf-8", "surrogatepass")
        except yaml.YAMLError:
            return dumps(obj).encode("utf-8", "surrogatepass")
    return dumps(obj).encode("utf-8", "surrogatepass")


_JSON_PATCH_PATHS = ["/metadata/labels/a", "/metadata/labels", "/metadata", "/spec", "/spec/containers/0/image",
                     "/spec/containers/-", "/spec/containers/99999999999999999999", "/spec/containers/-1",
                     "/spec/containers/01", "/metadata/name", "", "/", "/~2", "/~", "no-slash", "/a/b/c/d",
                     "/metadata/labels/a~1b", "/data/k", "/spec/replicas", "/status", "/metadata/finalizers/-",
                     "/spec/template/spec/containers/0/resources/limits/cpu", "/kind", "/apiVersion"]


@st.composite
def json_patch_ops(draw: st.DrawFn) -> list[Any]:
    ops: list[Any] = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 7)) == 7:
            ops.append(draw(st.sampled_from([1, "x", [], {}, None, {"op": "add"}, {"path": "/a"}])))
            continue
        op: dict[str, Any] = {
            "op": draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus", 5, None])),
            "path": draw(st.one_of(st.sampled_from(_JSON_PATCH_PATHS), st.sampled_from([5, None, []]))),
        }
        if draw(st.booleans()):
            op["value"] = draw(st.one_of(hostile_values, from_schema(Scalar("string"))))
        if op["op"] in ("move", "copy") or draw(st.integers(0, 5)) == 0:
            op["from"] = draw(st.sampled_from(_JSON_PATCH_PATHS))
        ops.append(op)
    return ops


STRATEGIC_DIRECTIVES: list[Any] = [
    {"$patch": "delete"}, {"$patch": "replace"}, {"$patch": "garbage"}, {"$patch": 5},
    {"spec": {"containers": [{"name": "c", "$patch": "delete"}]}},
    {"spec": {"containers": [{"$patch": "delete"}]}},
    {"spec": {"$setElementOrder/containers": [{"name": "zz"}, 5, None]}},
    {"spec": {"$setElementOrder/containers": "x"}},
    {"spec": {"$retainKeys": 5}}, {"spec": {"$retainKeys": ["nope"]}},
    {"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}},
    {"metadata": {"$deleteFromPrimitiveList/finalizers": [{"a": 1}]}},
    {"spec": {"containers": {"$patch": "replace"}}},
    {"spec": {"containers": [{"name": {"a": 1}}, {"name": None}, 5]}},
    {"spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": Raw("1e400")}]}]}}}},
    {"metadata": {"labels": {"a": Raw("NaN")}}}, {"metadata": {"annotations": {"a": Raw("Infinity")}}},
    {"spec": {"replicas": Raw("1e400")}}, {"spec": {"replicas": Raw("NaN")}}, {"spec": {"replicas": 2**64}},
    {"data": {"k": Raw("-Infinity")}}, {"metadata": None}, {"metadata": {"name": None}}, {"spec": None},
    {"metadata": {"resourceVersion": "abc"}}, {"metadata": {"resourceVersion": Raw("1e400")}},
    {"metadata": {"finalizers": ["example.com/x"]}}, {"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}},
]


@st.composite
def patch_body(draw: st.DrawFn, rt: ResourceType, ptype: str) -> bytes:
    if draw(st.integers(0, 9)) == 9:
        return draw(st.sampled_from(RAW_BODIES))
    if ptype == "application/json-patch+json":
        return dumps(draw(json_patch_ops())).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 2)) == 0:
        doc = draw(st.sampled_from(STRATEGIC_DIRECTIVES))
        if ptype == "application/apply-patch+yaml" and draw(st.booleans()):
            return yaml.safe_dump(plain(doc)).encode()
        return dumps(doc).encode()
    return draw(body_for(rt, ptype))


# ----------------------------------------------------------------------------- paths and queries

ODD_NAMES = ["", "a" * 300, "ü", "..", ".", "/", "%", "a b", "default", "kube-system", "x" * 64, "-x", "A", "a.b",
             "\U0001F600", "\x00", "%2F", "%00"]
ODD_NAMESPACES = ["nope", "", "..", "ü", "a" * 300, "kube-system", "%2F"]

def _mostly(draw: st.DrawFn, common: list[Any], rare: list[Any], tenths: int = 8) -> Any:
    """One of `common` `tenths`/10 of the time, else one of `rare` (the odd cases stay a minority,
    so most requests get past content negotiation into the code behind it)."""
    return draw(st.sampled_from(common if draw(st.integers(0, 9)) < tenths else rare))


@st.composite
def names(draw: st.DrawFn) -> str:
    """Mostly the seed object (so writes reach an existing object), sometimes new or odd names."""
    pick = draw(st.integers(0, 9))
    if pick <= 6:
        return SEED_NAME
    return draw(_LABEL) if pick == 7 else draw(st.sampled_from(ODD_NAMES))


@st.composite
def namespaces(draw: st.DrawFn) -> str:
    """Mostly the harness's namespace, sometimes a missing or odd one."""
    return NS if draw(st.integers(0, 9)) <= 8 else draw(st.sampled_from(ODD_NAMESPACES))


LIST_PARAM_VALUES = ["", "0", "-1", "1", "2", "10", str(2**64), str(2**63), "1e400", "abc", "NaN", "\x00",
                     "99999999999999999999999", "true", "All", "Strict"]
LABEL_SELECTORS = ["", "a", "!a", "a=b", "a==b", "a!=b", "a in (b,c)", "a notin (b)", "a,,b", "=", "!", "a=b=c",
                   "(", "a in (", "a in b", "fuzz=1", "a" * 300 + "=b", "a=" + "b" * 300, "a/b/c=d", "a in ()",
                   "ü=ü", "a>1", "a=\x00", ",", "a in (b,,c)", "x=" + "(" * 100]
FIELD_SELECTORS = ["", "metadata.name=x", "metadata.name!=x", "metadata.name==x", "spec.nodeName=", "spec.nodeName!=",
                   "status.phase=Running", "metadata.namespace=default", "nope=1", "=", "!", "metadata.name",
                   "metadata.name=x,", ",", "metadata.name in (a)", "metadata.name=a=b", "spec.unschedulable=true",
                   "involvedObject.name=x", "type=Normal", "ü=1", "\x00=1", "metadata.name=" + "a" * 300]
RESOURCE_VERSIONS = ["", "0", "1", "-1", "abc", "99999999999999999999999", str(2**63), "1e400", "NaN", " 1", "0x10"]


def _continue_token(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


CONTINUE_TOKENS = ["", "!!!", "====", "abc", _continue_token("[]"), _continue_token("null"),
                   _continue_token('{"rv":1e400,"start":"x"}'), _continue_token('{"rv":NaN,"start":"x"}'),
                   _continue_token(f'{{"rv":{2**64},"start":"x"}}'), _continue_token('{"rv":-1,"start":""}'),
                   _continue_token('{"rv":1,"start":null}'), _continue_token('{"rv":1,"start":{"a":1}}'),
                   _continue_token('{"rv":"1","start":"/registry/"}'), _continue_token('{"rv":1.5,"start":"x"}'),
                   _continue_token('{"rv":true,"start":"x"}'), _continue_token('{"rv":Infinity,"start":"x"}'),
                   _continue_token('{"rv":' + "9" * 5000 + ',"start":"x"}')]
QUERY_PARAMS: dict[str, st.SearchStrategy[str]] = {
    "limit": st.sampled_from(LIST_PARAM_VALUES),
    "continue": st.sampled_from(CONTINUE_TOKENS),
    "resourceVersion": st.sampled_from(RESOURCE_VERSIONS),
    "resourceVersionMatch": st.sampled_from(["", "NotOlderThan", "Exact", "bogus"]),
    "labelSelector": st.sampled_from(LABEL_SELECTORS),
    "fieldSelector": st.sampled_from(FIELD_SELECTORS),
    "timeoutSeconds": st.sampled_from(["1", "0", "-1", "abc", "1e400", str(2**64), "99999999999", ""]),
    "fieldValidation": st.sampled_from(["Strict", "Warn", "Ignore", "", "bogus", "strict"]),
    "dryRun": st.sampled_from(["All", "", "bogus", "All,All"]),
    "propagationPolicy": st.sampled_from(["Background", "Foreground", "Orphan", "", "bogus"]),
    "gracePeriodSeconds": st.sampled_from(LIST_PARAM_VALUES),
    "orphanDependents": st.sampled_from(["true", "false", "bogus"]),
    "allowWatchBookmarks": st.sampled_from(["true", "false", "1"]),
    "sendInitialEvents": st.sampled_from(["true", "false"]),
    "includeObject": st.sampled_from(["None", "Metadata", "Object", "bogus"]),
    "pretty": st.sampled_from(["true", "1"]),
    "watch": st.sampled_from(["1", "true", "false", "0"]),
    "container": st.sampled_from(["c", "", "nope"]),
    "tailLines": st.sampled_from(LIST_PARAM_VALUES),
    "sinceSeconds": st.sampled_from(LIST_PARAM_VALUES),
    "limitBytes": st.sampled_from(LIST_PARAM_VALUES),
}


def _segment(s: str) -> str:
    return s if s == NS else quote(s, safe="")


def resource_path(rt: ResourceType, namespace: str | None, name: str = "", sub: str = "") -> str:
    """`/api/v1/namespaces/{NS}/pods/<name>/<sub>`, each segment percent-encoded ('..' stays '..')."""
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    if rt.namespaced and namespace is not None:
        base += f"/namespaces/{_segment(namespace)}"
    path = f"{base}/{rt.plural}"
    if name or sub:
        path += f"/{_segment(name)}"
    if sub:
        path += f"/{_segment(sub)}"
    return path


@dataclass(frozen=True)
class HostileRequest:
    """One request to send as is: `path` is already encoded (query included)."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    kind: str = ""
    verb: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def is_watch(self) -> bool:
        """A GET the server answers with a stream (`?watch=1`, or a legacy `/watch/` path)."""
        if self.method != "GET":
            return False
        query = parse_qs(self.path.partition("?")[2])
        return "/watch/" in self.path or any(v.lower() in ("1", "true") for v in query.get("watch", []))

    def resolved(self, namespace: str, token: str) -> tuple[str, dict[str, str]]:
        """The path and headers with the `{NS}` and `{TOKEN}` placeholders filled in."""
        headers = {k: v.replace(TOKEN, token) for k, v in self.headers}
        return self.path.replace(NS, quote(namespace, safe="")), headers

    def describe(self, limit: int = 300) -> str:
        """A reproducer: method, path, headers (token elided) and the body, truncated to `limit` bytes."""
        hdrs = ", ".join(f"{k}: {v}" for k, v in self.headers if k != "Authorization")
        body = self.body[:limit]
        more = f"... ({len(self.body)} bytes)" if len(self.body) > limit else ""
        return f"{self.method} {self.path}\n  headers: {hdrs or '-'}\n  body: {body!r}{more}"


@st.composite
def query(draw: st.DrawFn, names: list[str]) -> str:
    params = {k: draw(QUERY_PARAMS[k]) for k in names if draw(st.integers(0, 2)) == 0}
    return ("?" + urlencode(params, quote_via=quote)) if params else ""


_AUTH = st.sampled_from([f"Bearer {TOKEN}"] * 60 + ["", "Bearer nope", "Basic Zm9vOmJhcg=="])
VERBS = ["create", "create", "update", "patch", "patch", "patch", "delete", "deletecollection", "get", "list",
         "list", "watch", "subresource"]


@st.composite
def hostile_request(draw: st.DrawFn, rt: ResourceType) -> HostileRequest:
    """One hostile request against `rt`: any verb, content type, encoding, name and query."""
    verb = draw(st.sampled_from(VERBS))
    ns: str | None = draw(namespaces()) if rt.namespaced else None
    if rt.namespaced and draw(st.integers(0, 9)) == 9 and verb in ("list", "watch", "deletecollection"):
        ns = None  # all namespaces
    name = draw(names())
    headers: dict[str, str] = {}
    auth = draw(_AUTH)
    if auth:
        headers["Authorization"] = auth
    accept = _mostly(draw, ACCEPTS[:1], ACCEPTS[1:], 5)
    if accept:
        headers["Accept"] = accept
    body = b""
    method = "GET"
    sub = ""
    if verb == "subresource":
        sub = draw(st.sampled_from([*rt.subresources, "bogus"] if rt.subresources else ["bogus", "status"]))
        verb = draw(st.sampled_from(["get", "update", "patch", "create"]))
    if verb in ("create", "update"):
        method = "POST" if verb == "create" else "PUT"
        ctype = _mostly(draw, ["application/json", "application/json", "application/yaml"], CONTENT_TYPES)
        if sub and draw(st.booleans()):
            body = draw(subresource_body(sub))
        else:
            body = draw(body_for(rt, ctype))
        if ctype:
            headers["Content-Type"] = ctype
        q = draw(query(["fieldValidation", "dryRun", "pretty"]))
        if verb == "create" and not sub and draw(st.integers(0, 9)) <= 8:
            name = ""  # POST to the collection (to an item it is a 405)
    elif verb == "patch":
        method = "PATCH"
        ctype = _mostly(draw, PATCH_TYPES, ["application/json", "application/x-unknown", "", "application/yaml"], 9)
        body = draw(subresource_body(sub)) if sub and draw(st.booleans()) else draw(patch_body(rt, ctype))
        if ctype:
            headers["Content-Type"] = ctype
        q = draw(query(["fieldValidation", "dryRun"]))
    elif verb in ("delete", "deletecollection"):
        method = "DELETE"
        if draw(st.booleans()):
            opts = draw(st.fixed_dictionaries({}, optional={
                "gracePeriodSeconds": st.one_of(st.integers(-5, 60), hostile_values),
                "propagationPolicy": st.one_of(st.sampled_from(["Background", "Foreground", "Orphan"]), hostile_values),
                "orphanDependents": st.one_of(st.booleans(), hostile_values),
                "preconditions": st.one_of(st.fixed_dictionaries({}, optional={
                    "uid": st.one_of(_LABEL, hostile_values), "resourceVersion": st.one_of(_LABEL, hostile_values)}),
                    hostile_values),
                "dryRun": st.one_of(st.just(["All"]), hostile_values),
                "kind": st.just("DeleteOptions"), "apiVersion": st.just("v1"),
            }))
            ctype = draw(st.sampled_from(["application/json", "application/yaml", "", "application/x-unknown"]))
            body = (yaml.safe_dump(plain(opts)).encode() if ctype == "application/yaml"
                    else dumps(opts).encode("utf-8", "surrogatepass"))
            if ctype:
                headers["Content-Type"] = ctype
        elif draw(st.integers(0, 4)) == 4:
            body = draw(st.sampled_from(RAW_BODIES[:18]))
            headers["Content-Type"] = "application/json"
        q = draw(query(["gracePeriodSeconds", "propagationPolicy", "orphanDependents", "dryRun", "labelSelector",
                        "fieldSelector", "limit"]))
        if verb == "deletecollection":
            name = ""
    elif verb in ("get", "list", "watch"):
        if verb == "watch":
            q = draw(query(["resourceVersion", "labelSelector", "fieldSelector", "allowWatchBookmarks",
                            "sendInitialEvents", "limit", "continue"]))
            q = (q + "&" if q else "?") + "watch=1&timeoutSeconds=" + draw(QUERY_PARAMS["timeoutSeconds"])
        elif verb == "list":
            q = draw(query(["limit", "continue", "resourceVersion", "resourceVersionMatch", "labelSelector",
                            "fieldSelector", "includeObject", "timeoutSeconds", "watch"]))
        else:
            q = draw(query(["resourceVersion", "includeObject", "pretty", "container", "tailLines", "sinceSeconds",
                            "limitBytes"]))
        if verb in ("list", "watch"):
            name = ""
    else:  # pragma: no cover - VERBS is closed
        raise AssertionError(verb)
    if sub and not name:
        name = SEED_NAME
    if body and method != "GET":
        header, how = _mostly(draw, CONTENT_ENCODINGS[:1], CONTENT_ENCODINGS[1:], 7)
        if header is not None:
            headers["Content-Encoding"] = header
            body = _compress(body, how) if how != "truncated" else gzip.compress(body)[: max(1, len(body) // 3)]
    elif method == "GET" and draw(st.integers(0, 19)) == 19:
        body = b'{"garbage":'  # a body on a GET
        headers["Content-Type"] = "application/json"
    path = resource_path(rt, ns, name, sub) + q
    if draw(st.integers(0, 24)) == 24:  # odd methods, without a body (a CONNECT body is the tunnel)
        method, body = draw(st.sampled_from(["OPTIONS", "HEAD", "TRACE", "PROPFIND", "CONNECT"])), b""
    return HostileRequest(method, path, tuple(headers.items()), body, rt.kind, verb)


@st.composite
def subresource_body(draw: st.DrawFn, sub: str) -> bytes:
    """Bodies shaped like what a subresource takes (Binding, Eviction, Scale, status), with hostile
    values in their fields: these bodies are decoded by their own code, not the kind's schema."""
    anything = st.one_of(hostile_values, _LABEL, st.dictionaries(_LABEL, hostile_values, max_size=2))
    if sub == "binding":
        doc: Any = {"apiVersion": "v1", "kind": "Binding", "metadata": draw(st.one_of(
            st.just({"name": SEED_NAME}), hostile_values)),
            "target": draw(st.one_of(st.fixed_dictionaries({"kind": st.one_of(st.just("Node"), anything),
                                                           "name": st.one_of(_LABEL, anything)}), anything))}
    elif sub == "eviction":
        doc = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": SEED_NAME},
               "deleteOptions": draw(st.one_of(st.fixed_dictionaries({}, optional={
                   "gracePeriodSeconds": anything, "preconditions": anything, "dryRun": anything,
                   "propagationPolicy": anything}), anything))}
    elif sub == "scale":
        doc = {"apiVersion": "autoscaling/v1", "kind": "Scale",
               "metadata": draw(st.one_of(st.just({"name": SEED_NAME}), anything)),
               "spec": draw(st.one_of(st.fixed_dictionaries({"replicas": st.one_of(st.integers(0, 5), anything)}),
                                      anything))}
    else:
        doc = {"metadata": {"name": SEED_NAME}, "status": draw(anything), "spec": draw(anything)}
    return dumps(doc).encode("utf-8", "surrogatepass")


RAW_PATHS = ["/", "/api", "/api/v2", "/apis", "/apis/apps", "/apis/apps/v1", "/apis/nope/v1/x", "/openapi/v2",
             "/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/nope", "/version", "/healthz/x", "/api/v1/namespaces/"
             + NS + "/pods/" + SEED_NAME + "/log?follow=true&timeoutSeconds=1", "/api/v1/watch/pods?timeoutSeconds=1",
             "/api/v1/namespaces/" + NS + "/pods/a/b/c/d", "/%2e%2e/%2e%2e/etc/passwd", "/api/v1/namespaces//pods",
             "/api/v1/nodes/" + "a" * 5000, "/api/v1/namespaces/" + NS + "/pods/" + SEED_NAME + "/exec",
             "/apis/apps/v1/namespaces/" + NS + "/deployments/" + SEED_NAME + "/scale",
             "/api/v1/namespaces/" + NS + "/pods?watch=1&timeoutSeconds=1&resourceVersion=1"]


@st.composite
def raw_path_request(draw: st.DrawFn) -> HostileRequest:
    """Requests outside the resource tree: discovery, OpenAPI, odd paths and methods."""
    method = draw(st.sampled_from(["GET", "GET", "POST", "PUT", "DELETE", "PATCH"]))
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": draw(st.sampled_from(ACCEPTS)) or "*/*"}
    body = b""
    if method != "GET":
        body = draw(st.sampled_from(RAW_BODIES[:18]))
        headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES + PATCH_TYPES)) or "application/json"
    return HostileRequest(method, draw(st.sampled_from(RAW_PATHS)), tuple(headers.items()), body, "", "raw")


def any_request() -> st.SearchStrategy[HostileRequest]:
    """Hostile requests against every served kind, plus the non-resource paths."""
    return st.one_of(*(hostile_request(rt) for rt in RESOURCES), raw_path_request())


# ----------------------------------------------------------------------------- response checks


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON number {name}")


def strict_json(body: bytes) -> Any:
    """Parse `body` as standard JSON (NaN and Infinity are errors, as they are in Go's decoder)."""
    return json.loads(body, parse_constant=_reject_constant)


def kubernetes_timeout(status: int, body: bytes) -> bool:
    """A 504 that is Kubernetes' own answer, not a server failure: the "Too large resource version"
    Status (reason Timeout, cause ResourceVersionTooLarge) kube-apiserver gives a list asking for a
    resourceVersion its storage has not reached. podfleet gives it at once for a resourceVersion no
    int64 revision can reach (kube-apiserver would wait 3 s first)."""
    if status != 504:
        return False
    try:
        doc = strict_json(body)
    except (ValueError, UnicodeDecodeError):
        return False
    causes = ((doc.get("details") or {}).get("causes") or []) if isinstance(doc, dict) else []
    return (doc.get("kind") == "Status" and doc.get("reason") == "Timeout"
            and any(c.get("reason") == "ResourceVersionTooLarge" for c in causes if isinstance(c, dict)))


# What Python's exceptions say (their class names and the wording of the builtins' messages), which
# must never reach a client: Kubernetes words its errors as Go does, and an exception's text can
# name server internals.
PYTHON_TEXT = re.compile(
    r"Traceback|File \"|\b(?:Key|Type|Value|Attribute|Index|Recursion|Overflow|Unicode\w*|ZeroDivision|Lookup|"
    r"Assertion|Runtime|NotImplemented|JSONDecode|Name)Error\b|object has no attribute|unhashable type|"
    r"is not subscriptable|not supported between instances|unsupported operand|invalid literal for|"
    r"maximum recursion depth|Incorrect padding|codec can't|NoneType|Expecting (?:value|property name|',')|"
    r"\(char \d+\)|takes \d+ positional argument|got an unexpected keyword|cannot convert float")
# A header line a client smuggled into a response through a value it chose (ODD_STRINGS).
INJECTED_HEADER = "X-Injected"


def response_problem(status: int, content_type: str, body: bytes, *, watch: bool = False,
                     head: bool = False, headers: Mapping[str, str] | None = None) -> str | None:
    """Why a response breaks the property (5xx other than Kubernetes' own 504 for a too large
    resourceVersion; non-2xx without a `Status`; a Status message in Python's words; JSON that is
    not standard JSON; a header smuggled in by the request), or None."""
    if status >= 500 and not kubernetes_timeout(status, body):
        return f"server error {status}: {body[:500]!r}"
    if headers is not None and INJECTED_HEADER in headers:
        return f"{status} response carries a header injected by the request: {dict(headers)!r}"
    if head or (watch and status == 200):
        return None  # no body, or a stream
    if content_type.startswith("application/json") or status >= 300:
        try:
            doc = strict_json(body)
        except (ValueError, UnicodeDecodeError) as e:
            return f"{status} body is not standard JSON ({e}): {body[:300]!r}"
        if status >= 300 and (not isinstance(doc, dict) or doc.get("kind") != "Status"):
            return f"{status} body is not a Status: {body[:300]!r}"
        if isinstance(doc, dict) and doc.get("kind") == "Status":
            found = PYTHON_TEXT.search(json.dumps(doc.get("message", "")) + json.dumps(doc.get("details", "")))
            if found:
                return f"{status} Status speaks Python ({found.group(0)!r}): {body[:400]!r}"
    return None
