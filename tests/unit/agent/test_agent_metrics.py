"""The agent's Prometheus metrics: pod start latency with and without pulls, probe results, counts."""

from __future__ import annotations

import datetime as dt

from prometheus_client.parser import text_string_to_metric_families

from podfleet.agent.prometheus import AgentMetrics

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def samples(m: AgentMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_pod_start_with_and_without_the_image_pull() -> None:
    m = AgentMetrics()
    m.waited_for_image("u1", 7.0)
    m.pod_running("u1", T0, T0 + dt.timedelta(seconds=9))
    got = samples(m)
    assert got[("kubelet_pod_start_duration_seconds_sum", ())] == 9.0
    assert got[("kubelet_pod_start_sli_duration_seconds_sum", ())] == 2.0  # the pull left out
    assert got[("kubelet_pod_start_sli_duration_seconds_bucket", (("le", "2.0"),))] == 1
    m.pod_running("u2", T0, T0 + dt.timedelta(seconds=1))  # nothing to pull: SLI = all of it
    assert samples(m)[("kubelet_pod_start_sli_duration_seconds_sum", ())] == 3.0


def test_probes_pulls_and_counts_read_at_scrape() -> None:
    m = AgentMetrics()
    counts = {"pods": 1}
    m.watch_counts(lambda: (counts["pods"], {"running": 2, "exited": 1}))
    m.probed("Readiness", True, "web", "p", "default")
    m.probed("Readiness", False, "web", "p", "default")
    m.probed("Readiness", False, "web", "p", "default")
    m.image_pulled(3.0, ok=True)
    counts["pods"] = 4
    got = samples(m)
    base = (("container", "web"), ("namespace", "default"), ("pod", "p"), ("probe_type", "Readiness"))
    assert got[("prober_probe_total", tuple(sorted((*base, ("result", "failed")))))] == 2
    assert got[("prober_probe_total", tuple(sorted((*base, ("result", "successful")))))] == 1
    assert got[("kubelet_image_pull_duration_seconds_count", (("result", "success"),))] == 1
    assert got[("kubelet_running_pods", ())] == 4  # read when scraped
    assert got[("kubelet_running_containers", (("container_state", "running"),))] == 2
    assert got[("kubelet_running_containers", (("container_state", "created"),))] == 0
