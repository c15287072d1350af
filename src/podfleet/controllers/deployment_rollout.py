"""One reconcile of one Deployment: find or create the new ReplicaSet, then roll (or scale).

`Rollout` holds the deployment and its replica sets as they are after each write it makes, so the
later steps of one sync see the earlier ones. The algorithms follow kube-controller-manager's
deployment controller: rolling (scale new up within maxSurge, scale old down within
maxUnavailable, unhealthy old replicas first), recreate (old to zero, wait for old pods to go,
then new up), proportional scaling of a running rollout, revision-history cleanup and the status
conditions `kubectl rollout status` follows.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any

from podfleet.api.errors import AlreadyExists, Conflict, NotFound
from podfleet.api.meta import controller_ref, parse_time
from podfleet.api.resources import DEPLOYMENTS, REPLICASETS
from podfleet.client.events import NORMAL
from podfleet.controllers import deployment_util as du
from podfleet.controllers.ownership import owner_reference
from podfleet.controllers.podutil import is_terminating

if TYPE_CHECKING:
    from podfleet.controllers.deployment import DeploymentController


class Rollout:
    def __init__(self, ctl: DeploymentController, d: dict[str, Any], rss: list[dict[str, Any]],
                 pods: list[dict[str, Any]]) -> None:
        self.ctl = ctl
        self.client = ctl.client
        self.d = d
        self.rss: dict[str, dict[str, Any]] = {r["metadata"]["name"]: r for r in rss}
        self.pods = pods
        self.new_name: str | None = None

    # ------------------------------------------------------------ views
    @property
    def ns(self) -> str:
        return str(self.d["metadata"].get("namespace", ""))

    @property
    def new_rs(self) -> dict[str, Any] | None:
        return self.rss.get(self.new_name) if self.new_name else None

    def old_rss(self) -> list[dict[str, Any]]:
        return [r for n, r in self.rss.items() if n != self.new_name]

    def all_rss(self) -> list[dict[str, Any]]:
        return list(self.rss.values())

    # ------------------------------------------------------------ writes
    async def _update_deployment_status(self, st: dict[str, Any]) -> None:
        self.d = await self.client.update(DEPLOYMENTS, {**self.d, "status": st}, "status")

    async def _set_deployment_revision(self, rev: str) -> None:
        if du.annotations_of(self.d).get(du.REVISION) == rev:
            return
        d = copy.deepcopy(self.d)
        d["metadata"].setdefault("annotations", {})[du.REVISION] = rev
        self.d = await self.client.update(DEPLOYMENTS, d)

    async def scale_rs(self, rs: dict[str, Any], new_scale: int) -> bool:
        old_scale = du.replicas(rs)
        rs_copy = copy.deepcopy(rs)
        annotations_changed = du.set_replicas_annotations(rs_copy, du.replicas(self.d),
                                                          du.replicas(self.d) + du.max_surge(self.d))
        if old_scale == new_scale and not annotations_changed:
            return False
        rs_copy.setdefault("spec", {})["replicas"] = new_scale
        updated = await self.client.update(REPLICASETS, rs_copy)
        self.rss[updated["metadata"]["name"]] = updated
        if old_scale != new_scale:
            direction = "up" if new_scale > old_scale else "down"
            self.ctl.recorder.emit(self.d, NORMAL, "ScalingReplicaSet",
                                   f"Scaled {direction} replica set {rs['metadata']['name']} "
                                   f"from {old_scale} to {new_scale}")
        return old_scale != new_scale

    # ------------------------------------------------------------ new replica set
    async def sync_revision(self, create: bool) -> None:
        """Find (or create) the new replica set and bring revision annotations up to date."""
        new = du.find_new(self.d, self.all_rss())
        self.new_name = new["metadata"]["name"] if new else None
        new_revision = max((du.revision(r) for r in self.old_rss()), default=0) + 1
        deadline = du.progress_deadline(self.d)
        if new is not None:
            rs_copy = copy.deepcopy(new)
            changed = du.set_new_rs_annotations(self.d, rs_copy, new_revision, exists=True)
            min_ready = int(du.spec(self.d).get("minReadySeconds") or 0)
            if changed or int(du.spec(rs_copy).get("minReadySeconds") or 0) != min_ready:
                rs_copy["spec"]["minReadySeconds"] = min_ready
                new = await self.client.update(REPLICASETS, rs_copy)
                self.rss[new["metadata"]["name"]] = new
            await self._set_deployment_revision(du.annotations_of(new).get(du.REVISION, ""))
            if deadline is not None and du.get_condition(du.status(self.d), du.PROGRESSING) is None:
                st = copy.deepcopy(du.status(self.d))
                du.set_condition(st, du.new_condition(du.PROGRESSING, "True", du.FOUND_NEW_RS,
                                                      f'Found new replica set "{new["metadata"]["name"]}"',
                                                      self.ctl.clock.now()))
                await self._update_deployment_status(st)
            return
        if not create:
            return
        await self._create_new_rs(new_revision)

    async def _create_new_rs(self, new_revision: int) -> None:
        d = self.d
        template = copy.deepcopy(du.spec(d).get("template") or {})
        collision = du.status(d).get("collisionCount")
        pod_hash = du.compute_hash(template, collision)
        template.setdefault("metadata", {}).setdefault("labels", {})[du.POD_TEMPLATE_HASH] = pod_hash
        selector = copy.deepcopy(du.spec(d).get("selector") or {})
        selector.setdefault("matchLabels", {})[du.POD_TEMPLATE_HASH] = pod_hash
        rs: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{pod_hash}", "namespace": self.ns,
                         "labels": dict(template["metadata"]["labels"]),
                         "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": 0, "minReadySeconds": int(du.spec(d).get("minReadySeconds") or 0),
                     "selector": selector, "template": template},
        }
        rs["spec"]["replicas"] = du.new_rs_new_replicas(d, [*self.all_rss(), rs], rs)
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        name = rs["metadata"]["name"]
        try:
            created = await self.client.create(REPLICASETS, rs, self.ns)
        except AlreadyExists:
            existing = await self.client.get(REPLICASETS, name, self.ns)
            ref = controller_ref(existing)
            if ref and ref.get("uid") == d["metadata"]["uid"] and du.equal_ignore_hash(
                    du.spec(existing).get("template") or {}, du.spec(d).get("template") or {}):
                self.rss[name] = existing
                self.new_name = name
                return
            # A different template hashed to the same name: bump collisionCount and try again.
            st = copy.deepcopy(du.status(d))
            st["collisionCount"] = int(st.get("collisionCount") or 0) + 1
            await self._update_deployment_status(st)
            raise Conflict(f'hash collision for replica set "{name}"; retrying with collisionCount '
                           f"{st['collisionCount']}") from None
        self.rss[name] = created
        self.new_name = name
        if du.replicas(created) > 0:
            self.ctl.recorder.emit(d, NORMAL, "ScalingReplicaSet",
                                   f"Scaled up replica set {name} from 0 to {du.replicas(created)}")
        await self._set_deployment_revision(str(new_revision))
        if du.progress_deadline(self.d) is not None:
            st = copy.deepcopy(du.status(self.d))
            du.set_condition(st, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_CREATED,
                                                  f'Created new replica set "{name}"', self.ctl.clock.now()))
            await self._update_deployment_status(st)

    # ------------------------------------------------------------ rolling update
    async def rolling(self) -> None:
        await self.sync_revision(create=True)
        if await self._reconcile_new_rs() or await self._reconcile_old_rss():
            await self.sync_rollout_status()
            return
        if du.deployment_complete(self.d, du.status(self.d)):
            await self.cleanup()
        await self.sync_rollout_status()

    async def _reconcile_new_rs(self) -> bool:
        new = self.new_rs
        if new is None:
            return False
        want = du.replicas(self.d)
        if du.replicas(new) == want:
            return False
        if du.replicas(new) > want:
            return await self.scale_rs(new, want)
        return await self.scale_rs(new, du.new_rs_new_replicas(self.d, self.all_rss(), new))

    async def _reconcile_old_rss(self) -> bool:
        old_active = [r for r in self.old_rss() if du.is_active(r)]
        if du.sum_spec(old_active) == 0:
            return False
        new = self.new_rs
        min_available = du.replicas(self.d) - du.max_unavailable(self.d)
        new_unavailable = (du.replicas(new) - int(du.status(new).get("availableReplicas") or 0)) if new else 0
        max_scaled_down = du.sum_spec(self.all_rss()) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = await self._cleanup_unhealthy(old_active, max_scaled_down)
        scaled = await self._scale_down_old_for_rolling()
        return cleaned + scaled > 0

    async def _cleanup_unhealthy(self, old: list[dict[str, Any]], max_cleanup: int) -> int:
        """Scale down old replica sets by their unavailable replicas first: they serve nobody."""
        total = 0
        for rs in du.by_creation(old):
            if total >= max_cleanup:
                break
            rs = self.rss[rs["metadata"]["name"]]
            available = int(du.status(rs).get("availableReplicas") or 0)
            if du.replicas(rs) == 0 or du.replicas(rs) == available:
                continue
            down = min(max_cleanup - total, du.replicas(rs) - available)
            await self.scale_rs(rs, du.replicas(rs) - down)
            total += down
        return total

    async def _scale_down_old_for_rolling(self) -> int:
        min_available = du.replicas(self.d) - du.max_unavailable(self.d)
        available = du.sum_status(self.all_rss(), "availableReplicas")
        if available <= min_available:
            return 0
        budget = available - min_available
        total = 0
        for rs in du.by_creation(self.old_rss()):
            if total >= budget:
                break
            if du.replicas(rs) == 0:
                continue
            down = min(du.replicas(rs), budget - total)
            await self.scale_rs(rs, du.replicas(rs) - down)
            total += down
        return total

    # ------------------------------------------------------------ recreate
    async def recreate(self) -> None:
        await self.sync_revision(create=False)
        scaled_down = False
        for rs in self.old_rss():
            if du.is_active(rs) and await self.scale_rs(rs, 0):
                scaled_down = True
        if scaled_down or self._old_pods_running():
            await self.sync_rollout_status()
            return
        if self.new_rs is None:
            await self.sync_revision(create=True)
        new = self.new_rs
        if new is not None:
            await self.scale_rs(new, du.replicas(self.d))
        if du.deployment_complete(self.d, du.status(self.d)):
            await self.cleanup()
        await self.sync_rollout_status()

    def _old_pods_running(self) -> bool:
        old = self.old_rss()
        if du.sum_status(old, "replicas") > 0:
            return True
        old_uids = {r["metadata"]["uid"] for r in old}
        for pod in self.pods:
            ref = controller_ref(pod)
            if ref and ref.get("uid") in old_uids and \
                    (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
        return False

    # ------------------------------------------------------------ scaling (no template change)
    async def sync_scale(self) -> None:
        await self.sync_revision(create=False)
        await self.scale()
        if du.spec(self.d).get("paused"):
            await self.cleanup()
        await self.sync_status()

    async def scale(self) -> None:
        d, new = self.d, self.new_rs
        target = du.find_active_or_latest(new, self.old_rss())
        if target is not None:
            await self.scale_rs(target, du.replicas(d))
            return
        if du.is_saturated(d, new):
            for rs in self.old_rss():
                if du.is_active(rs):
                    await self.scale_rs(rs, 0)
            return
        if not du.is_rolling(d):
            return
        active = [r for r in self.all_rss() if du.is_active(r)]
        allowed = du.replicas(d) + du.max_surge(d) if du.replicas(d) > 0 else 0
        to_add = allowed - du.sum_spec(active)
        if to_add > 0:  # larger and newer first get the extra replicas
            active.sort(key=lambda r: (-du.replicas(r), -du.created(r).timestamp()))
        else:  # larger and older first give replicas back
            active.sort(key=lambda r: (-du.replicas(r), du.created(r).timestamp()))
        sizes: dict[str, int] = {}
        added = 0
        for rs in active:
            part = du.proportion(rs, d, to_add, added) if to_add else 0
            sizes[rs["metadata"]["name"]] = du.replicas(rs) + part
            added += part
        if active and added != to_add:
            first = active[0]["metadata"]["name"]
            sizes[first] = max(sizes[first] + to_add - added, 0)
        for rs in active:
            await self.scale_rs(self.rss[rs["metadata"]["name"]], sizes[rs["metadata"]["name"]])

    def is_scaling_event(self) -> bool:
        for rs in self.all_rss():
            if not du.is_active(rs):
                continue
            desired = du.annotations_of(rs).get(du.DESIRED_REPLICAS)
            if desired is not None and desired != str(du.replicas(self.d)):
                return True
        return False

    # ------------------------------------------------------------ cleanup
    async def cleanup(self) -> None:
        limit = du.spec(self.d).get("revisionHistoryLimit", 10)
        if limit is None:
            return
        alive = [r for r in self.old_rss() if not is_terminating(r)]
        excess = len(alive) - int(limit)
        if excess <= 0:
            return
        alive.sort(key=lambda r: (du.revision(r), du.created(r)))
        for rs in alive[:excess]:
            st = du.status(rs)
            if int(st.get("replicas") or 0) or du.replicas(rs) or \
                    int(rs["metadata"].get("generation") or 0) > int(st.get("observedGeneration") or 0):
                continue
            with contextlib.suppress(NotFound):
                await self.client.delete(REPLICASETS, rs["metadata"]["name"], self.ns,
                                         uid=rs["metadata"]["uid"])
            self.rss.pop(rs["metadata"]["name"], None)

    # ------------------------------------------------------------ status
    async def sync_status(self) -> None:
        st = du.calculate_status(self.d, self.all_rss(), self.new_rs, self.ctl.clock.now())
        if st != du.status(self.d):
            await self._update_deployment_status(st)

    async def sync_rollout_status(self) -> None:
        d, new, now = self.d, self.new_rs, self.ctl.clock.now()
        st = du.calculate_status(d, self.all_rss(), new, now)
        deadline = du.progress_deadline(d)
        if deadline is None:
            du.remove_condition(st, du.PROGRESSING)
        current = du.get_condition(st, du.PROGRESSING)
        complete = int(st.get("replicas") or 0) == int(st.get("updatedReplicas") or 0) and \
            current is not None and current.get("reason") == du.NEW_RS_AVAILABLE
        subject = (f'ReplicaSet "{new["metadata"]["name"]}"' if new
                   else f'Deployment "{d["metadata"]["name"]}"')
        if deadline is not None and not complete:
            if du.deployment_complete(d, st):
                du.set_condition(st, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE,
                                                      f"{subject} has successfully progressed.", now))
            elif du.deployment_progressing(d, st):
                cond = du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, f"{subject} is progressing.",
                                        now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    du.remove_condition(st, du.PROGRESSING)
                st.setdefault("conditions", []).append(cond)
            elif du.deployment_timed_out(d, st, now):
                du.set_condition(st, du.new_condition(du.PROGRESSING, "False", du.TIMED_OUT,
                                                      f"{subject} has timed out progressing.", now))
        if st != du.status(d):
            await self._update_deployment_status(st)
        self._requeue_if_stuck(st)

    def _requeue_if_stuck(self, st: dict[str, Any]) -> None:
        deadline = du.progress_deadline(self.d)
        cond = du.get_condition(st, du.PROGRESSING)
        if deadline is None or cond is None or du.deployment_complete(self.d, st) or \
                cond.get("reason") == du.TIMED_OUT:
            return
        since = parse_time(cond.get("lastUpdateTime"))
        if since is None:
            return
        after = (since - self.ctl.clock.now()).total_seconds() + deadline + 1
        self.ctl.queue.add_after(self.ctl.key_of(self.d), max(after, 0.001))

    async def check_paused_conditions(self) -> None:
        if du.progress_deadline(self.d) is None:
            return
        st = copy.deepcopy(du.status(self.d))
        cond = du.get_condition(st, du.PROGRESSING)
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return
        paused = bool(du.spec(self.d).get("paused"))
        now = self.ctl.clock.now()
        if paused and (cond is None or cond.get("reason") != du.PAUSED):
            du.set_condition(st, du.new_condition(du.PROGRESSING, "Unknown", du.PAUSED,
                                                  "Deployment is paused", now))
        elif not paused and cond is not None and cond.get("reason") == du.PAUSED:
            du.set_condition(st, du.new_condition(du.PROGRESSING, "Unknown", du.RESUMED,
                                                  "Deployment is resumed", now))
        else:
            return
        await self._update_deployment_status(st)
