"""run_hook: each handler kind, and the stop signal a container names."""

from __future__ import annotations

from podfleet.agent.container_config import stop_signal
from podfleet.agent.lifecycle_hooks import run_hook
from podfleet.agent.prober import ProbeTarget
from podfleet.clock import FakeClock


def _target(code: int, seen: list[list[str]]) -> ProbeTarget:
    async def exec_fn(argv: list[str], timeout: float) -> int:
        seen.append(argv)
        return code
    return ProbeTarget("u", "main", "cid", "127.0.0.1", {}, exec_fn)


async def test_handlers() -> None:
    seen: list[list[str]] = []
    clock = FakeClock()
    assert await run_hook({"exec": {"command": ["true"]}}, _target(0, seen), clock, 10) is None
    assert await run_hook({"exec": {"command": ["false"]}}, _target(1, seen), clock, 10) == "command exited with 1"
    assert seen == [["true"], ["false"]]
    assert "not supported" in (await run_hook({"tcpSocket": {"port": 80}}, _target(0, seen), clock, 10) or "")


def test_stop_signal_from_the_container_over_the_image() -> None:
    assert stop_signal({"StopSignal": "SIGQUIT"}) == 3
    assert stop_signal({"StopSignal": "SIGQUIT"}, {"lifecycle": {"stopSignal": "SIGUSR1"}}) == 10
    assert stop_signal({}, {}) == 15


def test_a_failed_probes_own_grace_period_wins() -> None:
    from podfleet.agent.executor import kill_grace
    from podfleet.agent.pod_actions import ContainerToKill

    pod = {"spec": {"terminationGracePeriodSeconds": 60, "containers": [
        {"name": "main", "livenessProbe": {"terminationGracePeriodSeconds": 3}, "startupProbe": {}}]}}
    assert kill_grace(pod, ContainerToKill("main", False, "c", "Unhealthy", "", "liveness")) == 3
    assert kill_grace(pod, ContainerToKill("main", False, "c", "Unhealthy", "", "startup")) == 60
    assert kill_grace(pod, ContainerToKill("main", False, "c", "DefinitionChanged", "")) == 60
