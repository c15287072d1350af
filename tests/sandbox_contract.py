"""The `PodSandboxes` contract: one suite of checks the real sandboxes (namespaces + CNI + /etc
files, as root) and the fake must both pass. Each test module hands the checks a `SandboxHarness`."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from podfleet.agent.sandboxes.interface import PodSandboxes, SandboxError


@dataclass
class SandboxHarness:
    sandboxes: PodSandboxes
    cidr: str
    node_ip: str
    lose: Callable[[str], Awaitable[None]]  # make a sandbox's namespaces vanish (its holder killed)
    broken: PodSandboxes  # one whose network refuses every pod
    reopen: Callable[[], PodSandboxes]  # the same node's sandboxes as a restarted agent finds them


def pod(name: str, uid: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"containers": [{"name": "main", "image": "busybox"}], **spec}}


async def check_create_inspect_remove(h: SandboxHarness) -> None:
    s = await h.sandboxes.create(pod("web", "uid-web"))
    try:
        assert s.ready and len(s.ips) == 1 and ipaddress.ip_address(s.ips[0]) in ipaddress.ip_network(h.cidr)
        assert (s.namespace, s.name, s.uid) == ("default", "web", "uid-web") and not s.host_network
        assert s.netns and s.ipcns and s.utsns
        assert s.etc.hostname.read_text() == "web\n"
        assert f"{s.ips[0]}\tweb" in s.etc.hosts.read_text() and s.etc.resolv_conf.exists()
        assert h.sandboxes.inspect("uid-web") == s and "uid-web" in h.sandboxes.uids()
    finally:
        await h.sandboxes.remove("uid-web")
    assert h.sandboxes.inspect("uid-web") is None and "uid-web" not in h.sandboxes.uids()
    assert not s.etc.hosts.exists() and not s.etc.hostname.exists()
    await h.sandboxes.remove("uid-web")  # idempotent


async def check_two_pods_get_their_own_ips_and_ids(h: SandboxHarness) -> None:
    a = await h.sandboxes.create(pod("a", "uid-a"))
    b = await h.sandboxes.create(pod("b", "uid-b"))
    try:
        assert a.ips != b.ips and a.id != b.id and a.netns != b.netns
    finally:
        await h.sandboxes.remove("uid-a")
        await h.sandboxes.remove("uid-b")


async def check_a_new_sandbox_has_a_new_id(h: SandboxHarness) -> None:
    first = await h.sandboxes.create(pod("p", "uid-p"))
    await h.sandboxes.remove("uid-p")
    second = await h.sandboxes.create(pod("p", "uid-p"))
    try:
        assert second.id != first.id and second.ready
    finally:
        await h.sandboxes.remove("uid-p")


async def check_host_network_uses_the_node(h: SandboxHarness) -> None:
    s = await h.sandboxes.create(pod("hn", "uid-hn", hostNetwork=True))
    try:
        assert s.host_network and s.ips == (h.node_ip,) and s.ready
        assert (s.netns, s.ipcns, s.utsns) == ("", "", "")
    finally:
        await h.sandboxes.remove("uid-hn")
    assert h.sandboxes.inspect("uid-hn") is None


async def check_lost_namespaces_make_it_not_ready(h: SandboxHarness) -> None:
    await h.sandboxes.create(pod("l", "uid-l"))
    try:
        await h.lose("uid-l")
        s = h.sandboxes.inspect("uid-l")
        assert s is not None and not s.ready
    finally:
        await h.sandboxes.remove("uid-l")
    assert h.sandboxes.inspect("uid-l") is None


async def check_a_failed_create_leaves_nothing(h: SandboxHarness) -> None:
    with pytest.raises(SandboxError, match="Failed to create pod sandbox"):
        await h.broken.create(pod("f", "uid-f"))
    assert h.broken.inspect("uid-f") is None and "uid-f" not in h.broken.uids()


async def check_a_restarted_agent_finds_the_sandbox(h: SandboxHarness) -> None:
    ports = [{"containerPort": 80, "hostPort": 18080}]
    s = await h.sandboxes.create(pod("r", "uid-r", containers=[{"name": "m", "image": "b", "ports": ports}]))
    try:
        found = h.reopen().inspect("uid-r")
        assert found == s and found.port_mappings[0].host_port == 18080
    finally:
        await h.reopen().remove("uid-r")
    assert h.reopen().inspect("uid-r") is None


async def check_removing_an_unknown_pod_is_fine(h: SandboxHarness) -> None:
    await h.sandboxes.remove("uid-never-seen")
    assert h.sandboxes.inspect("uid-never-seen") is None


async def check_a_shared_pid_namespace_is_made_once(h: SandboxHarness) -> None:
    await h.sandboxes.create(pod("pid", "uid-pid", shareProcessNamespace=True))
    try:
        first = await h.sandboxes.pid_namespace("uid-pid")
        assert first and await h.sandboxes.pid_namespace("uid-pid") == first
    finally:
        await h.sandboxes.remove("uid-pid")


CHECKS = [check_create_inspect_remove, check_two_pods_get_their_own_ips_and_ids, check_a_new_sandbox_has_a_new_id,
          check_host_network_uses_the_node, check_lost_namespaces_make_it_not_ready,
          check_a_failed_create_leaves_nothing, check_a_restarted_agent_finds_the_sandbox,
          check_removing_an_unknown_pod_is_fine, check_a_shared_pid_namespace_is_made_once]
