"""What the agent remembers on disk about each pod, so a restarted agent adopts instead of killing.

`<pods_dir>/<uid>/sandbox.json` (network namespace, IPs, namespaces dir, start time) and
`<pods_dir>/<uid>/containers/<id>.json` (which container of which pod, which attempt, which image,
where its log is). The runtime knows whether each container still runs; these files know what it is.
Every write goes to disk at once; reads come from memory after the first (this process is the files'
only writer), since pod workers and status reports read them on every sync.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class SandboxRecord:
    uid: str
    namespace: str
    name: str
    sandbox_id: str
    netns: str
    ips: list[str]
    ns_dir: str
    host_network: bool
    started_at: str  # RFC 3339


@dataclass
class ContainerRecord:
    id: str
    pod_uid: str
    name: str
    attempt: int
    init: bool
    image: str
    image_id: str
    log_path: str
    created_at: str
    stop_signal: int = 15
    extra: dict[str, str] = field(default_factory=dict)


def _write(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class Records:
    def __init__(self, pods_dir: Path) -> None:
        self.pods_dir = pods_dir
        pods_dir.mkdir(parents=True, exist_ok=True)
        self._sandboxes: dict[str, SandboxRecord] = {}
        self._containers: dict[str, dict[str, ContainerRecord]] = {}  # uid -> id -> record

    def pod_dir(self, uid: str) -> Path:
        return self.pods_dir / uid

    def save_sandbox(self, rec: SandboxRecord) -> None:
        _write(self.pod_dir(rec.uid) / "sandbox.json", asdict(rec))
        self._sandboxes[rec.uid] = rec

    def sandbox(self, uid: str) -> SandboxRecord | None:
        if uid not in self._sandboxes:
            try:
                self._sandboxes[uid] = SandboxRecord(**json.loads((self.pod_dir(uid) / "sandbox.json").read_text()))
            except (FileNotFoundError, ValueError, TypeError):
                return None  # not cached: it may be written later
        return self._sandboxes[uid]

    def drop_sandbox(self, uid: str) -> None:
        (self.pod_dir(uid) / "sandbox.json").unlink(missing_ok=True)
        self._sandboxes.pop(uid, None)

    def save_container(self, rec: ContainerRecord) -> None:
        _write(self.pod_dir(rec.pod_uid) / "containers" / f"{rec.id}.json", asdict(rec))
        self._pod_containers(rec.pod_uid)[rec.id] = rec

    def containers(self, uid: str) -> list[ContainerRecord]:
        recs = self._pod_containers(uid)
        return [recs[i] for i in sorted(recs)]

    def _pod_containers(self, uid: str) -> dict[str, ContainerRecord]:
        recs = self._containers.get(uid)
        if recs is None:
            recs = {}
            for p in (self.pod_dir(uid) / "containers").glob("*.json"):
                try:
                    rec = ContainerRecord(**json.loads(p.read_text()))
                except (ValueError, TypeError, OSError):
                    continue
                recs[rec.id] = rec
            self._containers[uid] = recs
        return recs

    def drop_container(self, rec: ContainerRecord) -> None:
        (self.pod_dir(rec.pod_uid) / "containers" / f"{rec.id}.json").unlink(missing_ok=True)
        self._pod_containers(rec.pod_uid).pop(rec.id, None)

    def pod_uids(self) -> list[str]:
        return [p.name for p in self.pods_dir.iterdir() if p.is_dir()] if self.pods_dir.exists() else []

    def remove_pod(self, uid: str) -> None:
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
        self._sandboxes.pop(uid, None)
        self._containers.pop(uid, None)
