"""Cluster IPs and node ports for Services: allocated once, never handed out twice, kept across restarts.

Each allocation is a key of its own in storage (`/registry/serviceips/<ip>`,
`/registry/servicenodeports/<port>`) naming the Service that holds it, created with the storage's
create-if-absent, so two API servers on one etcd can never hand out the same address (the role of
kube-apiserver's IPAddress objects and port bitmap). The store reserves before it writes the Service
and releases what the write did not keep (`Reservation`); a crash between the two can leave a
reservation without its Service, which `repair` (run at start, when no write is in flight) frees.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from podfleet.api.errors import Cause, Invalid, invalid
from podfleet.storage.interface import KeyExists, KeyNotFound, Storage

log = logging.getLogger("podfleet.apiserver.service_alloc")

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORTS = (30000, 32767)
IP_PREFIX = "/registry/serviceips/"
PORT_PREFIX = "/registry/servicenodeports/"
SERVICES_PREFIX = "/registry/services/"
_RANDOM_TRIES = 64  # random picks before a scan for the free values that are left


def _owner(svc: dict[str, Any]) -> str:
    m = svc["metadata"]
    return f"{m.get('namespace', '')}/{m['name']}"


@dataclass
class Reservation:
    """What a Service write reserved (to undo if the write fails) and what it gave up (to free once
    the write succeeded)."""

    release_on_failure: list[str] = field(default_factory=list)
    release_on_success: list[str] = field(default_factory=list)
    _delete: Callable[[str], Awaitable[None]] | None = None

    async def rollback(self) -> None:
        for key in self.release_on_failure:
            await self._free(key)

    async def commit(self) -> None:
        for key in self.release_on_success:
            await self._free(key)

    async def _free(self, key: str) -> None:
        if self._delete is not None:
            await self._delete(key)


class ServiceAllocator:
    def __init__(self, storage: Storage, service_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_ports: tuple[int, int] = DEFAULT_NODE_PORTS, rng: random.Random | None = None) -> None:
        self.storage = storage
        self.network = ipaddress.IPv4Network(service_cidr)
        self.node_ports = node_ports
        self._rng = rng or random.Random()

    # ------------------------------------------------------------------ addresses
    @property
    def first_ip(self) -> str:
        """The `kubernetes` Service's address, as kube-apiserver reserves it."""
        return str(self.network.network_address + 1)

    def _ip_in_range(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return addr in self.network and addr not in (self.network.network_address, self.network.broadcast_address)

    async def _claim(self, key: str, owner: str, uid: str) -> bool:
        try:
            await self.storage.create(key, json.dumps({"service": owner, "uid": uid}).encode())
        except KeyExists:
            return False
        return True

    async def _free(self, key: str) -> None:
        with contextlib.suppress(KeyNotFound):
            await self.storage.delete(key)

    async def _claim_random(self, prefix: str, values: Callable[[], int], all_values: Callable[[], list[int]],
                            render: Callable[[int], str], owner: str, uid: str) -> str | None:
        for _ in range(_RANDOM_TRIES):
            value = render(values())
            if await self._claim(prefix + value, owner, uid):
                return value
        taken = {kv.key[len(prefix):] for kv in (await self.storage.list(prefix)).items}
        free = [render(v) for v in all_values() if render(v) not in taken]
        self._rng.shuffle(free)
        for value in free:
            if await self._claim(prefix + value, owner, uid):
                return value
        return None

    # ------------------------------------------------------------------ service writes
    async def reserve(self, new: dict[str, Any], old: dict[str, Any] | None) -> Reservation:
        """Reserve what `new` needs and `old` (the stored Service, None on create) did not hold; fill
        `new`'s cluster IP, IP families and node ports. Raises Invalid naming the field."""
        res = Reservation(_delete=self._free)
        try:
            await self._reserve_ip(new, old, res)
            await self._reserve_ports(new, old, res)
        except Invalid:
            await res.rollback()
            raise
        return res

    async def _reserve_ip(self, new: dict[str, Any], old: dict[str, Any] | None, res: Reservation) -> None:
        spec = new["spec"]
        old_spec = (old or {}).get("spec") or {}
        old_ip = old_spec.get("clusterIP") or ""
        holds_old = bool(old_ip) and old_ip != "None"
        if spec.get("type") == "ExternalName":
            for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                spec.pop(key, None)
            if holds_old:
                res.release_on_success.append(IP_PREFIX + old_ip)
            return
        spec["ipFamilies"] = ["IPv4"]
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
        wanted = spec.get("clusterIP") or ""
        if old is not None and old_spec.get("type") != "ExternalName" and (not wanted or wanted == old_ip):
            spec["clusterIP"], spec["clusterIPs"] = old_ip, [old_ip]  # kept as stored (immutable)
            return
        if wanted == "None":
            spec["clusterIPs"] = ["None"]
            return
        owner, uid = _owner(new), new["metadata"].get("uid", "")
        if wanted:
            if not self._ip_in_range(wanted):
                raise _invalid(new, "spec.clusterIPs", [wanted], f"failed to allocate IP {wanted}: the provided IP "
                               f"({wanted}) is not in the valid range. The range of valid IPs is {self.network}")
            if not await self._claim(IP_PREFIX + wanted, owner, uid):
                raise _invalid(new, "spec.clusterIPs", [wanted],
                               f"failed to allocate IP {wanted}: provided IP is already allocated")
        else:
            base, size = int(self.network.network_address), self.network.num_addresses
            claimed = await self._claim_random(
                IP_PREFIX, lambda: base + self._rng.randrange(2, size - 1),  # .1 is the kubernetes Service's
                lambda: list(range(base + 2, base + size - 1)), lambda v: str(ipaddress.IPv4Address(v)), owner, uid)
            if claimed is None:
                raise _invalid(new, "spec.clusterIPs", [], "failed to allocate IP: range is full")
            wanted = claimed
        res.release_on_failure.append(IP_PREFIX + wanted)
        spec["clusterIP"], spec["clusterIPs"] = wanted, [wanted]

    async def _reserve_ports(self, new: dict[str, Any], old: dict[str, Any] | None, res: Reservation) -> None:
        spec = new["spec"]
        old_spec = (old or {}).get("spec") or {}
        held = {p.get("nodePort") for p in old_spec.get("ports") or [] if p.get("nodePort")}
        wants_ports = spec.get("type") == "NodePort" or (
            spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))
        keep: set[int] = set()
        owner, uid = _owner(new), new["metadata"].get("uid", "")
        low, high = self.node_ports
        for i, port in enumerate(spec.get("ports") or []):
            if not wants_ports:
                port.pop("nodePort", None)
                continue
            wanted = port.get("nodePort") or 0
            if wanted and (wanted in held or wanted in keep):
                keep.add(wanted)
                continue
            if wanted:
                if not low <= wanted <= high:
                    raise _invalid(new, f"spec.ports[{i}].nodePort", wanted, f"provided port is not in the valid "
                                   f"range. The range of valid ports is {low}-{high}")
                if not await self._claim(f"{PORT_PREFIX}{wanted}", owner, uid):
                    raise _invalid(new, f"spec.ports[{i}].nodePort", wanted, "provided port is already allocated")
            else:
                claimed = await self._claim_random(PORT_PREFIX, lambda: self._rng.randint(low, high),
                                                   lambda: list(range(low, high + 1)), str, owner, uid)
                if claimed is None:
                    raise _invalid(new, f"spec.ports[{i}].nodePort", 0, "range is full")
                wanted = int(claimed)
                port["nodePort"] = wanted
            res.release_on_failure.append(f"{PORT_PREFIX}{wanted}")
            keep.add(wanted)
        res.release_on_success += [f"{PORT_PREFIX}{p}" for p in sorted(held - keep)]

    async def release(self, svc: dict[str, Any]) -> None:
        """Free everything a deleted Service held."""
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        if ip and ip != "None":
            await self._free(IP_PREFIX + ip)
        for port in spec.get("ports") or []:
            if port.get("nodePort"):
                await self._free(f"{PORT_PREFIX}{port['nodePort']}")

    async def repair(self) -> int:
        """Free reservations whose Service is gone or no longer holds them; returns how many."""
        services = {}
        for kv in (await self.storage.list(SERVICES_PREFIX)).items:
            svc = json.loads(kv.value)
            services[_owner(svc)] = svc
        freed = 0
        for prefix in (IP_PREFIX, PORT_PREFIX):
            for kv in (await self.storage.list(prefix)).items:
                value = kv.key[len(prefix):]
                svc = services.get(json.loads(kv.value).get("service", ""))
                spec = (svc or {}).get("spec") or {}
                held = spec.get("clusterIP") == value if prefix == IP_PREFIX else any(
                    str(p.get("nodePort")) == value for p in spec.get("ports") or [])
                if not held:
                    await self._free(kv.key)
                    freed += 1
        if freed:
            log.info("freed service allocations without a service", extra={"count": freed})
        return freed


def _invalid(svc: dict[str, Any], field_path: str, value: Any, detail: str) -> Invalid:
    from podfleet.api.validation_common import go_value

    return invalid("Service", svc["metadata"].get("name", ""),
                   [Cause(field_path, f"Invalid value: {go_value(value)}: {detail}")])
