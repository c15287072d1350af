"""`RBACAuthorizer`: the `Authorizer` of `auth.py` deciding by RBAC, from an in-memory `Policy`.

The policy is kept current by watching the four RBAC kinds (`PolicyFeed`): from the API server's
own `Store` (its `watch` with the WatchList initial-events bookmark, so a relist after a compacted
resourceVersion replaces what it held and objects deleted meanwhile go), or from anything else
that calls `Policy.apply_event` or registers `Policy.handler(kind)` on an informer. Requests are
decided synchronously from memory; nothing is read from storage per request, and bindings are
indexed by the subjects they name, so the cost of a check does not grow with the number of
bindings of other users.

`system:masters` is always allowed, as kube-apiserver's privileged-group authorizer does ahead of
RBAC. Until every kind has been listed once nothing else is allowed: the server should wait for
`wait_synced()` before it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from podfleet.api.errors import Gone
from podfleet.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES, ResourceType
from podfleet.apiserver.auth import MASTERS_GROUP, DecidingAuthorizer, Decision, RequestAttributes, UserInfo
from podfleet.apiserver.rbac.escalation import FULL_AUTHORITY
from podfleet.apiserver.rbac.evaluate import Policy, RulesReview
from podfleet.apiserver.store import ListOptions, WatchEventOut
from podfleet.clock import Clock, RealClock
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.rbac")

RBAC_RESOURCES: tuple[ResourceType, ...] = (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class RBACAuthorizer(DecidingAuthorizer):
    """Decides requests by RBAC. `policy` is the view it decides from (a fresh empty one by default);
    give `source` (the API server's `Store`) and call `start()` to keep it current by watching."""

    def __init__(self, source: WatchSource | None = None, *, policy: Policy | None = None,
                 clock: Clock | None = None, retry_seconds: float = 0.5) -> None:
        self.policy = policy if policy is not None else Policy()
        self.feed = PolicyFeed(source, self.policy, clock=clock, retry_seconds=retry_seconds) \
            if source is not None else None

    # -------------------------------------------------------------- lifecycle of the feed

    def start(self) -> None:
        if self.feed is not None:
            self.feed.start()

    async def stop(self) -> None:
        if self.feed is not None:
            await self.feed.stop()

    async def wait_synced(self, timeout: float | None = None) -> None:
        if self.feed is not None:
            await self.feed.wait_synced(timeout)

    @property
    def synced(self) -> bool:
        return self.feed is None or self.feed.synced

    # -------------------------------------------------------------- deciding

    def decide(self, attrs: RequestAttributes) -> Decision:
        """Allow, or no opinion (with kube-apiserver's reason) for a union of authorizers to go on."""
        if MASTERS_GROUP in attrs.user.groups:
            return Decision(True, "")
        if not self.synced:
            return Decision(False, "RBAC: the authorization policy has not been read yet")
        return self.policy.authorize(attrs)

    def rules_for(self, user: UserInfo, namespace: str) -> RulesReview:
        """What SelfSubjectRulesReview reports: every rule that applies to `user` in `namespace`
        (for `system:masters` first the full authority it has anyway, as the union of
        kube-apiserver's authorizers lists it)."""
        review = self.policy.rules_for(user, namespace)
        if MASTERS_GROUP in user.groups:
            full = RulesReview(
                resource_rules=[{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                non_resource_rules=[{"verbs": list(r.verbs), "nonResourceURLs": list(r.non_resource_urls)}
                                    for r in FULL_AUTHORITY if r.non_resource_urls])
            review.resource_rules = full.resource_rules + review.resource_rules
            review.non_resource_rules = full.non_resource_rules + review.non_resource_rules
        return review


# ---------------------------------------------------------------------------- keeping the policy current


class WatchSource(Protocol):
    """What `PolicyFeed` needs of the API server's `Store`."""

    async def watch(self, rt: ResourceType, namespace: str, opts: ListOptions, send_initial: bool | None = None,
                    initial_end_bookmark: bool = False) -> Any: ...


class PolicyFeed:
    """One watch per RBAC kind into `policy`. A watch starts with the current objects (replacing
    what the policy held of that kind once they are all in), then follows changes; when it ends
    it resumes from the last resourceVersion, and when that is compacted (410) it starts over."""

    def __init__(self, source: WatchSource, policy: Policy, *, clock: Clock | None = None,
                 retry_seconds: float = 0.5) -> None:
        self.source = source
        self.policy = policy
        self.clock = clock or RealClock()
        self.retry_seconds = retry_seconds
        self._synced = {rt.kind: asyncio.Event() for rt in RBAC_RESOURCES}
        self._rv = {rt.kind: "" for rt in RBAC_RESOURCES}  # where each kind's watch resumes
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def synced(self) -> bool:
        return all(e.is_set() for e in self._synced.values())

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(rt), name=f"rbac-feed-{rt.plural}") for rt in RBAC_RESOURCES]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def wait_synced(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            for event in self._synced.values():
                await event.wait()

    def _replace(self, kind: str, objects: list[dict[str, Any]]) -> None:
        """Make the policy's objects of `kind` exactly `objects` (after a fresh initial list)."""
        current: list[dict[str, Any]]
        if kind == "Role":
            current = [{"metadata": {"namespace": ns, "name": n}} for ns, n in self.policy.roles]
        elif kind == "ClusterRole":
            current = [{"metadata": {"name": n}} for n in self.policy.cluster_roles]
        elif kind == "RoleBinding":
            current = [{"metadata": {"namespace": ns, "name": n}} for ns, n in self.policy.role_bindings]
        else:
            current = [{"metadata": {"name": n}} for n in self.policy.cluster_role_bindings]
        fresh = {(str(o["metadata"].get("namespace") or ""), o["metadata"]["name"]) for o in objects}
        for obj in current:
            m = obj["metadata"]
            if (m.get("namespace", ""), m["name"]) not in fresh:
                self.policy.remove(kind, obj)
        for obj in objects:
            self.policy.set(kind, obj)

    async def _run(self, rt: ResourceType) -> None:
        while True:
            try:
                if not await self._follow(rt):  # ended at once, delivering nothing: do not spin
                    await self.clock.sleep(self.retry_seconds)
            except asyncio.CancelledError:
                raise
            except Gone:
                self._rv[rt.kind] = ""
            except Exception as e:
                log.warning("RBAC watch failed; retrying", extra={"resource": rt.plural, "error": str(e)})
                await self.clock.sleep(self.retry_seconds)

    async def _follow(self, rt: ResourceType) -> int:
        """One watch, from the last resourceVersion seen (the current state first when there is none);
        `_rv` keeps the progress, so a watch that breaks resumes where it stopped. Returns how many
        events it delivered."""
        rv = self._rv[rt.kind]
        delivered = 0
        initial = not rv
        pending: list[dict[str, Any]] = []
        events = await self.source.watch(rt, "", ListOptions(resource_version=rv), send_initial=initial,
                                         initial_end_bookmark=initial)
        try:
            async for ev in events:
                assert isinstance(ev, WatchEventOut)
                delivered += 1
                if ev.type == "ERROR":
                    if int(ev.object.get("code") or 0) == 410:
                        self._rv[rt.kind] = ""
                        return delivered
                    raise RuntimeError(str(ev.object.get("message")))
                meta = ev.object.get("metadata") or {}
                if ev.type == "BOOKMARK":
                    if initial and (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true":
                        self._replace(rt.kind, pending)
                        pending, initial = [], False
                        self._synced[rt.kind].set()
                elif initial:
                    pending.append(ev.object)
                else:
                    self.policy.apply_event(rt.kind, ev.type, ev.object)
                if not initial:
                    self._rv[rt.kind] = str(meta.get("resourceVersion") or self._rv[rt.kind])
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        return delivered
