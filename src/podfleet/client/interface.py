"""The `Client` seam: what controllers, the scheduler and node agents may ask of the API.

They are API clients only (they never touch storage), which is what lets them run in one process or
on many machines. `RESTClient` speaks HTTPS to a real server; `LocalClient` calls an in-process
`Store` directly and is the fake for unit tests — same semantics, same errors, no sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from podfleet.api.resources import ResourceType


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED MODIFIED DELETED BOOKMARK ERROR
    object: dict[str, Any]


class Client(Protocol):
    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> dict[str, Any]: ...

    async def list(self, rt: ResourceType, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> dict[str, Any]: ...

    async def create(self, rt: ResourceType, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]: ...

    async def update(self, rt: ResourceType, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]: ...

    async def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str = "", *,
                    patch_type: str = "merge", subresource: str = "") -> dict[str, Any]:
        """patch_type: merge | strategic | json."""

    async def delete(self, rt: ResourceType, name: str, namespace: str = "", *,
                     grace_period_seconds: int | None = None, uid: str = "",
                     propagation_policy: str = "") -> dict[str, Any]: ...

    async def post_subresource(self, rt: ResourceType, name: str, namespace: str, subresource: str,
                               body: dict[str, Any]) -> dict[str, Any]:
        """`binding`, `eviction`."""

    def watch(self, rt: ResourceType, namespace: str = "", *, resource_version: str = "",
              label_selector: str = "", field_selector: str = "",
              timeout_seconds: int | None = None) -> AsyncIterator[WatchEvent]: ...

    async def close(self) -> None: ...
