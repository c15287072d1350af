"""Server-side printing: `meta.k8s.io/v1 Table` responses with the columns kubectl users expect.

kubectl asks for `as=Table` on `get`; the columns and cell values follow the Kubernetes printers
(NAME READY STATUS RESTARTS AGE for pods, `-o wide` adding the priority-1 columns IP and NODE).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from podfleet.api.meta import parse_time
from podfleet.api.resources import ResourceType
from podfleet.api.selectors import selector_to_string

Column = tuple[str, str, int, str]  # name, type, priority, description
Row = list[Any]


def human_duration(d: dt.timedelta) -> str:
    """`duration.HumanDuration`: 5s, 3m2s, 5h10m, 2d3h, 400d."""
    s = int(d.total_seconds())
    if s < 0:
        s = 0
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    days = h // 24
    if h < 24 * 8:
        return f"{days}d{h % 24}h" if h % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def age(obj: dict[str, Any], now: dt.datetime) -> str:
    t = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return human_duration(now - t) if t else "<unknown>"


def _since(ts: str | None, now: dt.datetime) -> str:
    t = parse_time(ts)
    return human_duration(now - t) if t else "<unknown>"


# ---------------------------------------------------------------------------- pods

def _sidecars(spec: dict[str, Any]) -> set[str]:
    """Native sidecars: init containers with restartPolicy Always, counted as the pod's containers."""
    return {c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"}


def pod_ready_count(pod: dict[str, Any]) -> tuple[int, int]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    sidecars = _sidecars(spec)
    total = len(spec.get("containers") or []) + len(sidecars)
    ready = sum(1 for c in status.get("containerStatuses") or []
                if c.get("ready") and "running" in (c.get("state") or {}))
    ready += sum(1 for c in status.get("initContainerStatuses") or []
                 if c.get("name") in sidecars and c.get("started") and c.get("ready"))
    return ready, total


def pod_status_reason(pod: dict[str, Any]) -> str:
    """The STATUS column, by kubectl's rules (native sidecars that have started do not hold it in Init)."""
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    sidecars = _sidecars(spec)
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    n_init = len(spec.get("initContainers") or [])
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started"):
            continue
        if term:
            reason = "Init:" + (term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal")
                                                         else f"ExitCode:{term.get('exitCode')}"))
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if not initializing or conds.get("Initialized") == "True":
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}"
            elif "running" in state and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if "Ready" in conds else "NotReady"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def pod_restarts(pod: dict[str, Any], now: dt.datetime) -> str:
    total = 0
    last: dt.datetime | None = None
    for cs in ((pod.get("status") or {}).get("containerStatuses") or []) + \
            ((pod.get("status") or {}).get("initContainerStatuses") or []):
        total += int(cs.get("restartCount") or 0)
        term = (cs.get("lastState") or {}).get("terminated") or {}
        t = parse_time(term.get("finishedAt"))
        if t and (last is None or t > last):
            last = t
    if total and last is not None:
        return f"{total} ({human_duration(now - last)} ago)"
    return str(total)


def _pod_row(pod: dict[str, Any], now: dt.datetime) -> Row:
    ready, total = pod_ready_count(pod)
    status, spec = pod.get("status") or {}, pod.get("spec") or {}
    gates = spec.get("readinessGates") or []
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    gate_txt = f"{sum(conds.get(g.get('conditionType')) == 'True' for g in gates)}/{len(gates)}" if gates else "<none>"
    return [pod["metadata"]["name"], f"{ready}/{total}", pod_status_reason(pod), pod_restarts(pod, now),
            age(pod, now), status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gate_txt]


_POD_COLS: list[Column] = [
    ("Name", "string", 0, "Name must be unique within a namespace."),
    ("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
    ("Status", "string", 0, "The aggregate status of the containers in this pod."),
    ("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when "
                              "the last container in this pod has restarted."),
    ("Age", "string", 0, "CreationTimestamp is a timestamp representing the server time when this object was "
                         "created."),
    ("IP", "string", 1, "podIP address allocated to the pod."),
    ("Node", "string", 1, "Name of the node this pod runs on."),
    ("Nominated Node", "string", 1, "Name of the node the scheduler nominated for this pod."),
    ("Readiness Gates", "string", 1, "Readiness gates of the pod."),
]

# ---------------------------------------------------------------------------- others


def _node_row(node: dict[str, Any], now: dt.datetime) -> Row:
    status, spec = node.get("status") or {}, node.get("spec") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown" if ready is None else {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "Unknown")
    if ready is not None and ready.get("status") == "Unknown":
        state = "NotReady"
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k)
    roles += [v for k, v in labels.items() if k == "kubernetes.io/role"]
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [node["metadata"]["name"], state, ",".join(roles) or "<none>", age(node, now),
            info.get("kubeletVersion", ""), addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _containers_images(obj: dict[str, Any]) -> tuple[str, str]:
    cs = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deploy_row(d: dict[str, Any], now: dt.datetime) -> Row:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers_images(d)
    return [d["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), age(d, now), names, images,
            selector_to_string(spec.get("selector") or {})]


def _ds_row(ds: dict[str, Any], now: dt.datetime) -> Row:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    names, images = _containers_images(ds)
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [ds["metadata"]["name"], status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or "<none>", age(ds, now), names, images,
            selector_to_string(spec.get("selector") or {})]


def _sts_row(sts: dict[str, Any], now: dt.datetime) -> Row:
    """printStatefulSet: READY is `readyReplicas/spec.replicas`."""
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    names, images = _containers_images(sts)
    return [sts["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", age(sts, now),
            names, images]


def _rs_row(rs: dict[str, Any], now: dt.datetime) -> Row:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers_images(rs)
    return [rs["metadata"]["name"], spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), age(rs, now), names, images,
            selector_to_string(spec.get("selector") or {})]


def _rc_row(rc: dict[str, Any], now: dt.datetime) -> Row:
    spec, status = rc.get("spec") or {}, rc.get("status") or {}
    names, images = _containers_images(rc)
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [rc["metadata"]["name"], spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), age(rc, now), names, images, selector or "<none>"]


def _first_three(items: list[str]) -> str:
    """kubectl's list of endpoints: three, then how many more."""
    if not items:
        return "<none>"
    shown = ",".join(items[:3])
    return shown + (f" + {len(items) - 3} more..." if len(items) > 3 else "")


def _service_row(svc: dict[str, Any], now: dt.datetime) -> Row:
    spec = svc.get("spec") or {}
    svc_type = spec.get("type", "ClusterIP")
    ports = ",".join(f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                     else f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    if svc_type == "ExternalName":
        external = spec.get("externalName", "")
    elif svc_type == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or "<pending>"
    else:
        external = "<none>"
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [svc["metadata"]["name"], svc_type, spec.get("clusterIP") or "<none>", external, ports or "<none>",
            age(svc, now), selector or "<none>"]


def _endpoints_row(ep: dict[str, Any], now: dt.datetime) -> Row:
    shown = [f"{a.get('ip')}:{p.get('port')}" if p else str(a.get("ip"))
             for s in ep.get("subsets") or [] for p in (s.get("ports") or [None]) for a in s.get("addresses") or []]
    return [ep["metadata"]["name"], _first_three(shown), age(ep, now)]


def _slice_row(sl: dict[str, Any], now: dt.datetime) -> Row:
    ports = ",".join(str(p["port"]) for p in sl.get("ports") or [] if p.get("port") is not None)
    addresses = [a for e in sl.get("endpoints") or [] for a in e.get("addresses") or []]
    return [sl["metadata"]["name"], sl.get("addressType", ""), ports or "<unset>", _first_three(addresses),
            age(sl, now)]


def _created_at(obj: dict[str, Any]) -> str:
    """The apiserver's default table's "Created At": the creation time in UTC, RFC 3339."""
    t = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else "<unknown>"


def _subjects_strings(subjects: Any) -> tuple[str, str, str]:
    """Users, groups and service accounts (`namespace/name`) of a binding, each joined by ", "."""
    users: list[str] = []
    groups: list[str] = []
    sas: list[str] = []
    for s in subjects if isinstance(subjects, list) else []:
        if not isinstance(s, dict):
            continue
        kind, name = s.get("kind"), str(s.get("name") or "")
        if kind == "ServiceAccount":
            sas.append(f"{s.get('namespace') or ''}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    return ", ".join(users), ", ".join(groups), ", ".join(sas)


def _binding_row(b: dict[str, Any], now: dt.datetime) -> Row:
    ref = b.get("roleRef") or {}
    return [b["metadata"]["name"], f"{ref.get('kind', '')}/{ref.get('name', '')}", age(b, now),
            *_subjects_strings(b.get("subjects"))]


def _event_row(ev: dict[str, Any], now: dt.datetime) -> Row:
    io = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp")
    return [_since(last, now), ev.get("type", ""), ev.get("reason", ""),
            f"{str(io.get('kind', '')).lower()}/{io.get('name', '')}", ev.get("message", "")]


_SPECS: dict[str, tuple[list[Column], Callable[[dict[str, Any], dt.datetime], Row]]] = {
    "Pod": (_POD_COLS, _pod_row),
    "Node": ([("Name", "string", 0, ""), ("Status", "string", 0, ""), ("Roles", "string", 0, ""),
              ("Age", "string", 0, ""), ("Version", "string", 0, ""), ("Internal-IP", "string", 1, ""),
              ("External-IP", "string", 1, ""), ("OS-Image", "string", 1, ""), ("Kernel-Version", "string", 1, ""),
              ("Container-Runtime", "string", 1, "")], _node_row),
    "Deployment": ([("Name", "string", 0, ""), ("Ready", "string", 0, ""), ("Up-to-date", "integer", 0, ""),
                    ("Available", "integer", 0, ""), ("Age", "string", 0, ""), ("Containers", "string", 1, ""),
                    ("Images", "string", 1, ""), ("Selector", "string", 1, "")], _deploy_row),
    "StatefulSet": ([("Name", "string", 0, ""), ("Ready", "string", 0, ""), ("Age", "string", 0, ""),
                     ("Containers", "string", 1, ""), ("Images", "string", 1, "")], _sts_row),
    "DaemonSet": ([("Name", "string", 0, ""), ("Desired", "integer", 0, ""), ("Current", "integer", 0, ""),
                   ("Ready", "integer", 0, ""), ("Up-to-date", "integer", 0, ""), ("Available", "integer", 0, ""),
                   ("Node Selector", "string", 0, ""), ("Age", "string", 0, ""), ("Containers", "string", 1, ""),
                   ("Images", "string", 1, ""), ("Selector", "string", 1, "")], _ds_row),
    "ReplicaSet": ([("Name", "string", 0, ""), ("Desired", "integer", 0, ""), ("Current", "integer", 0, ""),
                    ("Ready", "integer", 0, ""), ("Age", "string", 0, ""), ("Containers", "string", 1, ""),
                    ("Images", "string", 1, ""), ("Selector", "string", 1, "")], _rs_row),
    "ReplicationController": ([("Name", "string", 0, ""), ("Desired", "integer", 0, ""),
                               ("Current", "integer", 0, ""), ("Ready", "integer", 0, ""), ("Age", "string", 0, ""),
                               ("Containers", "string", 1, ""), ("Images", "string", 1, ""),
                               ("Selector", "string", 1, "")], _rc_row),
    "Service": ([("Name", "string", 0, ""), ("Type", "string", 0, ""), ("Cluster-IP", "string", 0, ""),
                 ("External-IP", "string", 0, ""), ("Port(s)", "string", 0, ""), ("Age", "string", 0, ""),
                 ("Selector", "string", 1, "")], _service_row),
    "Endpoints": ([("Name", "string", 0, ""), ("Endpoints", "string", 0, ""), ("Age", "string", 0, "")],
                  _endpoints_row),
    "EndpointSlice": ([("Name", "string", 0, ""), ("AddressType", "string", 0, ""), ("Ports", "string", 0, ""),
                       ("Endpoints", "string", 0, ""), ("Age", "string", 0, "")], _slice_row),
    "Namespace": ([("Name", "string", 0, ""), ("Status", "string", 0, ""), ("Age", "string", 0, "")],
                  lambda o, now: [o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"),
                                  age(o, now)]),
    "Event": ([("Last Seen", "string", 0, ""), ("Type", "string", 0, ""), ("Reason", "string", 0, ""),
               ("Object", "string", 0, ""), ("Message", "string", 0, "")], _event_row),
    "Lease": ([("Name", "string", 0, ""), ("Holder", "string", 0, ""), ("Age", "string", 0, "")],
              lambda o, now: [o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity", ""), age(o, now)]),
    "Secret": ([("Name", "string", 0, ""), ("Type", "string", 0, ""), ("Data", "string", 0, ""),
                ("Age", "string", 0, "")],
               lambda o, now: [o["metadata"]["name"], o.get("type", ""), len(o.get("data") or {}), age(o, now)]),
    "ConfigMap": ([("Name", "string", 0, ""), ("Data", "string", 0, ""), ("Age", "string", 0, "")],
                  lambda o, now: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                                  age(o, now)]),
    "ServiceAccount": ([("Name", "string", 0, ""), ("Secrets", "string", 0, ""), ("Age", "string", 0, "")],
                       lambda o, now: [o["metadata"]["name"], len(o.get("secrets") or []), age(o, now)]),
    "ControllerRevision": ([("Name", "string", 0, ""), ("Controller", "string", 0, ""),
                            ("Revision", "integer", 0, ""), ("Age", "string", 0, "")],
                           lambda o, now: [o["metadata"]["name"], next(
                               (f"{r.get('kind', '').lower()}.{r.get('apiVersion', '').split('/')[0]}/{r.get('name')}"
                                for r in o["metadata"].get("ownerReferences") or [] if r.get("controller")),
                               "<none>"), o.get("revision", 0), age(o, now)]),
}


def _job_row(job: dict[str, Any], now: dt.datetime) -> Row:
    """printJob: STATUS, COMPLETIONS (`succeeded/completions`), DURATION (start to completion or now)."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    else:
        parallelism = spec.get("parallelism") or 0
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration((end or now) - start)
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in true:
        state = "Complete"
    elif "Failed" in true:
        state = "Failed"
    elif (job.get("metadata") or {}).get("deletionTimestamp"):
        state = "Terminating"
    else:
        state = next((t for t in ("Suspended", "FailureTarget", "SuccessCriteriaMet") if t in true), "Running")
    names, images = _containers_images(job)
    return [job["metadata"]["name"], state, completions, duration, age(job, now), names, images,
            selector_to_string(spec.get("selector") or {})]


_SPECS["Job"] = ([("Name", "string", 0, ""), ("Status", "string", 0, ""), ("Completions", "string", 0, ""),
                  ("Duration", "string", 0, ""), ("Age", "string", 0, ""), ("Containers", "string", 1, ""),
                  ("Images", "string", 1, ""), ("Selector", "string", 1, "")], _job_row)


def _pdb_row(pdb: dict[str, Any], now: dt.datetime) -> Row:
    """printPodDisruptionBudget: `N/A` for the bound not set, the allowed disruptions of the status."""
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    shown = ["N/A" if spec.get(k) is None else str(spec[k]) for k in ("minAvailable", "maxUnavailable")]
    return [pdb["metadata"]["name"], *shown, status.get("disruptionsAllowed", 0), age(pdb, now)]


_SPECS["PodDisruptionBudget"] = ([("Name", "string", 0, ""), ("Min Available", "string", 0, ""),
                                  ("Max Unavailable", "string", 0, ""), ("Allowed Disruptions", "integer", 0, ""),
                                  ("Age", "string", 0, "")], _pdb_row)


def _priority_class_row(pc: dict[str, Any], now: dt.datetime) -> Row:
    """printPriorityClass: the value, whether it is the global default, and (wide) its preemption policy."""
    return [pc["metadata"]["name"], pc.get("value", 0), bool(pc.get("globalDefault")), age(pc, now),
            pc.get("preemptionPolicy") or ""]


_SPECS["PriorityClass"] = ([("Name", "string", 0, ""), ("Value", "integer", 0, ""),
                            ("Global-Default", "boolean", 0, ""), ("Age", "string", 0, ""),
                            ("PreemptionPolicy", "string", 1, "")], _priority_class_row)


def _cron_job_row(cj: dict[str, Any], now: dt.datetime) -> Row:
    """printCronJob: SCHEDULE, TIMEZONE, SUSPEND, ACTIVE (jobs running), LAST SCHEDULE (time since)."""
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    last = status.get("lastScheduleTime")
    suspend = spec.get("suspend")
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = _containers_images({"spec": job_spec})
    selector = job_spec.get("selector")
    return [cj["metadata"]["name"], spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            "<unset>" if suspend is None else str(bool(suspend)), len(status.get("active") or []),
            _since(last, now) if last else "<none>", age(cj, now), names, images,
            selector_to_string(selector) if selector else "<none>"]


_SPECS["CronJob"] = ([("Name", "string", 0, ""), ("Schedule", "string", 0, ""), ("Timezone", "string", 0, ""),
                      ("Suspend", "boolean", 0, ""), ("Active", "integer", 0, ""),
                      ("Last Schedule", "string", 0, ""), ("Age", "string", 0, ""),
                      ("Containers", "string", 1, ""), ("Images", "string", 1, ""), ("Selector", "string", 1, "")],
                     _cron_job_row)
_ROLE_SPEC: tuple[list[Column], Callable[[dict[str, Any], dt.datetime], Row]] = (
    [("Name", "string", 0, ""), ("Created At", "date", 0, "")], lambda o, now: [o["metadata"]["name"], _created_at(o)])
_SPECS["Role"] = _SPECS["ClusterRole"] = _ROLE_SPEC
_SPECS["RoleBinding"] = _SPECS["ClusterRoleBinding"] = (
    [("Name", "string", 0, ""), ("Role", "string", 0, ""), ("Age", "string", 0, ""), ("Users", "string", 1, ""),
     ("Groups", "string", 1, ""), ("ServiceAccounts", "string", 1, "")], _binding_row)
_DEFAULT: tuple[list[Column], Callable[[dict[str, Any], dt.datetime], Row]] = (
    [("Name", "string", 0, ""), ("Age", "string", 0, "")], lambda o, now: [o["metadata"]["name"], age(o, now)])


def _partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def to_table(rt: ResourceType, objects: list[dict[str, Any]], *, include_object: str = "Metadata",
             now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    cols, row_fn = _SPECS.get(rt.kind, _DEFAULT)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": row_fn(obj, now)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial_metadata(obj)
        rows.append(row)
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
        "columnDefinitions": [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": d,
                               "priority": p} for n, t, p, d in cols],
        "rows": rows,
    }
