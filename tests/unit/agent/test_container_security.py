"""Security and mount settings a container's config carries to runc: no_new_privs, runAsNonRoot,
supplementary groups, every capability, mount propagation, subPathExpr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podfleet.agent.container_config import ConfigError, build_container_config
from podfleet.agent.etc_files import EtcFiles
from podfleet.agent.volumes import BindMount, VolumeManager
from podfleet.runtime.spec import build_spec, granted_caps


def _config(tmp: Path, container: dict[str, Any], pod_sc: dict[str, Any] | None = None,
            mounts: list[BindMount] | None = None, image_user: str = "") -> dict[str, Any]:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
           "spec": {"securityContext": pod_sc or {}, "containers": [container]}}
    etc = EtcFiles(tmp / "hosts", tmp / "hostname", tmp / "resolv.conf")
    cfg = build_container_config(pod=pod, container={"name": "main", "image": "i", "command": ["sh"], **container},
                                 image_config={"User": image_user}, rootfs=tmp, etc=etc, mounts=mounts or [],
                                 netns=None, ipcns=None, utsns=None, pod_ips=["10.0.0.2"], node_ip="10.0.0.1",
                                 cgroup_parent="/podfleet/n/podu", container_id="c")
    return build_spec(cfg)


def test_no_new_privileges_and_groups(tmp_path: Path) -> None:
    spec = _config(tmp_path, {"securityContext": {"allowPrivilegeEscalation": False}},
                   {"supplementalGroups": [1000, 2000]})
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["user"]["additionalGids"] == [1000, 2000]
    assert _config(tmp_path, {})["process"]["noNewPrivileges"] is False


def test_run_as_non_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        _config(tmp_path, {"securityContext": {"runAsNonRoot": True}})
    assert "container has runAsNonRoot and image will run as root" in str(e.value)
    spec = _config(tmp_path, {}, {"runAsNonRoot": True, "runAsUser": 1000})
    assert spec["process"]["user"]["uid"] == 1000


def test_all_capabilities(tmp_path: Path) -> None:
    caps = _config(tmp_path, {"securityContext": {"capabilities": {"add": ["ALL"]}}})["process"]["capabilities"]
    assert caps["bounding"] == granted_caps() and "CAP_NET_ADMIN" in caps["bounding"]
    assert _config(tmp_path, {"securityContext": {"privileged": True}})["process"]["capabilities"][
        "effective"] == granted_caps()


def test_mount_propagation(tmp_path: Path) -> None:
    spec = _config(tmp_path, {}, mounts=[BindMount(tmp_path, "/host", propagation="HostToContainer")])
    mount = next(m for m in spec["mounts"] if m["destination"] == "/host")
    assert "rslave" in mount["options"] and spec["linux"]["rootfsPropagation"] == "rslave"
    spec = _config(tmp_path, {}, mounts=[BindMount(tmp_path, "/host", propagation="Bidirectional")])
    assert spec["linux"]["rootfsPropagation"] == "rshared"


def test_sub_path_expr_expands_the_environment(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    mounts = VolumeManager.mounts_for({"volumeMounts": [{"name": "v", "mountPath": "/logs",
                                                         "subPathExpr": "$(POD_NAME)"}]},
                                      {"v": vol}, {"POD_NAME": "web-0"})
    assert mounts[0].source == vol / "web-0" and (vol / "web-0").is_dir()


def test_privileged_gets_a_writable_sys(tmp_path: Path) -> None:
    def sys_options(container: dict[str, Any]) -> list[str]:
        return next(m["options"] for m in _config(tmp_path, container)["mounts"] if m["destination"] == "/sys")
    assert "ro" in sys_options({}) and "ro" not in sys_options({"securityContext": {"privileged": True}})
