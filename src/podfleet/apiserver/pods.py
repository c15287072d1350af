"""Pod subresources that are not plain storage writes: `binding` and `log` (`eviction` is in
eviction.py)."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from podfleet.api.errors import BadRequest, Conflict, NotFound, invalid
from podfleet.api.meta import rfc3339
from podfleet.api.params import optional_bool, optional_int, optional_time
from podfleet.api.resources import NODES, PODS
from podfleet.api.validation_common import bad, forbidden, not_supported, required
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.nodelogs import LogOptions, NodeLogs
from podfleet.apiserver.routing import RequestInfo
from podfleet.apiserver.store import Store, decode, encode
from podfleet.storage.interface import KeyNotFound, RevisionMismatch
from podfleet.streaming import stream_chunks

# Go's names for the JSON types a decoder met, and for the Go types it wanted.
_JSON_TYPES: dict[type, str] = {dict: "object", list: "array", str: "string", bool: "bool", int: "number",
                                float: "number"}
_GO_TYPES: dict[type, str] = {dict: "object", list: "array", str: "string", bool: "bool", int: "int64"}
_OBJECT_REFERENCE = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


def typed_field(obj: dict[str, Any], key: str, want: type, where: str) -> Any:
    """`obj[key]` if it is JSON of Go type `want` (null and absent: None), or the 400 Go's JSON
    decoder gives (`json: cannot unmarshal number into Go struct field Binding.target.name of type
    string`): a subresource body is decoded into its Go struct before anything looks at it."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
        raise BadRequest(f"json: cannot unmarshal {_JSON_TYPES.get(type(value), 'value')} into Go struct field "
                         f"{where}.{key} of type {_GO_TYPES[want]}")
    return value


def body_object(body: Any, kind: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"json: cannot unmarshal {_JSON_TYPES.get(type(body), 'value')} into Go value of type "
                         f"{kind}")
    return body


async def bind(store: Store, namespace: str, name: str, binding: Any, user: UserInfo) -> dict[str, Any]:
    """Assign a pending pod to a node (what the scheduler does), exactly once.

    The body is a v1.Binding, decoded as strictly as kube-apiserver decodes it (wrong JSON types are
    a 400) and validated as ValidatePodBinding does (a 422: target.kind Node or empty, target.name
    required)."""
    binding = body_object(binding, "v1.Binding")
    meta = typed_field(binding, "metadata", dict, "Binding") or {}
    want_uid = typed_field(meta, "uid", str, "Binding.metadata") or ""
    target = typed_field(binding, "target", dict, "Binding") or {}
    for key in _OBJECT_REFERENCE:
        typed_field(target, key, str, "Binding.target")
    node, kind = target.get("name") or "", target.get("kind") or ""
    causes = []
    if kind and kind != "Node":
        causes.append(not_supported("target.kind", kind, ("Node", "<empty>")))
    if not node:
        causes.append(required("target.name"))
    if causes:
        raise invalid("Binding", name, causes)
    for _ in range(5):
        kv = await store.storage.get(PODS.storage_key(namespace, name))
        if kv is None:
            raise NotFound(f'pods "{name}" not found', kind="pods", name=name)
        pod = decode(kv)
        if want_uid and want_uid != pod["metadata"].get("uid"):
            raise Conflict(f"Precondition failed: UID in precondition: {want_uid}, UID in object meta: "
                           f"{pod['metadata'].get('uid')}", kind="pods", name=name)
        if pod["metadata"].get("deletionTimestamp"):
            raise Conflict(f'pod {name} is being deleted, cannot be assigned to a host', kind="pods", name=name)
        current = (pod.get("spec") or {}).get("nodeName")
        if current:
            raise Conflict(f'pod {name} is already assigned to node "{current}"', kind="pods", name=name)
        pod["spec"]["nodeName"] = node
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": rfc3339(store.clock.now())})
        status["conditions"] = conditions
        try:
            await store.storage.update(kv.key, encode(pod), expected_revision=kv.mod_revision)
        except RevisionMismatch:
            continue
        except KeyNotFound as e:
            raise NotFound(f'pods "{name}" not found', kind="pods", name=name) from e
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    raise Conflict(f'Operation cannot be fulfilled on pods "{name}"', kind="pods", name=name)


def _log_options(q: Any, name: str) -> LogOptions:
    """PodLogOptions from the query, parsed and validated as kube-apiserver does.

    A value that does not parse (`sinceSeconds=abc`, a malformed `sinceTime`) is a 400, as the
    parameter decoder answers; a parsed but invalid combination is the 422 of
    ValidatePodLogOptions, with its messages. Every option is honoured end to end; `stream`
    (stdout or stderr alone) is refused rather than ignored.
    """
    stream = q.get("stream", "")
    if stream not in ("", "All"):
        raise BadRequest(f'stream "{stream}" is not supported: this server returns both stdout and stderr')
    opts = LogOptions(container=q.get("container", ""), follow=bool(optional_bool(q, "follow")),
                      previous=bool(optional_bool(q, "previous")), tail_lines=optional_int(q, "tailLines"),
                      timestamps=bool(optional_bool(q, "timestamps")),
                      since_seconds=optional_int(q, "sinceSeconds"), since_time=optional_time(q, "sinceTime"),
                      limit_bytes=optional_int(q, "limitBytes"))
    optional_bool(q, "insecureSkipTLSVerifyBackend")  # parsed for its 400; the agent is never verified
    causes = []
    if opts.tail_lines is not None and opts.tail_lines < 0:
        causes.append(bad("tailLines", opts.tail_lines, "must be greater than or equal to 0"))
    if opts.limit_bytes is not None and opts.limit_bytes < 1:
        causes.append(bad("limitBytes", opts.limit_bytes, "must be greater than 0"))
    if opts.since_seconds is not None and opts.since_time is not None:
        causes.append(forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif opts.since_seconds is not None and opts.since_seconds < 1:
        causes.append(bad("sinceSeconds", opts.since_seconds, "must be greater than 0"))
    if causes:
        raise invalid("PodLogOptions", name, causes)
    return opts


def resolve_container(pod: dict[str, Any], requested: str) -> str:
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    init_names = [c["name"] for c in spec.get("initContainers") or []]
    pod_name = pod["metadata"]["name"]
    if requested:
        if requested not in names + init_names:
            raise BadRequest(f"container {requested} is not valid for pod {pod_name}")
        return requested
    if len(names) == 1:
        return str(names[0])
    raise BadRequest(f"a container name must be specified for pod {pod_name}, choose one of: "
                     f"[{' '.join(names)}]" + (f" or one of the init containers: [{' '.join(init_names)}]"
                                               if init_names else ""))


async def stream_logs(request: web.Request, store: Store, node_logs: NodeLogs,
                      info: RequestInfo) -> web.StreamResponse:
    opts = _log_options(request.query, info.name)  # before the pod is read, as kube-apiserver validates
    pod = await store.get(PODS, info.namespace, info.name)
    container = resolve_container(pod, opts.container)
    opts = LogOptions(**{**opts.__dict__, "container": container})
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise BadRequest(f'pod "{info.name}" is not scheduled to a node yet: no logs')
    node = None
    with contextlib.suppress(NotFound):
        node = await store.get(NODES, "", node_name)
    return await stream_chunks(request, node_logs.stream(pod, node, opts))

