"""OwnerReferences: build them, read them, and claim objects for a controller (adopt / release).

As Kubernetes' ControllerRefManager: an orphan that matches a controller's selector is adopted (a
controller ownerReference is added); an owned object that no longer matches is released (the
reference is removed). Writes carry the object's resourceVersion, so a concurrent change makes the
claim fail with Conflict and the controller retries instead of overwriting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from podfleet.api.errors import NotFound
from podfleet.api.meta import controller_ref, labels_of
from podfleet.api.resources import ResourceType
from podfleet.client.interface import Client
from podfleet.controllers.podutil import is_terminating
from podfleet.controllers.selection import selector_matches


def owner_reference(owner: dict[str, Any], *, controller: bool = True,
                    block_owner_deletion: bool = True) -> dict[str, Any]:
    m = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": m["name"], "uid": m["uid"],
            "controller": controller, "blockOwnerDeletion": block_owner_deletion}


def owner_references(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("metadata") or {}).get("ownerReferences") or [])


def resolve_controller(obj: dict[str, Any], kind: str,
                       get: Callable[[str, str], dict[str, Any] | None]) -> dict[str, Any] | None:
    """The object's controller of `kind` as `get(name, namespace)` (an informer's) has it, only when it is
    the very one the reference names (same uid: not a namesake made since)."""
    ref = controller_ref(obj)
    if ref is None or ref.get("kind") != kind:
        return None
    owner = get(str(ref.get("name", "")), str(obj["metadata"].get("namespace", "")))
    return owner if owner is not None and owner["metadata"].get("uid") == ref.get("uid") else None


def selecting(obj: dict[str, Any], owners: Iterable[dict[str, Any]],
              selector_of: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """The would-be controllers in the object's namespace whose selector matches its labels (an orphan's
    candidates for adoption)."""
    ns, labels = obj["metadata"].get("namespace", ""), labels_of(obj)
    return [o for o in owners if o["metadata"].get("namespace") == ns and selector_matches(selector_of(o), labels)]


def controller_uid(obj: dict[str, Any]) -> str:
    ref = controller_ref(obj)
    return str(ref.get("uid") or "") if ref else ""


async def adopt(client: Client, rt: ResourceType, owner: dict[str, Any],
                obj: dict[str, Any]) -> dict[str, Any]:
    m = obj["metadata"]
    refs = [r for r in owner_references(obj) if r.get("uid") != owner["metadata"]["uid"]]
    refs.append(owner_reference(owner))
    return await client.patch(rt, m["name"], {"metadata": {"ownerReferences": refs,
                                                            "resourceVersion": m.get("resourceVersion")}},
                              m.get("namespace", ""))


async def release(client: Client, rt: ResourceType, owner_uid: str, obj: dict[str, Any]) -> dict[str, Any]:
    return await remove_owner_references(client, rt, obj, {owner_uid})


async def remove_owner_references(client: Client, rt: ResourceType, obj: dict[str, Any],
                                  uids: set[str]) -> dict[str, Any]:
    m = obj["metadata"]
    refs = [r for r in owner_references(obj) if r.get("uid") not in uids]
    return await client.patch(rt, m["name"], {"metadata": {"ownerReferences": refs or None,
                                                            "resourceVersion": m.get("resourceVersion")}},
                              m.get("namespace", ""))


async def claim(client: Client, rt: ResourceType, owner: dict[str, Any], candidates: list[dict[str, Any]],
                matches: Callable[[dict[str, Any]], bool],
                can_adopt: Callable[[], Awaitable[bool]]) -> list[dict[str, Any]]:
    """The candidates this owner controls after adopting matching orphans and releasing non-matching."""
    uid = owner["metadata"]["uid"]
    owner_deleting = is_terminating(owner)
    adoptable: bool | None = None
    claimed: list[dict[str, Any]] = []
    for obj in candidates:
        ref_uid = controller_uid(obj)
        if ref_uid:
            if ref_uid != uid:
                continue
            if matches(obj):
                claimed.append(obj)
            elif not owner_deleting:
                with contextlib.suppress(NotFound):
                    await release(client, rt, uid, obj)
            continue
        if owner_deleting or is_terminating(obj) or not matches(obj):
            continue
        if adoptable is None:
            adoptable = await can_adopt()
        if not adoptable:
            continue
        try:
            claimed.append(await adopt(client, rt, owner, obj))
        except NotFound:
            continue
    return claimed


def fresh_owner_check(client: Client, rt: ResourceType,
                      owner: dict[str, Any]) -> Callable[[], Awaitable[bool]]:
    """Before adopting, re-read the owner: it must still exist with the same uid and not be deleting."""
    async def check() -> bool:
        m = owner["metadata"]
        try:
            fresh = await client.get(rt, m["name"], m.get("namespace", ""))
        except NotFound:
            return False
        return bool(fresh["metadata"].get("uid") == m["uid"] and not is_terminating(fresh))

    return check
