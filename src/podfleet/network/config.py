"""The node's CNI network configuration: bridge + host-local IPAM over the node's pod CIDR,
portmap for hostPorts, and loopback — or a user-supplied conflist file."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

CNI_VERSION = "1.0.0"


def pod_gateway(pod_cidr: str) -> str:
    """The node's address on its pod bridge: the CIDR's first host (what pods route through)."""
    return str(next(ipaddress.ip_network(pod_cidr).hosts()))


def default_conflist(*, pod_cidr: str, bridge: str, ipam_dir: Path, network_name: str = "podfleet",
                     ip_masq: bool = False, mtu: int = 1500) -> dict[str, Any]:
    net = ipaddress.ip_network(pod_cidr)
    gateway = pod_gateway(pod_cidr)
    if len(bridge) > 15:
        raise ValueError(f"bridge name {bridge!r} is longer than 15 characters")
    return {
        "cniVersion": CNI_VERSION,
        "name": network_name,
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": ip_masq, "hairpinMode": True,
             "mtu": mtu,
             "ipam": {"type": "host-local", "dataDir": str(ipam_dir),
                      "ranges": [[{"subnet": str(net), "gateway": gateway}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }


def load_conflist(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    if "plugins" not in data:  # a single-plugin .conf file
        data = {"cniVersion": data.get("cniVersion", CNI_VERSION), "name": data.get("name", "podfleet"),
                "plugins": [data]}
    return data
