"""Finding what `kubectl exec`, `attach` and `port-forward` reach on this node: a pod's running
container, its network namespace.

Found through the container records (the latest attempt of the named container) and the pod's
sandbox, as `ContainerLogs` finds log files. Errors read as kubelet's do, since kubectl shows them.
"""

from __future__ import annotations

import asyncio

from podfleet.agent.records import ContainerRecord, ContainerRecords
from podfleet.agent.sandboxes.interface import PodSandboxes
from podfleet.api.errors import BadRequest, NotFound
from podfleet.network import dial
from podfleet.runtime.interface import Attachment, ContainerRuntimeError, OCIRuntime
from podfleet.runtime.streamed_process import StreamedProcess


class ContainerStreams:
    def __init__(self, records: ContainerRecords, oci_runtime: OCIRuntime, sandboxes: PodSandboxes) -> None:
        self.records = records
        self.oci_runtime = oci_runtime
        self.sandboxes = sandboxes

    def _pod_uid(self, namespace: str, pod: str, pod_uid: str) -> str:
        for uid in self.records.pod_uids():
            if pod_uid and uid != pod_uid:
                continue
            if pod_uid or any((r.pod_namespace, r.pod_name) == (namespace, pod) for r in self.records.containers(uid)):
                return uid
        raise NotFound(f'pod "{pod}" not found on this node')

    def _latest(self, namespace: str, pod: str, container: str, pod_uid: str) -> ContainerRecord:
        uid = self._pod_uid(namespace, pod, pod_uid)
        recs = [r for r in self.records.containers(uid) if r.name == container]
        if not recs:
            raise NotFound(f'container not found ("{container}")')
        return max(recs, key=lambda r: r.attempt)

    async def exec(self, namespace: str, pod: str, container: str, argv: list[str], *, pod_uid: str = "",
                   terminal: bool, stdin: bool, size: tuple[int, int] | None = None) -> StreamedProcess:
        rec = self._latest(namespace, pod, container, pod_uid)
        try:
            return await self.oci_runtime.exec_stream(rec.id, argv, terminal=terminal, stdin=stdin, size=size)
        except ContainerRuntimeError as e:
            raise BadRequest(f'unable to exec in container "{container}" of pod "{pod}": {e}') from None

    async def attach(self, namespace: str, pod: str, container: str, *, pod_uid: str = "") -> Attachment:
        rec = self._latest(namespace, pod, container, pod_uid)
        try:
            return await self.oci_runtime.attach(rec.id)
        except ContainerRuntimeError as e:
            raise BadRequest(f'unable to attach to container "{container}" of pod "{pod}": {e}') from None

    async def dial(self, namespace: str, pod: str, port: int, *, pod_uid: str = "",
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the pod's `localhost:port`; OSError (worded like kubelet's) if refused."""
        try:
            uid = self._pod_uid(namespace, pod, pod_uid)
        except NotFound as e:
            raise OSError(f"error forwarding port {port} to pod {namespace}/{pod}: {e}") from None
        sandbox = self.sandboxes.inspect(uid)
        if sandbox is None or not sandbox.ready:
            raise OSError(f"error forwarding port {port} to pod {uid}: the pod's sandbox is not running")
        try:
            return await dial.open_connection(sandbox.netns, port)
        except OSError as e:
            raise OSError(f"error forwarding port {port} to pod {uid}, uid : failed to connect to localhost:{port} "
                          f"inside namespace {sandbox.id}: {e}") from None
