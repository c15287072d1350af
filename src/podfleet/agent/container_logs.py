"""Serving container logs (`kubectl logs`) from the CRI-format files conmon writes.

Found through the container records (which pod, which container, which attempt); `previous` is
the attempt before the latest; `follow` streams until the container's process ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from podfleet.agent.records import ContainerRecord, ContainerRecords
from podfleet.api.errors import NotFound
from podfleet.clock import Clock
from podfleet.runtime.interface import OCIRuntime
from podfleet.runtime.logs import follow_log, log_since, read_log

EXIT_POLL = 0.5  # seconds between checks whether a followed container has ended


class ContainerLogs:
    def __init__(self, records: ContainerRecords, oci_runtime: OCIRuntime, clock: Clock) -> None:
        self.records = records
        self.oci_runtime = oci_runtime
        self.clock = clock

    def _attempts(self, namespace: str, pod: str, container: str, pod_uid: str) -> list[ContainerRecord]:
        for uid in sorted(self.records.pod_uids()):
            if pod_uid and uid != pod_uid:
                continue
            recs = self.records.containers(uid)
            if pod_uid or any((r.pod_namespace, r.pod_name) == (namespace, pod) for r in recs):
                return sorted((r for r in recs if r.name == container), key=lambda r: r.attempt)
        return []

    async def logs(self, namespace: str, pod: str, container: str, opts: dict[str, Any]) -> AsyncIterator[bytes]:
        recs = self._attempts(namespace, pod, container, opts.get("pod_uid", ""))
        if not recs:
            raise NotFound(f'container "{container}" in pod "{pod}" is waiting to start or does not exist here')
        if opts.get("previous"):
            if len(recs) < 2:
                raise NotFound(f'previous terminated container "{container}" in pod "{pod}" not found')
            rec = recs[-2]
        else:
            rec = recs[-1]
        since = log_since(opts.get("since_seconds"), opts.get("since_time"), self.clock.now())
        path = Path(rec.log_path)
        if not opts.get("follow") or opts.get("previous"):
            yield await asyncio.to_thread(read_log, path, tail=opts.get("tail_lines"),
                                          timestamps=bool(opts.get("timestamps")), since=since,
                                          limit_bytes=opts.get("limit_bytes"))
            return
        finished = asyncio.Event()

        async def watch_exit() -> None:
            while True:
                st = await self.oci_runtime.state(rec.id)
                if st is None or st.status == "stopped":
                    finished.set()
                    return
                await asyncio.sleep(EXIT_POLL)

        watcher = asyncio.create_task(watch_exit())
        try:
            async for chunk in follow_log(path, tail=opts.get("tail_lines"), timestamps=bool(opts.get("timestamps")),
                                          since=since, finished=finished.is_set):
                yield chunk
        finally:
            watcher.cancel()
