"""`LocalClient`: the `Client` protocol served by an in-process `Store`, without sockets.

It goes through exactly the same REST semantics as the HTTP server (validation, conflicts,
graceful deletion, watch). Two uses:

- the fake for unit tests, acting with no identity (as an administrator), so controller and agent
  tests stay fast and true;
- the loopback client of the components `podfleet up` runs in the API server's own process
  (controllers, scheduler, the node agent). Given a `Credential`, every call is authenticated
  and authorized exactly as an HTTPS request with that bearer token would be — a node agent's
  token still makes it `system:node:<name>` under the NodeRestriction rules, object checks
  included — but nothing is encoded, encrypted, framed, parsed and decoded twice on its way from one
  part of the process to another. In a burst of 50 pods that round trip was a third of the API
  process's CPU and put up to a second between a container starting and its pod's status saying so.

Objects cross the boundary as copies: the store copies what it is given, and watch events (shared
by every watcher inside the store) are copied for each caller, who may change what it receives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from podfleet.api.jsoncopy import clone
from podfleet.api.resources import NAMESPACES, PODS, SERVICEACCOUNTS, ResourceType
from podfleet.apiserver.auth import Authenticator, Authorizer, RequestAttributes, UserInfo
from podfleet.apiserver.routing import selector_name
from podfleet.apiserver.serviceaccount_tokens import TokenIssuer
from podfleet.apiserver.store import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    DeleteOptions,
    ListOptions,
    Store,
    WriteOptions,
)
from podfleet.apiserver.token_request import create_token
from podfleet.client.interface import WatchEvent

_PATCH_TYPES = {"merge": MERGE_PATCH, "strategic": STRATEGIC_PATCH, "json": JSON_PATCH}
_ADMIN = UserInfo("admin", ("system:masters",))


@dataclass(frozen=True)
class Credential:
    """Whom a `LocalClient` acts as: a bearer token, checked on every call by the server's own
    authenticator (a token removed from the token file stops working, as over HTTPS) and each call
    decided by its authorizer."""

    token: str
    authenticator: Authenticator
    authorizer: Authorizer


class LocalClient:
    def __init__(self, store: Store, credential: Credential | None = None, field_manager: str = "podfleet",
                 token_issuer: TokenIssuer | None = None) -> None:
        """`field_manager` names this client's writes in managedFields, as a User-Agent would;
        `token_issuer` serves `serviceaccounts/<name>/token` (the server's, for the agent's tokens)."""
        self.store = store
        self.credential = credential
        self.field_manager = field_manager
        self.token_issuer = token_issuer

    def _write(self, user: UserInfo | None) -> WriteOptions:
        return WriteOptions(user=user, field_manager=self.field_manager)

    def _user(self, verb: str, rt: ResourceType, namespace: str = "", name: str = "",
              subresource: str = "") -> UserInfo | None:
        """The caller, once allowed to make this request (None: no credential, the test fake)."""
        cred = self.credential
        if cred is None:
            return None
        user = cred.authenticator.authenticate(cred.token)
        # As the HTTP server builds them: a namespace's own requests are in that namespace.
        scope = name if rt is NAMESPACES else (namespace if rt.namespaced else "")
        cred.authorizer.authorize(RequestAttributes(user, verb, rt.plural, rt.group, scope, name, subresource))
        return user

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> dict[str, Any]:
        self._user("get", rt, namespace, name)
        return await self.store.get(rt, namespace, name)

    async def list(self, rt: ResourceType, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> dict[str, Any]:
        self._user("list", rt, namespace, selector_name({"fieldSelector": field_selector}))
        return await self.store.list(rt, namespace, ListOptions(label_selector, field_selector, limit,
                                                                continue_token, resource_version))

    async def create(self, rt: ResourceType, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        ns = namespace or (obj.get("metadata") or {}).get("namespace", "")
        user = self._user("create", rt, ns)
        return (await self.store.create(rt, ns, obj, self._write(user))).object

    async def update(self, rt: ResourceType, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        m = obj["metadata"]
        ns = m.get("namespace", "")
        user = self._user("update", rt, ns, m["name"], subresource)
        return (await self.store.update(rt, ns, m["name"], obj, self._write(user), subresource)).object

    async def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str = "", *,
                    patch_type: str = "merge", subresource: str = "") -> dict[str, Any]:
        user = self._user("patch", rt, namespace, name, subresource)
        return (await self.store.patch(rt, namespace, name, _PATCH_TYPES[patch_type], json.dumps(patch).encode(),
                                       self._write(user), subresource)).object

    async def delete(self, rt: ResourceType, name: str, namespace: str = "", *,
                     grace_period_seconds: int | None = None, uid: str = "",
                     propagation_policy: str = "") -> dict[str, Any]:
        user = self._user("delete", rt, namespace, name)
        return await self.store.delete(rt, namespace, name, DeleteOptions(
            grace_period_seconds=grace_period_seconds, precondition_uid=uid,
            propagation_policy=propagation_policy, user=user))

    async def post_subresource(self, rt: ResourceType, name: str, namespace: str, subresource: str,
                               body: dict[str, Any]) -> dict[str, Any]:
        from podfleet.apiserver import eviction, pods

        if (subresource, rt) not in (("binding", PODS), ("eviction", PODS), ("token", SERVICEACCOUNTS)) \
                or (subresource == "token" and self.token_issuer is None):
            raise ValueError(f"unsupported subresource {rt.plural}/{subresource}")
        user = self._user("create", rt, namespace, name, subresource) or _ADMIN
        if subresource == "token":
            assert self.token_issuer is not None
            return await create_token(self.store, self.token_issuer, namespace, name, clone(body),
                                      node=user.node_name)
        if subresource == "binding":
            return await pods.bind(self.store, namespace, name, clone(body), user)
        return await eviction.evict(self.store, namespace, name, clone(body), user)

    async def watch(self, rt: ResourceType, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    timeout_seconds: int | None = None) -> AsyncIterator[WatchEvent]:
        """Ends after `timeout_seconds`, as the server ends a watch request."""
        self._user("watch", rt, namespace, selector_name({"fieldSelector": field_selector}))
        events = await self.store.watch(rt, namespace, ListOptions(label_selector, field_selector,
                                                                   resource_version=resource_version))
        deadline = asyncio.get_running_loop().time() + timeout_seconds if timeout_seconds else None
        try:
            while True:
                try:
                    if deadline is None:
                        ev = await anext(events)
                    else:
                        # Only the wait for the next event is bounded: a timeout spanning the
                        # `yield` would cancel whatever the caller awaits in between.
                        async with asyncio.timeout_at(deadline):
                            ev = await anext(events)
                except (StopAsyncIteration, TimeoutError):
                    return
                yield WatchEvent(ev.type, clone(ev.object))
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        return None
