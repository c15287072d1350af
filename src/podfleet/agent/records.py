"""What the agent remembers about each pod, so a restarted agent adopts instead of killing.

Two places per pod, as kubelet and CRI-O split them:
- the run directory `<run_dir>/<uid>/` (on the agent's runtime tmpfs, volatile like the containers
  it describes, as CRI-O keeps such state under /run): `sandbox.json` (network namespace, IPs,
  namespaces dir, start time), `containers/<id>.json` (which container of which pod, which attempt,
  which image, where its log is), and beside them the record of the sandbox's namespace holder
  and the /etc files;
- the pod directory `<pods_dir>/<uid>/` on disk: logs and volumes, which must survive a reboot.
Keeping the short-lived files off the disk matters on busy nodes: each costs an inode allocation,
and on ext4 without a journal every allocation first skips all recently deleted inodes.

The runtime knows whether each container still runs; these files know what it is. Every write goes
to the file at once; reads come from memory after the first (this process is the files' only
writer), since pod workers and status reports read them on every sync. Agents before the split kept
the records in the pod directory; they are still read from there, and removed with the pod.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from podfleet.files import spread_subdirectories, write_atomic


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
    # The pod's IPC and UTS namespaces (paths to join); "" in records of sandboxes made by earlier
    # versions, which pinned them as ns_dir/ipc and ns_dir/uts.
    ipcns: str = ""
    utsns: str = ""


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
    write_atomic(path, json.dumps(data))


class Records:
    def __init__(self, run_dir: Path, pods_dir: Path) -> None:
        self.run_root = run_dir
        self.pods_dir = pods_dir
        for d in (run_dir, pods_dir):
            d.mkdir(parents=True, exist_ok=True)
        spread_subdirectories(pods_dir)
        self._sandboxes: dict[str, SandboxRecord] = {}
        self._containers: dict[str, dict[str, ContainerRecord]] = {}  # uid -> id -> record

    def run_dir(self, uid: str) -> Path:
        """The pod's volatile directory: records, its namespaces' holder, /etc files."""
        return self.run_root / uid

    def pod_dir(self, uid: str) -> Path:
        """The pod's directory on disk: logs and volumes."""
        return self.pods_dir / uid

    def _places(self, uid: str) -> tuple[Path, Path]:
        """Where records may be: the older agents' place first, so the run directory wins."""
        return self.pod_dir(uid), self.run_dir(uid)

    def save_sandbox(self, rec: SandboxRecord) -> None:
        _write(self.run_dir(rec.uid) / "sandbox.json", asdict(rec))
        self._sandboxes[rec.uid] = rec

    def sandbox(self, uid: str) -> SandboxRecord | None:
        if uid not in self._sandboxes:
            for place in reversed(self._places(uid)):
                try:
                    self._sandboxes[uid] = SandboxRecord(**json.loads((place / "sandbox.json").read_text()))
                    break
                except (FileNotFoundError, ValueError, TypeError):
                    continue
            else:
                return None  # not cached: it may be written later
        return self._sandboxes[uid]

    def drop_sandbox(self, uid: str) -> None:
        for place in self._places(uid):
            (place / "sandbox.json").unlink(missing_ok=True)
        self._sandboxes.pop(uid, None)

    def save_container(self, rec: ContainerRecord) -> None:
        _write(self.run_dir(rec.pod_uid) / "containers" / f"{rec.id}.json", asdict(rec))
        self._pod_containers(rec.pod_uid)[rec.id] = rec

    def containers(self, uid: str) -> list[ContainerRecord]:
        recs = self._pod_containers(uid)
        return [recs[i] for i in sorted(recs)]

    def _pod_containers(self, uid: str) -> dict[str, ContainerRecord]:
        recs = self._containers.get(uid)
        if recs is None:
            recs = {}
            for place in self._places(uid):
                for p in (place / "containers").glob("*.json"):
                    try:
                        rec = ContainerRecord(**json.loads(p.read_text()))
                    except (ValueError, TypeError, OSError):
                        continue
                    recs[rec.id] = rec
            self._containers[uid] = recs
        return recs

    def drop_container(self, rec: ContainerRecord) -> None:
        for place in self._places(rec.pod_uid):
            (place / "containers" / f"{rec.id}.json").unlink(missing_ok=True)
        self._pod_containers(rec.pod_uid).pop(rec.id, None)

    def pod_uids(self) -> list[str]:
        """Every pod with anything of it on this node (records, namespaces, logs, volumes)."""
        uids = {p.name for d in (self.run_root, self.pods_dir) if d.exists() for p in d.iterdir() if p.is_dir()}
        return sorted(uids)

    def remove_pod(self, uid: str) -> None:
        for place in self._places(uid):
            shutil.rmtree(place, ignore_errors=True)
        self._sandboxes.pop(uid, None)
        self._containers.pop(uid, None)
