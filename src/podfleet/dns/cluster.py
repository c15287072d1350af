"""Where the cluster DNS lives: the `kube-dns` Service's address, and each node's server on its pod
gateway (shared by the agent that runs a server and the controller that lists them)."""

from __future__ import annotations

import ipaddress

KUBE_DNS_NAMESPACE = "kube-system"
KUBE_DNS_NAME = "kube-dns"
KUBE_DNS_IP = "10.96.0.10"  # the tenth address of the default service range, as kubeadm picks
NODE_DNS_PORT = 10053  # where each node's server listens (53 may be taken on the host)


def gateway_of(pod_cidr: str) -> str:
    """A node's pod-network gateway: the first address of its pod CIDR (the CNI bridge's)."""
    return str(ipaddress.ip_network(pod_cidr, strict=False).network_address + 1)
