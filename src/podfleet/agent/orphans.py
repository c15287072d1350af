"""Leftovers of pods that no longer exist (deleted while the agent was down, or a node that comes
back after its pods were replaced): their containers are killed and everything of them removed."""

from __future__ import annotations

import logging

from podfleet.agent.container_runner import ContainerRunner
from podfleet.agent.pod_cleanup import PodCleanup
from podfleet.agent.records import ContainerRecords
from podfleet.agent.sandboxes.interface import PodSandboxes

log = logging.getLogger("podfleet.agent.orphans")


class OrphanCleanup:
    def __init__(self, records: ContainerRecords, sandboxes: PodSandboxes, runner: ContainerRunner,
                 cleanup: PodCleanup) -> None:
        self.records = records
        self.sandboxes = sandboxes
        self.runner = runner
        self.cleanup = cleanup

    async def remove_all_but(self, live_uids: set[str]) -> None:
        for uid in sorted((self.records.pod_uids() | self.sandboxes.uids()) - live_uids):
            log.info("removing leftovers of a pod that no longer exists", extra={"uid": uid})
            for rec in self.records.containers(uid):
                await self.runner.stop(rec, 0)
            await self.cleanup.remove(uid, keep_records=False)
