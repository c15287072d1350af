"""Removing what a pod left on the node once its containers are stopped: the containers' runtime
state and root filesystems, the sandbox (and with it the pod's IPs), volumes, the pod's cgroup —
and, for a pod that is gone, its records and logs."""

from __future__ import annotations

import asyncio
import contextlib

from podfleet.agent.node_config import NodeConfig
from podfleet.agent.records import ContainerRecords
from podfleet.agent.sandboxes.interface import PodSandboxes
from podfleet.agent.volumes import VolumeManager
from podfleet.images.interface import ImageStore
from podfleet.runtime.cgroups import remove_cgroup_tree
from podfleet.runtime.interface import OCIRuntime


class PodCleanup:
    def __init__(self, *, node: NodeConfig, records: ContainerRecords, sandboxes: PodSandboxes,
                 oci_runtime: OCIRuntime, images: ImageStore, volumes: VolumeManager) -> None:
        self.node = node
        self.records = records
        self.sandboxes = sandboxes
        self.oci_runtime = oci_runtime
        self.images = images
        self.volumes = volumes

    async def remove(self, uid: str, keep_records: bool) -> None:
        """Idempotent. `keep_records`: the pod still exists (finished), its statuses and logs stay."""
        for rec in self.records.containers(uid):
            with contextlib.suppress(Exception):
                await self.oci_runtime.delete(rec.id)
            with contextlib.suppress(Exception):
                await self.images.unmount_rootfs(rec.id)
        await self.sandboxes.remove(uid)
        await self.volumes.teardown(uid)
        await asyncio.to_thread(remove_cgroup_tree, self.node.pod_cgroup(uid))
        if not keep_records:
            self.records.remove_pod(uid)
