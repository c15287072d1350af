"""The index behind cluster DNS: every name in the cluster zone and the entries it answers with.

Each Service is compiled — with its EndpointSlices and the pods that name it as their subdomain — into
the names it owns (`<svc>.<ns>.svc.<zone>`, `_<port>._<proto>.<svc>...`, `<hostname>.<svc>...`) and
the reverse (PTR) names of its addresses. A change recompiles only the one Service it touches, and
only when the views DNS reads have changed, so a query is a dictionary look-up and a pod's status
churn costs nothing. Every ancestor of a name is counted as an empty non-terminal (RFC 8020): a
name above one that exists is NODATA, never NXDOMAIN.

An entry is what CoreDNS's kubernetes plugin calls a service record: an address (or, for an
ExternalName, a domain name), a port, and the name an SRV answer points at. The resolver
(`records`) turns the entries of one name into A, AAAA, SRV and CNAME answers.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from podfleet.dns.views import (
    CLUSTER_IP,
    EXTERNAL_NAME,
    HEADLESS,
    PodView,
    ServiceView,
    SliceView,
    canonical_ip,
    dashed,
    ip_family,
    pod_view,
    service_view,
    slice_view,
)

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class Entry:
    host: str  # an IP address, or the domain name an ExternalName Service points at
    family: int  # 4 or 6 for an address; 0 for a domain name
    port: int  # -1 when there is none (SRV answers skip such entries)
    target: str  # the name that owns `host`, which SRV answers point at ("" for a domain name)


@dataclass(frozen=True, slots=True)
class PtrTarget:
    name: str
    service: bool  # a ClusterIP's name; these win over endpoint names for the same address


@dataclass(frozen=True)
class Compiled:
    names: dict[str, tuple[Entry, ...]] = field(default_factory=dict)
    reverse: dict[str, tuple[PtrTarget, ...]] = field(default_factory=dict)


EMPTY = Compiled()


def reverse_name(ip: str) -> str:
    """10.96.0.1 → 1.0.96.10.in-addr.arpa (IPv6: nibbles under ip6.arpa). `ip` is canonical text."""
    if ":" not in ip:
        return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    return ipaddress.IPv6Address(ip).reverse_pointer


def compile_service(svc: ServiceView, slices: Iterable[SliceView], pods: Iterable[PodView], zone: str) -> Compiled:
    """The names one Service owns, as CoreDNS's kubernetes plugin answers them.

    - ClusterIP: the Service name and `_<port>._<proto>` names answer with the ClusterIPs (one entry
      per port, so SRV lists every port); ready endpoints are still reachable by `<hostname>.<svc>`.
    - Headless: the Service name and its port names answer with the published endpoints (ready, or
      all with publishNotReadyAddresses); none published → no name (NXDOMAIN, as the spec says).
    - ExternalName: one CNAME entry on the Service name (an address in externalName gives none).
    - Pods whose spec.subdomain is a headless Service get `<spec.hostname>.<svc>` while they are ready
      (or publishNotReadyAddresses), as Kubernetes documents, even if no endpoint names them.
    """
    base = f"{svc.name}.{svc.namespace}.svc.{zone}"
    names: dict[str, list[Entry]] = {}
    reverse: dict[str, list[PtrTarget]] = {}

    def add(name: str, entry: Entry) -> None:
        names.setdefault(name, []).append(entry)

    if svc.kind == EXTERNAL_NAME:
        if svc.external_name and canonical_ip(svc.external_name) is None:
            add(base, Entry(svc.external_name, 0, -1, ""))
        return _freeze(names, reverse)

    for sl in sorted(slices, key=lambda s: s.name):
        ports = sl.ports or (None,)
        for ep in sl.endpoints:
            if not (ep.ready or svc.publish_not_ready):
                continue
            for ip in ep.addresses:
                owner = f"{ep.hostname or dashed(ip)}.{base}"
                reverse.setdefault(reverse_name(ip), []).append(PtrTarget(owner, False))
                for p in ports:
                    entry = Entry(ip, ip_family(ip), p.port if p else -1, owner)
                    add(owner, entry)
                    if svc.kind == HEADLESS:
                        add(base, entry)
                        if p and p.name:
                            add(f"_{p.name}._{p.protocol}.{base}", entry)

    if svc.kind == CLUSTER_IP:
        if svc.ports:
            names.setdefault(base, [])  # exists even before a ClusterIP is allocated (NODATA)
        for p in svc.ports:
            for ip in svc.cluster_ips:
                entry = Entry(ip, ip_family(ip), p.port, base)
                add(base, entry)
                if p.name:
                    add(f"_{p.name}._{p.protocol}.{base}", entry)
        for ip in svc.cluster_ips:
            reverse.setdefault(reverse_name(ip), []).append(PtrTarget(base, True))
    elif svc.kind == HEADLESS:
        for pod in pods:
            if not (pod.hostname and pod.active and (pod.ready or svc.publish_not_ready)):
                continue
            owner = f"{pod.hostname}.{base}"
            for ip in pod.ips:
                if not any(e.host == ip for e in names.get(owner, ())):
                    add(owner, Entry(ip, ip_family(ip), -1, owner))
    return _freeze(names, reverse)


def _freeze(names: dict[str, list[Entry]], reverse: dict[str, list[PtrTarget]]) -> Compiled:
    # dict.fromkeys: the same address can sit in two slices while the controller moves it
    return Compiled({n: tuple(dict.fromkeys(es)) for n, es in names.items()},
                    {r: tuple(dict.fromkeys(ts)) for r, ts in reverse.items()})


class ZoneIndex:
    """Services, EndpointSlices, Pods and Namespaces (Kubernetes JSON in), names and entries out.

    `generation` moves on every change a query could see (the server's answer cache keys on it);
    `serial` is the SOA serial, the time of the last change in seconds, as CoreDNS reports it.
    `ready` is False until the feeding informers have listed everything once: until then the
    resolver answers SERVFAIL rather than a wrong NXDOMAIN that clients would cache.
    """

    def __init__(self, zone: str = "cluster.local", *, ready: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.zone = zone.strip(".").lower()
        self.generation = 0
        self._clock = clock
        self.serial = int(clock())
        self.ready = ready
        self._services: dict[Key, ServiceView] = {}
        self._slices: dict[Key, dict[str, SliceView]] = {}  # by (ns, service) then slice name
        self._slice_owner: dict[Key, str] = {}  # (ns, slice name) -> service
        self._pods: dict[Key, PodView] = {}
        self._subdomains: dict[Key, set[str]] = {}  # (ns, subdomain) -> pod names
        self._pod_ips: dict[Key, int] = {}  # (ns, ip) -> number of pods with it
        self._namespaces: set[str] = set()
        self._compiled: dict[Key, Compiled] = {}
        self._names: dict[str, tuple[Entry, ...]] = {}
        self._present: dict[str, int] = {}  # every held name and its ancestors -> holders
        self._reverse: dict[str, dict[Key, tuple[PtrTarget, ...]]] = {}
        z = self.zone
        for static in (z, f"svc.{z}", f"pod.{z}", f"dns-version.{z}", f"ns.dns.{z}"):
            self._hold(static)

    # ------------------------------------------------------------------ queries
    def lookup(self, name: str) -> tuple[Entry, ...] | None:
        """The entries of a lower-case name without trailing dot: None if it does not exist, () if it
        exists with no data of its own (an empty non-terminal, a namespace, the zone's own names)."""
        entries = self._names.get(name)
        if entries is not None:
            return entries
        return () if name in self._present else None

    def ptr(self, reverse: str) -> list[PtrTarget]:
        by_source = self._reverse.get(reverse)
        if not by_source:
            return []
        return [t for key in sorted(by_source) for t in by_source[key]]

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self._namespaces

    def pod_ip_exists(self, namespace: str, ip: str) -> bool:
        return (namespace, ip) in self._pod_ips

    @property
    def names(self) -> int:
        return len(self._names)

    # ------------------------------------------------------------------ changes
    def mark_ready(self) -> None:
        if not self.ready:
            self.ready = True
            self._changed()

    def set_namespace(self, obj: dict[str, Any]) -> None:
        ns = str((obj.get("metadata") or {}).get("name") or "")
        if ns and ns not in self._namespaces:
            self._namespaces.add(ns)
            self._hold(f"{ns}.svc.{self.zone}")
            self._hold(f"{ns}.pod.{self.zone}")
            self._changed()

    def remove_namespace(self, obj: dict[str, Any]) -> None:
        ns = str((obj.get("metadata") or {}).get("name") or "")
        if ns in self._namespaces:
            self._namespaces.discard(ns)
            self._release(f"{ns}.svc.{self.zone}")
            self._release(f"{ns}.pod.{self.zone}")
            self._changed()

    def set_service(self, obj: dict[str, Any]) -> None:
        view = service_view(obj)
        key = (view.namespace, view.name)
        if self._services.get(key) != view:
            self._services[key] = view
            self._recompile(key)

    def remove_service(self, obj: dict[str, Any]) -> None:
        m = obj.get("metadata") or {}
        key = (str(m.get("namespace") or ""), str(m.get("name") or ""))
        if self._services.pop(key, None) is not None:
            self._recompile(key)

    def set_slice(self, obj: dict[str, Any]) -> None:
        m = obj.get("metadata") or {}
        ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
        view = slice_view(obj)
        old_service = self._slice_owner.get((ns, name))
        if view is None:
            self._drop_slice(ns, name)
            return
        if old_service is not None and old_service != view.service:
            self._drop_slice(ns, name)
        key = (ns, view.service)
        if self._slices.get(key, {}).get(name) == view:
            return
        self._slices.setdefault(key, {})[name] = view
        self._slice_owner[(ns, name)] = view.service
        self._recompile(key)

    def remove_slice(self, obj: dict[str, Any]) -> None:
        m = obj.get("metadata") or {}
        self._drop_slice(str(m.get("namespace") or ""), str(m.get("name") or ""))

    def set_pod(self, obj: dict[str, Any]) -> None:
        view = pod_view(obj)
        self._replace_pod((view.namespace, view.name), view)

    def remove_pod(self, obj: dict[str, Any]) -> None:
        m = obj.get("metadata") or {}
        self._replace_pod((str(m.get("namespace") or ""), str(m.get("name") or "")), None)

    # ------------------------------------------------------------------ internals
    def _drop_slice(self, ns: str, name: str) -> None:
        service = self._slice_owner.pop((ns, name), None)
        if service is None:
            return
        slices = self._slices.get((ns, service), {})
        slices.pop(name, None)
        if not slices:
            self._slices.pop((ns, service), None)
        self._recompile((ns, service))

    def _replace_pod(self, key: Key, view: PodView | None) -> None:
        old = self._pods.get(key)
        if old == view:
            return
        ns, name = key
        old_ips = set(old.ips) if old is not None and old.active else set()
        new_ips = set(view.ips) if view is not None and view.active else set()
        for ip in old_ips - new_ips:
            n = self._pod_ips[(ns, ip)] - 1
            if n:
                self._pod_ips[(ns, ip)] = n
            else:
                del self._pod_ips[(ns, ip)]
        for ip in new_ips - old_ips:
            self._pod_ips[(ns, ip)] = self._pod_ips.get((ns, ip), 0) + 1
        if old is not None and old.subdomain:
            self._subdomains.get((ns, old.subdomain), set()).discard(name)
        if view is None:
            self._pods.pop(key, None)
        else:
            self._pods[key] = view
            if view.subdomain:
                self._subdomains.setdefault((ns, view.subdomain), set()).add(name)
        for sub in {old.subdomain if old else "", view.subdomain if view else ""} - {""}:
            if not self._subdomains.get((ns, sub)):
                self._subdomains.pop((ns, sub), None)
            if (ns, sub) in self._services:
                self._recompile((ns, sub))
        if old_ips != new_ips:
            self._changed()  # `<ip>.<ns>.pod` answers depend on it when pods are verified

    def _recompile(self, key: Key) -> None:
        svc = self._services.get(key)
        if svc is None:
            new = EMPTY
        else:
            ns = key[0]
            pods = [self._pods[(ns, p)] for p in sorted(self._subdomains.get(key, ()))]
            new = compile_service(svc, self._slices.get(key, {}).values(), pods, self.zone)
        old = self._compiled.get(key, EMPTY)
        if new == old:
            return
        for n in old.names:
            del self._names[n]
            self._release(n)
        for r in old.reverse:
            sources = self._reverse[r]
            del sources[key]
            if not sources:
                del self._reverse[r]
        for n, entries in new.names.items():
            self._names[n] = entries
            self._hold(n)
        for r, targets in new.reverse.items():
            self._reverse.setdefault(r, {})[key] = targets
        if new is EMPTY:
            self._compiled.pop(key, None)
        else:
            self._compiled[key] = new
        self._changed()

    def _ancestors(self, name: str) -> Iterable[str]:
        """`name` and every name above it down to (and including) the zone."""
        suffix = "." + self.zone
        while True:
            yield name
            if name == self.zone or not name.endswith(suffix):
                return
            name = name.split(".", 1)[1]

    def _hold(self, name: str) -> None:
        for n in self._ancestors(name):
            self._present[n] = self._present.get(n, 0) + 1

    def _release(self, name: str) -> None:
        for n in self._ancestors(name):
            left = self._present[n] - 1
            if left:
                self._present[n] = left
            else:
                del self._present[n]

    def _changed(self) -> None:
        self.generation += 1
        self.serial = max(self.serial, int(self._clock()))
