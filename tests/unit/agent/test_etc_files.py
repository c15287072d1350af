"""Per-pod hosts/hostname/resolv.conf content."""

from __future__ import annotations

from pathlib import Path

from podfleet.agent.etc_files import ClusterDNSConfig, hosts_content, resolv_conf_content, write_etc_files

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "u"},
       "spec": {"hostAliases": [{"ip": "10.1.2.3", "hostnames": ["db", "db.local"]}]}}


def test_hosts_maps_localhost_and_pod_ip_to_name() -> None:
    text = hosts_content(POD, ["10.244.0.7"])
    assert "127.0.0.1\tlocalhost" in text
    assert "10.244.0.7\tweb" in text
    assert "10.1.2.3\tdb db.local" in text


def test_resolv_conf_follows_dns_policy() -> None:
    host = "nameserver 1.1.1.1\nsearch example.org\noptions ndots:2\n"
    assert resolv_conf_content(POD, host) == "nameserver 1.1.1.1\nsearch example.org\noptions ndots:2\n"
    none_pod = {"metadata": POD["metadata"], "spec": {"dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["9.9.9.9"], "searches": ["a.b"], "options": [{"name": "ndots", "value": "5"}]}}}
    assert resolv_conf_content(none_pod, host) == "nameserver 9.9.9.9\nsearch a.b\noptions ndots:5\n"


def test_write_etc_files(tmp_path: Path) -> None:
    files = write_etc_files(tmp_path / "pod", POD, ["10.244.0.7"])
    assert files.hostname.read_text() == "web\n"
    assert "10.244.0.7\tweb" in files.hosts.read_text()
    assert files.resolv_conf.exists()


def test_cluster_first_pods_resolve_through_the_cluster_dns() -> None:
    host = "nameserver 1.1.1.1\nsearch example.org\noptions ndots:2 edns0\n"
    dns = ClusterDNSConfig("10.96.0.10", "cluster.local")
    assert resolv_conf_content(POD, host, dns) == (
        "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local example.org\n"
        "options ndots:5\n")
    host_net = {"metadata": POD["metadata"], "spec": {"hostNetwork": True}}
    assert resolv_conf_content(host_net, host, dns, host_network=True).startswith("nameserver 1.1.1.1\n")
    with_host_net = {"metadata": POD["metadata"], "spec": {"hostNetwork": True,
                                                           "dnsPolicy": "ClusterFirstWithHostNet"}}
    assert resolv_conf_content(with_host_net, host, dns, host_network=True).startswith("nameserver 10.96.0.10\n")
    default = {"metadata": POD["metadata"], "spec": {"dnsPolicy": "Default"}}
    assert resolv_conf_content(default, host, dns) == host
    tuned = {"metadata": POD["metadata"], "spec": {"dnsConfig": {"options": [{"name": "ndots", "value": "2"}],
                                                                 "searches": ["extra.org"]}}}
    assert resolv_conf_content(tuned, host, dns).endswith("cluster.local example.org extra.org\noptions ndots:2\n")
