"""The agent's resource summary: rates between readings, only running containers, the node."""

from __future__ import annotations

from pathlib import Path

from podfleet.agent.node_config import NodeConfig
from podfleet.agent.records import ContainerRecord, ContainerRecords
from podfleet.agent.resource_stats import ResourceStats
from podfleet.runtime.resource_usage import CgroupUsage


def _rec(cid: str, name: str, attempt: int) -> ContainerRecord:
    return ContainerRecord(cid, "uid-1", "ns", "web", name, attempt, False, "img", "img", "sha", "", "", "sb")


def test_rates_come_from_the_previous_reading_and_gone_containers_are_left_out(tmp_path: Path) -> None:
    node = NodeConfig("n1", "10.0.0.1", tmp_path)
    records = ContainerRecords(tmp_path / "run", tmp_path / "pods")
    for rec in (_rec("old", "main", 0), _rec("new", "main", 1), _rec("side", "side", 0)):
        records.save(rec)
    cgroups: dict[str, CgroupUsage] = {}
    clock = [100.0]

    def read(path: str) -> CgroupUsage | None:
        return cgroups.get(path)

    def set_usage(cid: str, cpu_ns: int, ws: int) -> None:
        cgroups[f"/podfleet/n1/poduid-1/{cid}"] = CgroupUsage(cpu_ns, ws, clock[0])

    stats = ResourceStats(node, records, read=read, read_node=lambda: CgroupUsage(int(clock[0] * 1e9), 4096, clock[0]))
    set_usage("new", 1_000_000_000, 2048)
    set_usage("old", 5, 5)  # an earlier attempt: never reported
    first = stats.summary()
    assert [c["name"] for c in first["pods"][0]["containers"]] == ["main"]  # `side` has no cgroup: not running
    assert "usageNanoCores" not in first["pods"][0]["containers"][0]["cpu"]  # one reading: no rate yet
    clock[0] = 102.0
    set_usage("new", 2_000_000_000, 3072)  # one CPU-second in two seconds: half a core
    second = stats.summary()
    main = second["pods"][0]["containers"][0]
    assert main["cpu"]["usageNanoCores"] == 500_000_000 and main["memory"]["workingSetBytes"] == 3072
    assert second["pods"][0]["podRef"] == {"name": "web", "namespace": "ns", "uid": "uid-1"}
    assert second["node"]["cpu"]["usageNanoCores"] == 1_000_000_000 and second["node"]["nodeName"] == "n1"
