"""The `PodNetwork` contract: checks the CNI network (real plugins, as root) and the fake both pass."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from podfleet.network.interface import NetworkError, PodNetwork, PodRef


@dataclass
class NetworkHarness:
    network: PodNetwork
    cidr: str
    broken: PodNetwork  # refuses every pod


def ref(name: str) -> PodRef:
    return PodRef("default", name, f"uid-{name}", f"sb{name}")


async def check_setup_gives_an_ip_of_the_range(h: NetworkHarness) -> None:
    st = await h.network.setup(ref("a"))
    try:
        assert st.netns and len(st.ips) == 1
        assert ipaddress.ip_address(st.ips[0]) in ipaddress.ip_network(h.cidr)
    finally:
        await h.network.teardown(ref("a"))


async def check_two_pods_two_ips(h: NetworkHarness) -> None:
    a, b = await h.network.setup(ref("a")), await h.network.setup(ref("b"))
    try:
        assert a.ips != b.ips and a.netns != b.netns
    finally:
        await h.network.teardown(ref("a"))
        await h.network.teardown(ref("b"))


async def check_teardown_is_idempotent(h: NetworkHarness) -> None:
    await h.network.setup(ref("t"))
    await h.network.teardown(ref("t"))
    await h.network.teardown(ref("t"))
    await h.network.teardown(ref("never"))  # a pod never set up


async def check_a_released_pod_can_be_set_up_again(h: NetworkHarness) -> None:
    await h.network.setup(ref("again"))
    await h.network.teardown(ref("again"))
    st = await h.network.setup(ref("again"))
    try:
        assert st.ips
    finally:
        await h.network.teardown(ref("again"))


async def check_failure_is_a_network_error(h: NetworkHarness) -> None:
    with pytest.raises(NetworkError):
        await h.broken.setup(ref("f"))
    await h.broken.teardown(ref("f"))  # safe after a failed setup


CHECKS = [check_setup_gives_an_ip_of_the_range, check_two_pods_two_ips, check_teardown_is_idempotent,
          check_a_released_pod_can_be_set_up_again, check_failure_is_a_network_error]
