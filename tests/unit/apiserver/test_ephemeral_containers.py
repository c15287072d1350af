"""pods/ephemeralcontainers: containers are only added, valid, uniquely named and aimed at a real
container; nothing else of the pod changes; the main resource cannot add them."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.api.errors import Invalid
from podfleet.api.resources import PODS
from podfleet.apiserver.store import Store, WriteOptions

POD = {"metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "main", "image": "busybox"}]}}


async def _pod(store: Store) -> dict[str, Any]:
    return (await store.create(PODS, "default", POD, WriteOptions())).object


def _with(pod: dict[str, Any], *ephemeral: dict[str, Any], **spec_changes: Any) -> dict[str, Any]:
    new = {**pod, "spec": {**pod["spec"], "ephemeralContainers": list(ephemeral), **spec_changes}}
    return new


async def test_adding_one_changes_only_that(store: Store) -> None:
    pod = await _pod(store)
    debugger = {"name": "dbg", "image": "busybox", "targetContainerName": "main", "stdin": True, "tty": True}
    res = await store.update(PODS, "default", "web", _with(pod, debugger, nodeName="elsewhere"), WriteOptions(),
                             subresource="ephemeralcontainers")
    spec = res.object["spec"]
    assert [c["name"] for c in spec["ephemeralContainers"]] == ["dbg"]
    assert spec["ephemeralContainers"][0]["imagePullPolicy"] == "Always"  # defaulted as any container
    assert "nodeName" not in spec  # only ephemeralContainers changes through this subresource
    # a later write through the main resource keeps them, and may not change them
    later = {**res.object, "metadata": {**res.object["metadata"], "labels": {"app": "web2"}}}
    relabelled = (await store.update(PODS, "default", "web", later, WriteOptions())).object
    assert relabelled["metadata"]["labels"] == {"app": "web2"}
    with pytest.raises(Invalid):
        await store.update(PODS, "default", "web", _with(relabelled, *relabelled["spec"]["ephemeralContainers"],
                                                         {"name": "more", "image": "busybox"}), WriteOptions())


@pytest.mark.parametrize(("ephemeral", "field", "message"), [
    ([{"name": "main", "image": "busybox"}], "spec.ephemeralContainers[0].name", "Duplicate value"),
    ([{"name": "dbg", "image": "busybox", "targetContainerName": "nope"}],
     "spec.ephemeralContainers[0].targetContainerName", "Not found"),
    ([{"name": "dbg", "image": "busybox", "ports": [{"containerPort": 80}]}],
     "spec.ephemeralContainers[0].ports", "cannot be set for an Ephemeral Container"),
    ([{"name": "dbg"}], "spec.ephemeralContainers[0].image", "Required value"),
])
async def test_invalid_ones_are_refused(store: Store, ephemeral: list[dict[str, Any]], field: str,
                                        message: str) -> None:
    pod = await _pod(store)
    with pytest.raises(Invalid) as e:
        await store.update(PODS, "default", "web", _with(pod, *ephemeral), WriteOptions(),
                           subresource="ephemeralcontainers")
    assert any(c.field == field and message in c.message for c in e.value.causes), e.value.causes


async def test_existing_ones_may_not_change_or_go(store: Store) -> None:
    pod = await _pod(store)
    first = (await store.update(PODS, "default", "web", _with(pod, {"name": "dbg", "image": "busybox"}),
                                WriteOptions(), subresource="ephemeralcontainers")).object
    changed = first["spec"]["ephemeralContainers"][0] | {"image": "busybox:2"}
    for attempt in (_with(first), _with(first, changed)):
        with pytest.raises(Invalid) as e:
            await store.update(PODS, "default", "web", attempt, WriteOptions(), subresource="ephemeralcontainers")
        assert "existing ephemeral containers" in e.value.message
