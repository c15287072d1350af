"""ControllerRevision history shared by the DaemonSet and StatefulSet controllers (upstream's
pkg/controller/history and the two controllers' getPatch/newRevision).

A revision holds the strategic merge patch that puts the owner's pod template back (`$patch:
replace`, what `kubectl rollout undo` applies), is named `<owner>-<hash of the template>`, carries
the template's labels plus a hash label, and is owned by its controller. `History.construct` finds
(or creates, or renumbers to the newest when rolling back to it) the revision matching the owner's
current template; `History.cleanup` prunes old revisions beyond `revisionHistoryLimit` that nothing
still uses.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from typing import Any

from podfleet.api.errors import AlreadyExists, Conflict, NotFound
from podfleet.api.meta import controller_ref, labels_of
from podfleet.api.resources import CONTROLLERREVISIONS, ResourceType
from podfleet.client.informer import Informer
from podfleet.client.interface import Client
from podfleet.controllers.deployment_util import fnv32a, safe_encode
from podfleet.controllers.ownership import claim, fresh_owner_check, owner_reference
from podfleet.controllers.selection import selector_matches

DEFAULT_HISTORY_LIMIT = 10
Obj = dict[str, Any]


def _template(owner: Obj) -> Obj:
    t = (owner.get("spec") or {}).get("template")
    return t if isinstance(t, dict) else {}


def revision_data(owner: Obj) -> Obj:
    """getPatch: the strategic merge patch that puts this template back (`kubectl rollout undo` applies it)."""
    tmpl = copy.deepcopy(_template(owner))
    tmpl["$patch"] = "replace"
    return {"spec": {"template": tmpl}}


def revision_hash(owner: Obj, collision_count: int | None) -> str:
    """ComputeHash of the template (with the collision count, when there is one)."""
    data = json.dumps(_template(owner), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def revision_matches(owner: Obj, revision: Obj) -> bool:
    return revision.get("data") == revision_data(owner)


def revision_number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


class History:
    """The ControllerRevisions of one kind of owner (`owner_rt`), labelled with `hash_label`."""

    def __init__(self, client: Client, informer: Informer, owner_rt: ResourceType, hash_label: str) -> None:
        self.client = client
        self.informer = informer
        self.owner_rt = owner_rt
        self.hash_label = hash_label

    async def construct(self, owner: Obj) -> tuple[Obj, list[Obj]]:
        """The revision of the owner's current template (created, or renumbered to the newest) and the others."""
        ns = owner["metadata"].get("namespace", "")
        selector = (owner.get("spec") or {}).get("selector")
        candidates = [r for r in self.informer.items() if r["metadata"].get("namespace") == ns]
        revisions = await claim(self.client, CONTROLLERREVISIONS, owner, candidates,
                                lambda r: selector_matches(selector, labels_of(r)),
                                fresh_owner_check(self.client, self.owner_rt, owner))
        matching = [r for r in revisions if revision_matches(owner, r)]
        old = [r for r in revisions if not revision_matches(owner, r)]
        max_revision = max((revision_number(r) for r in revisions), default=0)
        if matching:
            current = max(matching, key=revision_number)
            old += [r for r in matching if r is not current]
            if revision_number(current) < max_revision:
                m = current["metadata"]
                current = await self.client.patch(CONTROLLERREVISIONS, m["name"], {"revision": max_revision + 1}, ns)
            return current, old
        return await self._snapshot(owner, max_revision + 1), old

    async def _snapshot(self, owner: Obj, number: int) -> Obj:
        m = owner["metadata"]
        collision_count = (owner.get("status") or {}).get("collisionCount")
        hash_ = revision_hash(owner, collision_count)
        tmpl_labels = (_template(owner).get("metadata") or {}).get("labels") or {}
        revision: Obj = {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": f"{m['name']}-{hash_}", "namespace": m.get("namespace", ""),
                         "labels": {**tmpl_labels, self.hash_label: hash_},
                         "ownerReferences": [owner_reference(owner)]},
            "data": revision_data(owner), "revision": number,
        }
        if m.get("annotations"):
            revision["metadata"]["annotations"] = dict(m["annotations"])
        try:
            return await self.client.create(CONTROLLERREVISIONS, revision, m.get("namespace", ""))
        except AlreadyExists:
            existing = await self.client.get(CONTROLLERREVISIONS, revision["metadata"]["name"], m.get("namespace", ""))
            ref = controller_ref(existing)
            if ref is not None and ref.get("uid") == m.get("uid") and revision_matches(owner, existing):
                return existing
            # A hash collision with someone else's revision: count it, so the next hash differs.
            status = dict(owner.get("status") or {})
            status["collisionCount"] = int(collision_count or 0) + 1
            await self.client.update(self.owner_rt, {**owner, "status": status}, "status")
            raise Conflict(f"found a hash collision for {self.owner_rt.kind} {m['name']!r}: "
                           "bumped collisionCount") from None

    async def cleanup(self, owner: Obj, old: list[Obj], in_use: Callable[[Obj], bool]) -> None:
        """Delete the oldest revisions beyond `revisionHistoryLimit`, never one `in_use`."""
        limit = (owner.get("spec") or {}).get("revisionHistoryLimit")
        limit = DEFAULT_HISTORY_LIMIT if limit is None else int(limit)
        to_kill = len(old) - limit
        if to_kill <= 0:
            return
        for rev in sorted(old, key=revision_number):
            if to_kill <= 0:
                break
            if in_use(rev):
                continue
            m = rev["metadata"]
            with contextlib.suppress(NotFound):
                await self.client.delete(CONTROLLERREVISIONS, m["name"], m.get("namespace", ""))
            to_kill -= 1
