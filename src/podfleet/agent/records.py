"""What the agent remembers about each container it started, so a restarted agent adopts instead of
killing.

Records live in the pod's run directory `<run_dir>/<uid>/containers/<id>.json` (on the agent's
runtime tmpfs, volatile like the containers they describe, as CRI-O keeps such state under /run):
which container of which pod, which attempt, which image, which sandbox, where its log is. Logs
and volumes live in the pod's directory on disk, `<pods_dir>/<uid>/`, and survive a reboot.
Keeping the short-lived files off the disk matters on busy nodes: each costs an inode allocation,
and on ext4 without a journal every allocation first skips all recently deleted inodes.

The runtime knows whether each container still runs; these files know what it is. Every write goes
to the file at once; reads come from memory after the first (this process is the files' only
writer), since pod workers and status reports read them on every sync.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from podfleet.files import spread_subdirectories, write_atomic


def container_id(pod_uid: str, name: str, attempt: int) -> str:
    """The runtime's id of one attempt of one container: the only place its format is decided."""
    return f"pf-{pod_uid.replace('-', '')[:12]}-{name}-{attempt}"


@dataclass
class ContainerRecord:
    id: str
    pod_uid: str
    pod_namespace: str
    pod_name: str
    name: str
    attempt: int
    init: bool
    spec_image: str  # the image as the pod's spec names it: a new one there means a restart
    image: str  # the normalized reference it resolved to
    image_id: str
    log_path: str
    created_at: str
    sandbox_id: str
    stop_signal: int = 15
    extra: dict[str, str] = field(default_factory=dict)


def attempt_after_logs(log_dir: Path) -> int:
    """The attempt number after the highest `<n>.log` in a container's log directory (0 if none)."""
    try:
        numbers = [int(p.name[:-4]) for p in log_dir.iterdir() if p.name.endswith(".log") and p.name[:-4].isdigit()]
    except FileNotFoundError:
        return 0
    return max(numbers) + 1 if numbers else 0


class ContainerRecords:
    def __init__(self, run_dir: Path, pods_dir: Path) -> None:
        self.run_root = run_dir
        self.pods_dir = pods_dir
        for d in (run_dir, pods_dir):
            d.mkdir(parents=True, exist_ok=True)
        spread_subdirectories(pods_dir)
        self._containers: dict[str, dict[str, ContainerRecord]] = {}  # uid -> id -> record
        self._owners: dict[str, str] = {}  # container id -> pod uid

    def run_dir(self, uid: str) -> Path:
        """The pod's volatile directory: container records (and its sandbox's files)."""
        return self.run_root / uid

    def pod_dir(self, uid: str) -> Path:
        """The pod's directory on disk: logs and volumes."""
        return self.pods_dir / uid

    def log_dir(self, uid: str, name: str) -> Path:
        return self.pod_dir(uid) / "logs" / name

    def save(self, rec: ContainerRecord) -> None:
        path = self.run_dir(rec.pod_uid) / "containers" / f"{rec.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(asdict(rec)))
        self._pod(rec.pod_uid)[rec.id] = rec
        self._owners[rec.id] = rec.pod_uid

    def containers(self, uid: str) -> list[ContainerRecord]:
        recs = self._pod(uid)
        return [recs[i] for i in sorted(recs)]

    def owner(self, cid: str) -> str | None:
        """The pod a container belongs to (among pods this agent has looked at)."""
        return self._owners.get(cid)

    def _pod(self, uid: str) -> dict[str, ContainerRecord]:
        recs = self._containers.get(uid)
        if recs is None:
            recs = {}
            for p in (self.run_dir(uid) / "containers").glob("*.json"):
                try:
                    rec = ContainerRecord(**json.loads(p.read_text()))
                except (ValueError, TypeError, OSError):
                    continue
                recs[rec.id] = rec
                self._owners[rec.id] = uid
            self._containers[uid] = recs
        return recs

    def drop(self, rec: ContainerRecord) -> None:
        (self.run_dir(rec.pod_uid) / "containers" / f"{rec.id}.json").unlink(missing_ok=True)
        self._pod(rec.pod_uid).pop(rec.id, None)
        self._owners.pop(rec.id, None)

    def pod_uids(self) -> set[str]:
        """Every pod with anything of it on this node (records, sandbox files, logs, volumes)."""
        return {p.name for d in (self.run_root, self.pods_dir) if d.exists() for p in d.iterdir() if p.is_dir()}

    def remove_pod(self, uid: str) -> None:
        for place in (self.run_dir(uid), self.pod_dir(uid)):
            shutil.rmtree(place, ignore_errors=True)
        for cid in self._containers.pop(uid, {}):
            self._owners.pop(cid, None)
