"""The downward API's values: what a `fieldRef` or `resourceFieldRef` reads from the pod.

One pure place for both users, env variables (container_config) and downwardAPI volume files
(volumes), so a value reads the same wherever it is asked for, as in kubelet.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from typing import Any

from podfleet.api.quantity import parse_quantity

_KEYED = (("metadata.labels['", "labels"), ("metadata.annotations['", "annotations"))
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}


def go_quote(s: str) -> str:
    """`s` as Go's %q writes it: kubelet's labels/annotations files use that, and readers parse it so."""
    out = ['"']
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch == " " or unicodedata.category(ch)[0] in "LMNPS":  # Go's strconv.IsPrint
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def format_map(mapping: dict[str, Any]) -> str:
    """`key="value"` lines sorted by key, no trailing newline: kubelet's downward API file for a map."""
    return "\n".join(f"{k}={go_quote(str(mapping[k]))}" for k in sorted(mapping))


def field_value(pod: dict[str, Any], path: str, pod_ips: Sequence[str] = (), node_ip: str = "") -> str | None:
    """The value of a `fieldRef.fieldPath`; None for a path the downward API does not know."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    for prefix, key in _KEYED:
        if path.startswith(prefix) and path.endswith("']"):
            return str((meta.get(key) or {}).get(path[len(prefix):-2], ""))
    values = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
              "metadata.uid": meta.get("uid", ""),
              "metadata.labels": format_map(meta.get("labels") or {}),
              "metadata.annotations": format_map(meta.get("annotations") or {}),
              "spec.nodeName": spec.get("nodeName", ""),
              "spec.serviceAccountName": spec.get("serviceAccountName", ""),
              "status.podIP": pod_ips[0] if pod_ips else "", "status.podIPs": ",".join(pod_ips),
              "status.hostIP": node_ip, "status.hostIPs": node_ip}
    return values.get(path)


def resource_value(pod: dict[str, Any], ref: dict[str, Any], container: dict[str, Any] | None = None) -> str:
    """`limits.cpu`, `requests.memory`, ... of `ref.containerName` (else `container`), divided by the
    divisor and rounded up, as kubelet's ExtractContainerResourceValue; a limit not set reads as the
    node's allocatable, which podfleet leaves unbounded — reported as the request, or 0."""
    name = ref.get("containerName") or (container or {}).get("name")
    target = next((c for key in ("containers", "initContainers") for c in (pod.get("spec") or {}).get(key) or []
                   if c.get("name") == name), container or {})
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    resources = target.get("resources") or {}
    value = (resources.get(kind) or {}).get(resource)
    if value is None and kind == "limits":
        value = (resources.get("requests") or {}).get(resource)
    divisor = parse_quantity(ref.get("divisor") or "1")
    if value is None or divisor <= 0:
        return "0"
    return str(math.ceil(parse_quantity(value) / divisor))
