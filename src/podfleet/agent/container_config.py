"""From a pod's container spec and its image to the runtime's `ContainerConfig`.

Kubernetes' rules: `command` replaces the image's Entrypoint, `args` its Cmd; env is the image's
env overridden by the container's (with `$(VAR)` references expanded); workingDir falls back to the
image's; the user comes from securityContext or the image's `User`. Every container gets the pod's
/etc/hosts, /etc/hostname and /etc/resolv.conf, and its volume mounts.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from podfleet.agent.downward_api import field_value, resource_value
from podfleet.agent.env_sources import Sources
from podfleet.agent.etc_files import EtcFiles
from podfleet.agent.expansion import expand
from podfleet.agent.service_links import service_env
from podfleet.agent.volumes import BindMount
from podfleet.api.quantity import millicores, to_bytes
from podfleet.runtime.interface import StdinMode
from podfleet.runtime.spec import ContainerConfig, Mount


class ConfigError(Exception):
    """The container cannot be configured (e.g. unknown user); kubelet's CreateContainerConfigError."""


def command_line(container: dict[str, Any], image_config: dict[str, Any], env: dict[str, str]) -> list[str]:
    entrypoint = list(image_config.get("Entrypoint") or [])
    cmd = list(image_config.get("Cmd") or [])
    command, args = container.get("command"), container.get("args")
    if command:
        argv = list(command) + list(args or [])
    elif args:
        argv = entrypoint + list(args)
    else:
        argv = entrypoint + cmd
    if not argv:
        raise ConfigError("no command specified: the container has no command and the image no Entrypoint/Cmd")
    return [expand(a, env) for a in argv]


def environment(container: dict[str, Any], image_config: dict[str, Any], pod: dict[str, Any],
                pod_ips: list[str], node_ip: str, sources: Sources | None = None,
                services: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """The container's environment, in kubelet's order: the image's, the Services' links, HOSTNAME,
    `envFrom`, then `env` (each value's `$(VAR)` expanded from what came before). `sources`: the
    ConfigMaps and Secrets it names (env_sources.fetch); a missing one that is not optional is a
    ConfigError. `services`: the cluster's Services (service_links)."""
    sources = sources or {}
    env: dict[str, str] = {}
    for item in image_config.get("Env") or []:
        k, _, v = str(item).partition("=")
        env[k] = v
    spec = pod.get("spec") or {}
    env.update(service_env(services or [], pod["metadata"].get("namespace", ""),
                           spec.get("enableServiceLinks") is not False))
    env.setdefault("HOSTNAME", (pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"])
    namespace = pod["metadata"].get("namespace", "")
    for src in container.get("envFrom") or []:
        kind, ref = ("ConfigMap", src.get("configMapRef")) if src.get("configMapRef") else (
            "Secret", src.get("secretRef") or {})
        data = sources.get((kind, str(ref.get("name") or "")))
        if data is None:
            if not ref.get("optional"):
                raise ConfigError(f'{kind.lower()} "{ref.get("name")}" not found')
            continue
        prefix = str(src.get("prefix") or "")
        for key, item in data.items():
            if ENV_NAME.fullmatch(prefix + key):  # kubelet skips keys that are no variable names
                env[prefix + key] = item
    for e in container.get("env") or []:
        name = e["name"]
        if "value" in e or "valueFrom" not in e:
            env[name] = expand(str(e.get("value", "")), env)
            continue
        found = _value_from(e.get("valueFrom") or {}, container, pod, pod_ips, node_ip, sources, namespace)
        if found is not None:
            env[name] = found
    return env


ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def _value_from(vf: dict[str, Any], container: dict[str, Any], pod: dict[str, Any], pod_ips: list[str],
                node_ip: str, sources: Sources, namespace: str) -> str | None:
    for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        ref = vf.get(key)
        if ref:
            data = sources.get((kind, str(ref.get("name") or "")))
            if data is None:
                if ref.get("optional"):
                    return None
                raise ConfigError(f'{kind.lower()} "{ref.get("name")}" not found')
            if ref.get("key") not in data:
                if ref.get("optional"):
                    return None
                raise ConfigError(f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name')}")
            return data[ref["key"]]
    if vf.get("resourceFieldRef"):
        return resource_value(pod, vf["resourceFieldRef"], container)
    return field_value(pod, str((vf.get("fieldRef") or {}).get("fieldPath", "")), pod_ips, node_ip)


# mountPropagation as runc's mount options
_PROPAGATION = {"HostToContainer": ["rslave"], "Bidirectional": ["rshared"], "None": ["rprivate"]}


def _user(container: dict[str, Any], pod: dict[str, Any], image_config: dict[str, Any],
          rootfs: Path) -> tuple[int, int]:
    sc = {**((pod.get("spec") or {}).get("securityContext") or {}), **(container.get("securityContext") or {})}
    uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
    if uid is None:
        user = str(image_config.get("User") or "")
        name, _, group = user.partition(":")
        if name.isdigit():
            uid = int(name)
        elif name:
            uid, primary = _lookup(rootfs / "etc" / "passwd", name, 2, 3)
            gid = gid if gid is not None else primary
        if group:
            gid = int(group) if group.isdigit() else _lookup(rootfs / "etc" / "group", group, 2, 2)[0]
    uid = int(uid or 0)
    return uid, int(gid if gid is not None else 0)


def _lookup(path: Path, name: str, id_field: int, gid_field: int) -> tuple[int, int]:
    try:
        for line in path.read_text().splitlines():
            parts = line.split(":")
            if parts and parts[0] == name and len(parts) > max(id_field, gid_field):
                return int(parts[id_field]), int(parts[gid_field])
    except (OSError, ValueError):
        pass
    raise ConfigError(f"unable to find user {name}: no matching entries in {path.name} file")


def stop_signal(image_config: dict[str, Any], container: dict[str, Any] | None = None) -> int:
    """The container's `lifecycle.stopSignal`, else its image's StopSignal, else SIGTERM."""
    chosen = ((container or {}).get("lifecycle") or {}).get("stopSignal")
    sig = str(chosen or image_config.get("StopSignal") or "SIGTERM").upper()
    if sig.isdigit():
        return int(sig)
    try:
        return int(signal.Signals[sig if sig.startswith("SIG") else f"SIG{sig}"])
    except (KeyError, ValueError):
        return int(signal.SIGTERM)


def stdin_mode(container: dict[str, Any]) -> StdinMode:
    """What attached clients may do with the container's stdin (`stdin`, `stdinOnce`)."""
    if not container.get("stdin"):
        return StdinMode.NONE
    return StdinMode.ONCE if container.get("stdinOnce") else StdinMode.OPEN


def build_container_config(*, pod: dict[str, Any], container: dict[str, Any], image_config: dict[str, Any],
                           rootfs: Path, etc: EtcFiles, mounts: list[BindMount], netns: str | None,
                           ipcns: str | None, utsns: str | None, pod_ips: list[str], node_ip: str,
                           cgroup_parent: str, container_id: str, pidns: str | None = None,
                           sources: Sources | None = None,
                           services: list[dict[str, Any]] | None = None) -> ContainerConfig:
    env = environment(container, image_config, pod, pod_ips, node_ip, sources, services)
    argv = command_line(container, image_config, env)
    uid, gid = _user(container, pod, image_config, rootfs)
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    if uid == 0 and {**pod_sc, **sc}.get("runAsNonRoot"):
        m = pod["metadata"]
        raise ConfigError(f'container has runAsNonRoot and image will run as root (pod: "{m["name"]}_'
                          f'{m.get("namespace", "")}({m.get("uid", "")})", container: {container["name"]})')
    caps = sc.get("capabilities") or {}
    limits = (container.get("resources") or {}).get("limits") or {}
    requests = (container.get("resources") or {}).get("requests") or {}
    all_mounts = [Mount(str(etc.hosts), "/etc/hosts"), Mount(str(etc.hostname), "/etc/hostname"),
                  Mount(str(etc.resolv_conf), "/etc/resolv.conf")]
    all_mounts += [Mount(str(m.source), m.destination, m.readonly, options=_PROPAGATION.get(m.propagation, []))
                   for m in mounts]
    propagations = {m.propagation for m in mounts}
    return ContainerConfig(
        rootfs=str(rootfs), args=argv, env=[f"{k}={v}" for k, v in env.items()],
        cwd=container.get("workingDir") or image_config.get("WorkingDir") or "/", uid=uid, gid=gid,
        additional_gids=[int(g) for g in pod_sc.get("supplementalGroups") or []],
        mounts=all_mounts, netns=netns, ipcns=ipcns, utsns=utsns, pidns=pidns,
        cap_add=list(caps.get("add") or []), cap_drop=list(caps.get("drop") or []),
        privileged=bool(sc.get("privileged")), readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")),
        cgroups_path=f"{cgroup_parent}/{container_id}",
        cpu_millis=millicores(limits["cpu"]) if "cpu" in limits else None,
        cpu_shares_millis=millicores(requests["cpu"]) if "cpu" in requests else None,
        memory_bytes=to_bytes(limits["memory"]) if "memory" in limits else None,
        annotations={"io.kubernetes.pod.uid": pod["metadata"]["uid"],
                     "io.kubernetes.pod.name": pod["metadata"]["name"],
                     "io.kubernetes.pod.namespace": pod["metadata"].get("namespace", ""),
                     "io.kubernetes.container.name": container["name"]},
        terminal=bool(container.get("tty")),
        no_new_privileges=sc.get("allowPrivilegeEscalation") is False,
        # the container's root must propagate too for its mounts to (kubelet's rootfs propagation)
        rootfs_propagation="rshared" if "Bidirectional" in propagations else (
            "rslave" if "HostToContainer" in propagations else ""),
    )
