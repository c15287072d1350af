"""The root CA publisher: `kube-root-ca.crt` with the cluster CA in every live namespace, put back
when edited or deleted."""

from __future__ import annotations

from controllers_helpers import Cluster
from podfleet.api.errors import NotFound
from podfleet.api.resources import CONFIGMAPS, NAMESPACES
from podfleet.controllers.rootcacert import CONFIGMAP_NAME

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


async def published(cluster: Cluster, namespace: str) -> bool:
    try:
        cm = await cluster.client.get(CONFIGMAPS, CONFIGMAP_NAME, namespace)
    except NotFound:
        return False
    return cm.get("data") == {"ca.crt": CA}


async def test_every_namespace_gets_the_ca_and_keeps_it(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(NAMESPACES, {"metadata": {"name": "before"}})
    await cluster.start("root-ca-cert-publisher", root_ca_pem=CA)
    await cluster.eventually(lambda: published(cluster, "before"), "an existing namespace")
    await c.create(NAMESPACES, {"metadata": {"name": "after"}})
    await cluster.eventually(lambda: published(cluster, "after"), "a new namespace")
    cm = await c.get(CONFIGMAPS, CONFIGMAP_NAME, "after")
    assert "kubernetes.io/description" in cm["metadata"]["annotations"]
    await c.update(CONFIGMAPS, {**cm, "data": {"ca.crt": "forged"}})
    await cluster.eventually(lambda: published(cluster, "after"), "put back after an edit")
    await c.delete(CONFIGMAPS, CONFIGMAP_NAME, "after")
    await cluster.eventually(lambda: published(cluster, "after"), "put back after deletion")


async def test_without_a_ca_the_publisher_does_not_run(cluster: Cluster) -> None:
    manager = await cluster.start("root-ca-cert-publisher")
    assert manager.root_ca_publisher is None
