"""Decoding request bodies (objects, patches, DeleteOptions) safely: bounded work, 400s, no 500s.

Every JSON or YAML body the API server reads goes through here, so one set of limits holds for all:

- Nesting deeper than `MAX_DEPTH` containers is refused. Kubernetes' JSON decoder allows 10,000
  levels, but podfleet walks objects with recursive Python code (validation, merge patches,
  deep copies) that would hit Python's recursion limit (1,000 frames, several frames per level)
  long before that. A real object is far shallower: a pod with affinity, probes, projected
  volumes and managedFields nests 11 levels (a Deployment wrapping it, 13); the limit leaves
  room for CRD-style schemas.
- YAML aliases may expand to at most `MAX_ALIAS_NODES` extra nodes (a "billion laughs" body of
  800 bytes otherwise expands to billions), and an alias may not contain itself. go-yaml refuses
  the same bodies, with "document contains excessive aliasing".
- Numbers must be finite and fit a float64, as JSON numbers do for Kubernetes' decoder: `NaN`,
  `Infinity`, `1e400` and integers of thousands of digits never reach storage (Python would
  otherwise store `NaN`, or fail converting a 5,000-digit integer).
- Strings are Unicode: an unpaired UTF-16 surrogate (`"\\ud800"`, which Python's decoder keeps but
  no UTF-8 encoder accepts) becomes U+FFFD, as Go's decoder replaces it.
- YAML is parsed by libyaml (`CSafeLoader`), and timestamps stay strings as go-yaml leaves them
  when decoding into untyped values, so a decoded YAML body is exactly what the same JSON
  body would decode to.

Errors are `BadRequest`s worded like Kubernetes' (Go's JSON and YAML messages), never Python's
exception text. Decoding is synchronous and CPU-bound; `negotiation.decode_body` runs large bodies
in a worker thread.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable
from typing import Any

import yaml

from podfleet.api.errors import BadRequest
from podfleet.api.jsoncopy import MAX_DEPTH, too_deep_message

__all__ = ["JSON_PREFIX", "MAX_ALIAS_NODES", "MAX_DEPTH", "YAML_PREFIX", "load_json", "load_yaml"]

MAX_ALIAS_NODES = 10_000
# float64's largest finite value has 309 integer digits; a longer integer cannot be a JSON number
# for Kubernetes (it decodes numbers that do not fit int64 as float64).
_MAX_INT_DIGITS = 309
_FLOAT64_MAX = int(1.7976931348623157e308)

JSON_PREFIX = "couldn't get version/kind; json parse error: "
YAML_PREFIX = "error converting YAML to JSON: "


class _BodyError(ValueError):
    """A message, already worded as Kubernetes words it, for the caller's BadRequest."""


def _shown_number(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _number_error(text: str) -> _BodyError:
    return _BodyError(f"json: cannot unmarshal number {_shown_number(text)} into Go value of type float64")


def _json_int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > _MAX_INT_DIGITS:  # refused before int() converts it: that costs quadratic time
        raise _number_error(text)
    value = int(text)
    if digits == _MAX_INT_DIGITS and abs(value) > _FLOAT64_MAX:
        raise _number_error(text)
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # "1e400": Go's ParseFloat fails with a range error
        raise _number_error(text)
    return value


def _json_constant(name: str) -> float:
    # NaN, Infinity and -Infinity are not JSON; Go's scanner stops at their first letter.
    raise _BodyError(f"invalid character '{name.lstrip('-')[0]}' looking for beginning of value")


# Python's JSONDecodeError messages, as Go's scanner words the same mistakes.
_GO_JSON_ERRORS = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
    "Extra data": "after top-level value",
    "Invalid control character at": "in string literal",
    "Invalid \\escape": "in string escape code",
    "Invalid \\uXXXX escape": "in \\u hexadecimal character escape",
}


def _go_json_error(e: json.JSONDecodeError) -> str:
    doc = e.doc
    pos = e.pos
    if pos >= len(doc.rstrip()) or e.msg.startswith("Unterminated string"):
        return "unexpected end of JSON input"
    char = doc[pos]
    if e.msg == "Expecting ',' delimiter" and doc.rfind("[", 0, pos) > doc.rfind("{", 0, pos):
        context = "after array element"  # a guess from the nearest opening bracket; good enough here
    else:
        context = _GO_JSON_ERRORS.get(e.msg, "looking for beginning of value")
    shown = json.dumps(char)[1:-1] if char != "'" else "\\'"
    return f"invalid character '{shown}' {context}"


class _TooDeep(_BodyError):
    """Nesting past MAX_DEPTH."""


def _too_deep() -> _TooDeep:
    return _TooDeep(too_deep_message(MAX_DEPTH))


# A JSON escape of a UTF-16 surrogate (high or low); paired ones decode to one character, unpaired
# ones stay in Python's string as a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _replace_surrogates(obj: Any) -> Any:
    """`obj` with every unpaired surrogate, in keys and in strings, replaced by U+FFFD (in place)."""

    def fix(text: str) -> str:
        return _LONE_SURROGATE.sub("\ufffd", text)

    if isinstance(obj, str):
        return fix(obj)
    stack = [obj] if isinstance(obj, dict | list) else []
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            items = [(fix(k), v) for k, v in value.items()]
            value.clear()
            for k, v in items:
                if isinstance(v, str):
                    v = fix(v)
                elif isinstance(v, dict | list):
                    stack.append(v)
                value[k] = v  # two keys equal after the fix: the last wins, as in Go
        else:
            for i, v in enumerate(value):
                if isinstance(v, str):
                    value[i] = fix(v)
                elif isinstance(v, dict | list):
                    stack.append(v)
    return obj


def _check_depth(obj: Any) -> None:
    """Refuse a decoded JSON value nesting more than MAX_DEPTH containers (iteratively)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        children = value.values() if type(value) is dict else value
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))


def _load_json(text: bytes | str) -> Any:
    try:
        obj = json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except json.JSONDecodeError as e:
        raise _BodyError(_go_json_error(e)) from None
    except RecursionError:  # nesting near Python's recursion limit: far past MAX_DEPTH anyway
        raise _too_deep() from None
    except UnicodeDecodeError:
        raise _BodyError("invalid character: the body is not UTF-8") from None
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _SURROGATE_ESCAPE.search(raw):
        obj = _replace_surrogates(obj)
    if not isinstance(obj, dict | list):
        return obj
    # n containers cannot nest deeper than n: most bodies (single objects) skip the walk entirely.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        _check_depth(obj)
    return obj


def load_json(body: bytes | str, prefix: str = JSON_PREFIX) -> Any:
    """Decode a JSON body within the limits above; BadRequest(prefix + Go-worded reason) otherwise."""
    try:
        return _load_json(body)
    except _BodyError as e:
        raise BadRequest(prefix + str(e)) from None


# ---------------------------------------------------------------------------------------------- YAML


class _Loader(yaml.CSafeLoader):
    """libyaml's parser with SafeLoader's constructors, adjusted to decode as sigs.k8s.io/yaml does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        """A mapping with its keys as JSON has them, made strings as each is constructed (as
        sigs.k8s.io/yaml does): in a Python dict `1`, `1.0` and `true` are one key, so `{1: a, true: b}`
        would lose a member before any later conversion could tell them apart."""
        if not isinstance(node, yaml.MappingNode):  # `!!map` on a scalar or a sequence
            raise yaml.constructor.ConstructorError(None, None, f"expected a mapping node, but found {node.id}",
                                                    node.start_mark)
        self.flatten_mapping(node)  # `<<` merge keys
        mapping: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, bool):
                key = "true" if key else "false"
            elif isinstance(key, int | float) or key is None:
                key = json.dumps(key)
            elif not isinstance(key, str):  # a sequence or mapping as a key: JSON has no such key
                raise _BodyError("json: the document holds a value JSON cannot represent")
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


# Timestamps stay strings, as go-yaml leaves them when the target is an untyped value.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(node.value)
    if len(text.replace("_", "").lstrip("+-")) > _MAX_INT_DIGITS:  # before int() spends time on it
        raise _number_error(text)
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    if abs(value) > _FLOAT64_MAX:
        raise _number_error(text)
    return value


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):  # .inf, .nan, 1.0e+400: JSON has no such numbers
        shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")  # as Go prints them
        raise _BodyError(f"json: unsupported value: {shown}")
    return value


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(node.value)  # an explicit !!timestamp keeps its text too


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _check_nodes(root: yaml.Node) -> None:
    """Depth, alias expansion and self-reference of a composed YAML document, before construction.

    An alias is a second reference to an already composed node, so the node graph is a DAG (or,
    for `a: &a [*a]`, cyclic). The expanded document has `size(root)` nodes, counting a shared
    node once per reference; the nodes produced by alias expansion are that minus the distinct
    nodes. Sizes and depths are memoised per node, so a body whose expansion is astronomically
    large is measured in time linear in its own size (sizes are exact integers: with depth bounded
    by MAX_DEPTH they stay a few hundred bits long).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    active: set[int] = set()  # the nodes on the path from the root to the one being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            container = isinstance(node, yaml.SequenceNode | yaml.MappingNode)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0) if container else 0
            active.discard(key)
            if depth[key] > MAX_DEPTH:
                raise _too_deep()
            continue
        if key in size:
            continue
        if key in active:  # reached again from inside itself
            raise _BodyError("yaml: anchor value contains itself")
        active.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in active:
                raise _BodyError("yaml: anchor value contains itself")
            if id(kid) not in size:
                stack.append((kid, False))
    if size[id(root)] - len(size) > MAX_ALIAS_NODES:
        raise _BodyError("yaml: document contains excessive aliasing")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _yaml_message(e: yaml.YAMLError) -> str:
    if isinstance(e, yaml.MarkedYAMLError) and e.problem:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return f"yaml: {where}{e.problem}"
    return "yaml: the body is not valid YAML"


def _load_yaml(body: bytes | str) -> Any:
    loader = _Loader(body)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as e:
            raise _BodyError(_yaml_message(e)) from None
        if node is None:
            return None
        # Only an alias (`*name`) shares or repeats nodes; without a `*` anywhere in the body the
        # node graph is a tree, so the costly graph walk is skipped and depth is checked on the
        # constructed value instead (construction itself stops at Python's recursion limit).
        aliases = (b"*" if isinstance(body, bytes) else "*") in body  # type: ignore[operator]
        if aliases:
            _check_nodes(node)
        try:
            obj = loader.construct_document(node)
        except yaml.YAMLError as e:
            raise _BodyError(_yaml_message(e)) from None
        except RecursionError:
            raise _too_deep() from None
    finally:
        loader.dispose()
    if not aliases and isinstance(obj, dict | list):
        _check_depth(obj)
    try:
        # Through JSON and back: aliases become independent copies (as in the JSON that
        # sigs.k8s.io/yaml produces), keys become strings, and anything JSON cannot hold
        # (!!binary, !!set) is refused here rather than when the object is stored.
        return json.loads(json.dumps(obj, allow_nan=False))
    except (TypeError, ValueError):
        raise _BodyError("json: the document holds a value JSON cannot represent") from None


def load_yaml(body: bytes | str, prefix: str = YAML_PREFIX) -> Any:
    """Decode a YAML (or JSON, a subset) body within the limits above; BadRequest otherwise."""
    head = body.lstrip()[:1]
    if head in (b"{", b"[", "{", "["):
        # Most "YAML" is JSON (flow style); the C JSON parser reads it some 50 times faster than
        # YAML construction, with the same result. Flow-style YAML (`{a: b}`) falls through.
        try:
            return _load_json(body)
        except _TooDeep as e:
            # As YAML it nests just as deep, and libyaml would compose every level of it first
            # (some 15 us each: a 4 KiB body of brackets is 15 ms of the event loop) to no avail.
            raise BadRequest(prefix + str(e)) from None
        except _BodyError:
            pass
    try:
        return _load_yaml(body)
    except _BodyError as e:
        raise BadRequest(prefix + str(e)) from None
    except UnicodeDecodeError:
        raise BadRequest(prefix + "yaml: invalid leading UTF-8 octet") from None
