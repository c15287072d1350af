"""What the pod-level parts of the agent need to know about their node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class NodeConfig:
    name: str
    ip: str
    data_dir: Path
    backoff_base: float = 10.0
    backoff_cap: float = 300.0
    backoff_reset: float = 600.0

    @property
    def runtime_dir(self) -> Path:
        """Volatile node state (a tmpfs when the agent runs): the OCI runtime's, bundles, pods' run dirs."""
        return self.data_dir / "runtime"

    def pod_cgroup(self, uid: str) -> str:
        """The cgroup every container of the pod is placed under (removed with the pod)."""
        return f"/podfleet/{self.name}/pod{uid}"
