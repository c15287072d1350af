"""Deleting a controller's pods as every workload controller does it (client-go's PodControl): with
the pod's uid as precondition, the deletion's expectation settled when it cannot be observed, and
SuccessfulDelete / FailedDelete events on the owner."""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import APIError, Conflict, NotFound
from podfleet.api.resources import PODS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.controllers.base import namespaced_key
from podfleet.controllers.expectations import Expectations


async def delete_pod(client: Client, expectations: Expectations, recorder: EventRecorder, owner: dict[str, Any],
                     key: str, pod: dict[str, Any]) -> None:
    """Delete one pod of `owner` (whose expectations are under `key`); APIError if the server refused."""
    m = pod["metadata"]
    try:
        await client.delete(PODS, m["name"], m["namespace"], uid=m.get("uid", ""))
    except (NotFound, Conflict):  # gone already, or replaced: no deletion event will come
        expectations.deletion_observed(key, namespaced_key(pod))
        return
    except APIError as e:
        expectations.deletion_observed(key, namespaced_key(pod))
        recorder.emit(owner, WARNING, "FailedDelete", f"Error deleting: {e}")
        raise
    recorder.emit(owner, NORMAL, "SuccessfulDelete", f"Deleted pod: {m['name']}")
