"""A container's lifecycle hooks (`postStart`, `preStop`), as kubelet runs them.

postStart runs right after the container started; until it is done the container is not reported
started, and a failure kills it (`FailedPostStartHook`; it restarts by the pod's policy). preStop
runs before the stop signal, within the pod's grace period; what it leaves of the grace period (at
least 2 s) is the signal's. Handlers: exec (in the container), httpGet (to the pod), sleep;
tcpSocket is no lifecycle handler upstream either and fails at run time.
"""

from __future__ import annotations

from typing import Any

from podfleet.agent.prober import ProbeTarget, run_probe
from podfleet.clock import Clock

POST_START_TIMEOUT = 300.0  # kubelet waits for postStart without a limit of its own; a hung hook must end
MIN_GRACE_AFTER_PRE_STOP = 2.0  # kubelet's minimumGracePeriodInSeconds


async def run_hook(handler: dict[str, Any], target: ProbeTarget, clock: Clock, timeout: float) -> str | None:
    """None once the handler succeeded, else why it failed."""
    if "sleep" in handler:
        await clock.sleep(min(float((handler["sleep"] or {}).get("seconds") or 0), timeout))
        return None
    if "tcpSocket" in handler:
        return "TCPSocket is not supported as a lifecycle handler"
    ok, message = await run_probe({**handler, "timeoutSeconds": timeout}, target)
    return None if ok else (message or "the hook failed")

