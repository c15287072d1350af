"""The ServiceAccounts controller: a `default` ServiceAccount in every namespace, put back when deleted."""

from __future__ import annotations

from controllers_helpers import Cluster
from podfleet.api.errors import NotFound
from podfleet.api.resources import NAMESPACES, SERVICEACCOUNTS


async def has_default(cluster: Cluster, namespace: str) -> bool:
    try:
        await cluster.client.get(SERVICEACCOUNTS, "default", namespace)
    except NotFound:
        return False
    return True


async def test_every_namespace_gets_a_default_service_account(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(NAMESPACES, {"metadata": {"name": "before"}})
    await cluster.start("serviceaccount")
    await cluster.eventually(lambda: has_default(cluster, "before"), "an existing namespace")
    await c.create(NAMESPACES, {"metadata": {"name": "after"}})
    await cluster.eventually(lambda: has_default(cluster, "after"), "a new namespace")
    await c.delete(SERVICEACCOUNTS, "default", "after")
    await cluster.eventually(lambda: has_default(cluster, "after"), "put back after deletion")
    # others are the users' own: deleting one is final
    await c.create(SERVICEACCOUNTS, {"metadata": {"name": "bot"}}, "after")
    await c.delete(SERVICEACCOUNTS, "bot", "after")
    await cluster.eventually(lambda: has_default(cluster, "after"))
    assert [sa["metadata"]["name"] for sa in (await c.list(SERVICEACCOUNTS, "after"))["items"]] == ["default"]
