"""Per-pod `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`, bind-mounted into every container.

Minimal images ship none of these; without them `localhost` does not resolve. As kubelet: hosts
maps localhost and the pod IP to the pod's hostname (plus `hostAliases`), hostname is the pod name
(or `spec.hostname`), resolv.conf follows dnsPolicy/dnsConfig: `ClusterFirst` names the cluster DNS
with the namespace's search path and `ndots:5` (a hostNetwork pod only with
`ClusterFirstWithHostNet`), `Default` copies the node's resolver configuration, `None` has only
dnsConfig.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podfleet.files import write_atomic

HOST_RESOLV_CONF = Path("/etc/resolv.conf")


@dataclass(frozen=True)
class ClusterDNSConfig:
    """kubelet's --cluster-dns and --cluster-domain."""

    server: str = "10.96.0.10"
    domain: str = "cluster.local"


@dataclass(frozen=True)
class EtcFiles:
    hosts: Path
    hostname: Path
    resolv_conf: Path


def pod_hostname(pod: dict[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("hostname") or pod["metadata"]["name"])[:63]


def hosts_content(pod: dict[str, Any], pod_ips: list[str]) -> str:
    spec = pod.get("spec") or {}
    name = pod_hostname(pod)
    fqdn = name
    if spec.get("subdomain"):
        fqdn = f"{name}.{spec['subdomain']}.{pod['metadata'].get('namespace', 'default')}.svc.cluster.local"
    lines = ["# Kubernetes-managed hosts file (podfleet).", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix",
             "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
    for ip in pod_ips:
        lines.append(f"{ip}\t{fqdn}\t{name}" if fqdn != name else f"{ip}\t{name}")
    for alias in spec.get("hostAliases") or []:
        names = " ".join(alias.get("hostnames") or [])
        if names:
            lines.append(f"# Entries added by HostAliases.\n{alias.get('ip')}\t{names}")
    return "\n".join(lines) + "\n"


def _host_lines(host_resolv: str, key: str) -> list[str]:
    return [word for ln in host_resolv.splitlines() if ln.startswith(key + " ") for word in ln.split()[1:]]


def resolv_conf_content(pod: dict[str, Any], host_resolv: str, cluster_dns: ClusterDNSConfig | None = None,
                        host_network: bool = False) -> str:
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy", "ClusterFirst")
    cfg = spec.get("dnsConfig") or {}
    cluster = cluster_dns is not None and (
        policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_network))
    if policy == "None":
        servers: list[str] = []
        searches: list[str] = []
        options: list[str] = []
    elif cluster:
        assert cluster_dns is not None
        ns = pod["metadata"].get("namespace", "default")
        domain = cluster_dns.domain
        servers = [cluster_dns.server]
        searches = [f"{ns}.svc.{domain}", f"svc.{domain}", domain, *_host_lines(host_resolv, "search")]
        options = ["ndots:5"]
    else:
        servers = _host_lines(host_resolv, "nameserver")[:3]
        searches = _host_lines(host_resolv, "search")
        options = _host_lines(host_resolv, "options")
    servers += cfg.get("nameservers") or []
    searches += cfg.get("searches") or []
    for opt in cfg.get("options") or []:  # dnsConfig options replace those of the same name
        name = str(opt.get("name", ""))
        options = [o for o in options if o.split(":", 1)[0] != name]
        options.append(f"{name}:{opt['value']}" if opt.get("value") else name)
    out = [f"nameserver {s}" for s in dict.fromkeys(servers)][:3]
    if searches:
        out.append("search " + " ".join(list(dict.fromkeys(searches))[:32]))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def _write(path: Path, content: str) -> None:
    write_atomic(path, content, 0o644)


def etc_paths(pod_dir: Path) -> EtcFiles:
    """Where a pod's files live (written once per sandbox, bind-mounted into each container)."""
    return EtcFiles(pod_dir / "etc-hosts", pod_dir / "etc-hostname", pod_dir / "resolv.conf")


def write_etc_files(pod_dir: Path, pod: dict[str, Any], pod_ips: list[str], host_network: bool = False,
                    cluster_dns: ClusterDNSConfig | None = None) -> EtcFiles:
    pod_dir.mkdir(parents=True, exist_ok=True)
    files = etc_paths(pod_dir)
    try:
        host_resolv = HOST_RESOLV_CONF.read_text()
    except OSError:
        host_resolv = ""
    if host_network:
        try:
            _write(files.hosts, Path("/etc/hosts").read_text())
        except OSError:
            _write(files.hosts, hosts_content(pod, []))
        _write(files.hostname, os.uname().nodename + "\n")
    else:
        _write(files.hosts, hosts_content(pod, pod_ips))
        _write(files.hostname, pod_hostname(pod) + "\n")
    _write(files.resolv_conf, resolv_conf_content(pod, host_resolv, cluster_dns, host_network))
    return files
