"""ServiceAccount tokens for projected volumes, bound to the pod, cached and renewed as kubelet's.

A token is asked for with a TokenRequest (`serviceaccounts/<sa>/token`) bound to the pod, kept per
(pod, ServiceAccount, audience, lifetime), and is due for renewal once 80 % of its life has passed
or it is older than a day (kubelet's token manager), so a long-lived token is still rotated.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from podfleet.api.errors import APIError
from podfleet.api.meta import parse_time
from podfleet.api.resources import SERVICEACCOUNTS
from podfleet.client.interface import Client
from podfleet.clock import Clock

log = logging.getLogger("podfleet.agent.service_account_tokens")

MAX_TTL = dt.timedelta(hours=24)  # a token older than this is renewed whatever its expiry
REFRESH_AT_FRACTION = 0.8  # of the lifetime
DEFAULT_EXPIRATION_SECONDS = 3600


class TokenError(Exception):
    """No token could be had; the message names the ServiceAccount (the volume reports FailedMount)."""


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: dt.datetime
    refresh_at: dt.datetime  # when kubelet's rule wants a new one


def service_account(pod: dict[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("serviceAccountName") or "default")


def refresh_time(issued_at: dt.datetime, expires_at: dt.datetime) -> dt.datetime:
    """At 80 % of the token's life, or a day after it was issued, whichever comes first."""
    return min(issued_at + (expires_at - issued_at) * REFRESH_AT_FRACTION, issued_at + MAX_TTL)


class TokenManager:
    def __init__(self, client: Client, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self._tokens: dict[tuple[str, str, str, int], Token] = {}  # (pod uid, sa, audience, seconds) -> token

    async def token(self, pod: dict[str, Any], audience: str, expiration_seconds: int | None) -> Token:
        """The pod's token for `audience`: the cached one until it is due, else a new one (the
        cached one again if asking fails while it is still valid, as kubelet)."""
        meta = pod["metadata"]
        sa, seconds = service_account(pod), int(expiration_seconds or DEFAULT_EXPIRATION_SECONDS)
        key = (str(meta.get("uid", "")), sa, audience, seconds)
        cached = self._tokens.get(key)
        now = self.clock.now()
        if cached is not None and now < cached.refresh_at:
            return cached
        try:
            token = await self._request(pod, sa, audience, seconds)
        except TokenError:
            if cached is not None and now < cached.expires_at:
                log.warning("token renewal failed, keeping the current one", extra={"pod": meta.get("name"),
                                                                                   "serviceaccount": sa})
                return cached
            raise
        self._tokens[key] = token
        return token

    async def _request(self, pod: dict[str, Any], sa: str, audience: str, seconds: int) -> Token:
        meta = pod["metadata"]
        ns = str(meta.get("namespace") or "default")
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": [audience] if audience else [], "expirationSeconds": seconds,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta.get("name", ""),
                                            "uid": meta.get("uid", "")}}}
        issued_at = self.clock.now()
        try:
            out = await self.client.post_subresource(SERVICEACCOUNTS, sa, ns, "token", body)
        except (APIError, ValueError, OSError) as e:
            raise TokenError(f'failed to fetch token for ServiceAccount "{ns}/{sa}": {e}') from e
        status = out.get("status") or {}
        value = status.get("token")
        if not value:
            raise TokenError(f'failed to fetch token for ServiceAccount "{ns}/{sa}": no token in the response')
        # The server may grant another lifetime than asked for: its answer is what counts.
        granted = (out.get("spec") or {}).get("expirationSeconds") or seconds
        expires_at = parse_time(status.get("expirationTimestamp")) or issued_at + dt.timedelta(seconds=granted)
        issued_at = expires_at - dt.timedelta(seconds=granted)
        return Token(str(value), expires_at, refresh_time(issued_at, expires_at))

    def forget(self, uid: str) -> None:
        """Drop the pod's tokens (it is gone from the node)."""
        for key in [k for k in self._tokens if k[0] == uid]:
            del self._tokens[key]

