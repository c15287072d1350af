"""A node agent whose data dir is reached through a symlink uses its real path (runc refuses
rootfs paths with symlinks in them), and keeps its runtime state on a tmpfs."""

from __future__ import annotations

import os
from pathlib import Path

from podfleet import mounts
from podfleet.agent.setup import AgentConfig, NodeAgent
from podfleet.apiserver.store import Store
from podfleet.client.local import LocalClient
from podfleet.storage.memory import MemoryStorage


def test_symlinked_data_dir_is_used_by_its_real_path(tmp_path: Path) -> None:
    real = tmp_path / "disk" / "podfleet"
    real.mkdir(parents=True)
    link = tmp_path / "var-lib-podfleet"
    link.symlink_to(real)
    agent = NodeAgent(LocalClient(Store(MemoryStorage())), AgentConfig("node-1", link, pod_cidr="10.250.0.0/24",
                                                                       bridge="pftest0"), cluster_ca=b"")
    try:
        assert agent.cfg.data_dir == real.resolve()
        root = agent.oci_runtime.root
        assert root.resolve() == root and root.is_relative_to(real.resolve())
        assert agent.images.root == real.resolve() / "images"
        assert os.path.ismount(real / "runtime")  # volatile runtime state lives on a tmpfs
    finally:
        mounts.unmount(real / "runtime")
