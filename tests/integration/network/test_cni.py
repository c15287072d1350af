"""Real CNI plugins (bridge, host-local, portmap, loopback) on a bridge and subnet unique to the test."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podfleet import nspin
from podfleet.network.cni import CNINetwork, netns_name
from podfleet.network.config import default_conflist
from podfleet.network.interface import NetworkError, PodRef
from podfleet.network.netns import netns_path
from runtime_helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[tuple[CNINetwork, str]]:
    bridge = unique("pftbr")
    cidr = "10.251.7.0/24"
    n = CNINetwork(default_conflist(pod_cidr=cidr, bridge=bridge, ipam_dir=tmp_path / "ipam"),
                   cache_dir=tmp_path / "cache")
    yield n, bridge
    subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


def pod(name: str) -> PodRef:
    return PodRef("default", name, f"uid-{name}", unique("sb"))


async def test_two_pods_get_ips_and_reach_each_other(net: tuple[CNINetwork, str], tmp_path: Path) -> None:
    cni, bridge = net
    a, b = pod("a"), pod("b")
    sa, sb = await cni.setup(a), await cni.setup(b)
    try:
        assert sa.ips and sb.ips and sa.ips != sb.ips
        assert all(ip.startswith("10.251.7.") for ip in sa.ips + sb.ips)
        assert sa.gateway == "10.251.7.1"
        # Listen in pod A; connect from pod B and from the host (traffic only to our own namespaces).
        listener = subprocess.Popen(["ip", "netns", "exec", netns_name(a), "busybox", "nc", "-l", "-p", "7777"],
                                    stdout=subprocess.PIPE)
        await asyncio.sleep(0.3)
        subprocess.run(["ip", "netns", "exec", netns_name(b), "sh", "-c",
                        f"echo from-b | busybox nc -w 2 {sa.ips[0]} 7777"], check=True, timeout=10)
        out, _ = listener.communicate(timeout=10)
        assert out.strip() == b"from-b"
        listener = subprocess.Popen(["ip", "netns", "exec", netns_name(b), "busybox", "nc", "-l", "-p", "7778"],
                                    stdout=subprocess.PIPE)
        await asyncio.sleep(0.3)
        subprocess.run(["sh", "-c", f"echo from-host | busybox nc -w 2 {sb.ips[0]} 7778"], check=True, timeout=10)
        out, _ = listener.communicate(timeout=10)
        assert out.strip() == b"from-host"
    finally:
        await cni.teardown(a)
        await cni.teardown(b)
    assert not netns_path(netns_name(a)).exists()
    ipam = tmp_path / "ipam" / "podfleet"
    assert not [p for p in ipam.iterdir() if p.name.startswith("10.")] if ipam.exists() else True
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"master {bridge}" not in links  # no veth left on the bridge
    await cni.teardown(a)  # idempotent


async def test_failing_plugin_leaves_nothing(tmp_path: Path) -> None:
    conf = default_conflist(pod_cidr="10.251.8.0/24", bridge=unique("pftbr"), ipam_dir=tmp_path / "ipam")
    conf["plugins"].append({"type": "no-such-plugin"})
    cni = CNINetwork(conf, cache_dir=tmp_path / "cache")
    p = pod("x")
    try:
        with pytest.raises(NetworkError, match="no-such-plugin"):
            await cni.setup(p)
        assert not netns_path(netns_name(p)).exists()
        assert not list((tmp_path / "ipam" / "podfleet").glob("10.*"))
    finally:
        subprocess.run(["ip", "link", "del", conf["plugins"][0]["bridge"]], check=False, capture_output=True)


async def test_loopback_runs_beside_the_chain_and_a_failure_waits_for_both(tmp_path: Path) -> None:
    """`lo` comes up while the conflist's plugins run; if either fails, teardown starts only after
    the other has finished, so DEL never races an ADD still in progress."""
    bin_dir, trace = tmp_path / "bin", tmp_path / "trace"
    bin_dir.mkdir()
    for name, script in {
        "loopback": f'cat >/dev/null; echo "lo $CNI_COMMAND start" >>{trace}; sleep 0.3; '
                    f'echo "lo $CNI_COMMAND end" >>{trace}; [ "$CNI_COMMAND" = DEL ] || '
                    '{ echo \'{"code":11,"msg":"lo broke"}\'; exit 1; }',
        "slow": f'cat >/dev/null; echo "slow $CNI_COMMAND start" >>{trace}; sleep 0.3; '
                f'echo "slow $CNI_COMMAND end" >>{trace}; echo \'{{"cniVersion":"1.0.0"}}\'',
    }.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / name).chmod(0o755)
    cni = CNINetwork({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "slow"}]},
                     cache_dir=tmp_path / "cache", cni_path=str(bin_dir))
    p = pod("lo-fails")
    with pytest.raises(NetworkError, match="lo broke"):
        await cni.setup(p)
    lines = trace.read_text().splitlines()
    assert lines.index("slow ADD start") < lines.index("lo ADD end")  # side by side, not one after the other
    assert lines.index("slow DEL start") > lines.index("slow ADD end")  # teardown after the chain finished
    assert not netns_path(netns_name(p)).exists()


async def test_a_namespace_given_by_the_caller_is_plugged_and_left_to_the_caller(
        net: tuple[CNINetwork, str], tmp_path: Path) -> None:
    cni, _ = net
    holder = await nspin.hold(("net",), ["busybox", "sleep", "600"])
    given = f"/proc/{holder}/ns/net"
    ref = PodRef("default", "given", "uid-given", unique("sb"), netns=given)
    try:
        st = await cni.setup(ref)
        assert st.netns == given and not netns_path(netns_name(ref)).exists()  # no named namespace made
        addrs = subprocess.run(["nsenter", f"--net={given}", "ip", "-o", "-4", "addr", "show", "eth0"],
                               capture_output=True, text=True, check=True).stdout
        assert f"inet {st.ips[0]}/" in addrs
        ipam_file = tmp_path / "ipam" / "podfleet" / st.ips[0]
        assert ipam_file.exists()
    finally:
        await nspin.release(holder)
    # The holder (and with it the namespace) went first: DEL runs without a namespace and frees the IP.
    await cni.teardown(PodRef("default", "given", "uid-given", ref.sandbox_id, netns=""))
    assert not ipam_file.exists()


async def test_setup_refuses_an_empty_namespace(net: tuple[CNINetwork, str]) -> None:
    cni, _ = net
    with pytest.raises(NetworkError, match="no network namespace"):
        await cni.setup(PodRef("default", "x", "uid-x", unique("sb"), netns=""))
