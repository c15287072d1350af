"""Pod subresources that are not plain storage writes: `binding`, `eviction` and `log`."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from podfleet.api.errors import BadRequest, Conflict, NotFound, invalid
from podfleet.api.meta import rfc3339
from podfleet.api.params import optional_bool, optional_int, optional_time
from podfleet.api.resources import NODES, PODS
from podfleet.api.validation_common import bad, forbidden
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.nodelogs import LogOptions, NodeLogs
from podfleet.apiserver.routing import RequestInfo
from podfleet.apiserver.store import DeleteOptions, Store, decode, encode
from podfleet.storage.interface import KeyNotFound, RevisionMismatch
from podfleet.streaming import stream_chunks


async def bind(store: Store, namespace: str, name: str, binding: Any, user: UserInfo) -> dict[str, Any]:
    """Assign a pending pod to a node (what the scheduler does), exactly once."""
    if not isinstance(binding, dict):
        raise BadRequest("Binding must be an object")
    target = binding.get("target") or {}
    node = target.get("name")
    if not node:
        raise BadRequest("Binding target.name is required")
    if target.get("kind", "Node") != "Node":
        raise BadRequest("Binding target must be a Node")
    for _ in range(5):
        kv = await store.storage.get(PODS.storage_key(namespace, name))
        if kv is None:
            raise NotFound(f'pods "{name}" not found', kind="pods", name=name)
        pod = decode(kv)
        uid = (binding.get("metadata") or {}).get("uid")
        if uid and uid != pod["metadata"].get("uid"):
            raise Conflict(f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
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


async def evict(store: Store, namespace: str, name: str, eviction: Any, user: UserInfo) -> dict[str, Any]:
    """The Eviction API: a graceful delete (no PodDisruptionBudgets exist in podfleet yet)."""
    opts = DeleteOptions(user=None)
    if isinstance(eviction, dict):
        d = eviction.get("deleteOptions") or {}
        if d.get("gracePeriodSeconds") is not None:
            opts.grace_period_seconds = int(d["gracePeriodSeconds"])
    await store.delete(PODS, namespace, name, opts)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


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

