"""An OCI distribution (registry API v2) client: manifests, blobs, and the auth dance.

Anonymous access, HTTP basic, and bearer tokens: a 401 with `WWW-Authenticate: Bearer realm=…,
service=…,scope=…` sends us to the token endpoint (with basic credentials when we have them, or an
OAuth2 refresh-token grant for identity tokens), and the request is retried once with the token.
Registries on loopback are reached over plain HTTP (as Docker allows), every other one over HTTPS.
Every blob is hashed while it streams to a private temporary file and only renamed into the store
when the digest matches; file writes run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import aiohttp

from podfleet.images.interface import Credentials, DigestMismatch, RegistryError
from podfleet.images.manifest import ACCEPT, MAX_MANIFEST_BYTES
from podfleet.images.pull_secrets import credentials_from_dockerconfig
from podfleet.images.reference import Reference

__all__ = ["Credentials", "DigestMismatch", "RegistryClient", "RegistryError", "basic_credentials",
           "credentials_from_dockerconfig", "parse_challenge"]

log = logging.getLogger("podfleet.images")
_FLUSH = 1 << 20


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…"` → ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v1 if v1 or not v2 else v2
              for k, v1, v2 in re.findall(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))', rest)}
    return scheme.lower(), params


def _basic(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


class RegistryClient:
    """Talks to one repository of one registry; use as `async with RegistryClient(ref) as client`."""

    def __init__(self, ref: Reference, credentials: Credentials | None = None, *,
                 session: aiohttp.ClientSession | None = None, timeout: float = 600,
                 scheme: str | None = None) -> None:
        self.ref = ref
        self.credentials = credentials
        self.base = f"{scheme or ('http' if ref.plain_http else 'https')}://{ref.api_host}/v2/{ref.repository}"
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=15, sock_read=60)
        self._authorization: str | None = None

    async def __aenter__(self) -> RegistryClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RegistryClient used outside `async with`")
        return self._session

    # ------------------------------------------------------------------ auth
    async def _authorize(self, challenge: str) -> None:
        scheme, params = parse_challenge(challenge)
        creds = self.credentials
        if scheme == "basic":
            if not creds or not creds.username:
                raise RegistryError(f"{self.ref.registry}: unauthorized: authentication required (no credentials)")
            self._authorization = _basic(creds)
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"{self.ref.registry}: unauthorized (challenge {challenge!r} not understood)")
        if creds and creds.registry_token:
            self._authorization = f"Bearer {creds.registry_token}"
            return
        scope = params.get("scope") or f"repository:{self.ref.repository}:pull"
        query = {k: v for k, v in (("service", params.get("service", "")), ("scope", scope)) if v}
        try:
            if creds and creds.identity_token:
                form = {**query, "grant_type": "refresh_token", "refresh_token": creds.identity_token,
                        "client_id": "podfleet"}
                req = self.session.post(params["realm"], data=form)
            else:
                headers = {"Authorization": _basic(creds)} if creds and creds.username else {}
                req = self.session.get(params["realm"], params=query, headers=headers)
            async with req as resp:
                if resp.status in (401, 403):
                    raise RegistryError(f"{self.ref.registry}: unauthorized: the token service refused the "
                                        f"credentials ({resp.status})")
                if resp.status != 200:
                    raise RegistryError(f"{self.ref.registry}: token request failed with HTTP {resp.status}")
                body = await resp.json(content_type=None)
        except aiohttp.ClientError as e:
            raise RegistryError(f"{self.ref.registry}: token request to {params['realm']} failed: {e}") from e
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise RegistryError(f"{self.ref.registry}: the token service returned no token")
        self._authorization = f"Bearer {token}"

    async def _get(self, url: str, accept: str = "") -> aiohttp.ClientResponse:
        """GET with auth: on a 401, authorize from its challenge and retry once."""
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if self._authorization:
                headers["Authorization"] = self._authorization
            try:
                resp = await self.session.get(url, headers=headers)
            except (aiohttp.ClientError, TimeoutError) as e:
                raise RegistryError(f"pinging container registry {self.ref.registry}: {e or type(e).__name__}") from e
            if resp.status == 401 and attempt == 0:
                challenge = resp.headers.get("WWW-Authenticate", "")
                resp.release()
                await self._authorize(challenge)
                continue
            return resp
        return resp

    def _status_error(self, status: int, what: str) -> RegistryError:
        if status in (401, 403):
            return RegistryError(f"{self.ref}: {what}: unauthorized: authentication required (HTTP {status})")
        if status == 404:
            return RegistryError(f"{self.ref}: {what}: not found")
        return RegistryError(f"{self.ref}: {what}: registry answered HTTP {status}")

    # ------------------------------------------------------------------ content
    async def manifest(self, reference: str) -> tuple[str, str, bytes]:
        """(Content-Type, digest, raw bytes) of the manifest or index at a tag or digest.

        By-digest answers are verified; a by-tag answer is checked against the registry's own
        Docker-Content-Digest header when it sends one.
        """
        resp = await self._get(f"{self.base}/manifests/{reference}", ", ".join(ACCEPT))
        async with resp:
            if resp.status != 200:
                raise self._status_error(resp.status, f"manifest {reference}" if reference.startswith("sha256:")
                                         else "manifest unknown")
            if (resp.content_length or 0) > MAX_MANIFEST_BYTES:
                raise RegistryError(f"{self.ref}: manifest of {resp.content_length} bytes is too large")
            try:
                raw = await resp.content.read(MAX_MANIFEST_BYTES + 1)
            except (aiohttp.ClientError, TimeoutError) as e:
                raise RegistryError(f"{self.ref}: reading manifest: {e}") from e
            media = resp.headers.get("Content-Type", "").split(";")[0].strip()
            claimed = resp.headers.get("Docker-Content-Digest", "")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        expected = reference if reference.startswith("sha256:") else claimed if claimed.startswith("sha256:") else ""
        if expected and digest != expected:
            raise DigestMismatch(f"{self.ref}: manifest digest mismatch: expected {expected}, got {digest}")
        return media, digest, raw

    async def blob_bytes(self, digest: str, limit: int = MAX_MANIFEST_BYTES) -> bytes:
        """A small blob (an image config) in memory, verified."""
        resp = await self._get(f"{self.base}/blobs/{digest}")
        async with resp:
            if resp.status != 200:
                raise self._status_error(resp.status, f"blob {digest}")
            try:
                raw = await resp.content.read(limit + 1)
            except (aiohttp.ClientError, TimeoutError) as e:
                raise RegistryError(f"{self.ref}: fetching blob {digest}: {e}") from e
        if len(raw) > limit:
            raise RegistryError(f"{self.ref}: blob {digest} is larger than {limit} bytes")
        got = "sha256:" + hashlib.sha256(raw).hexdigest()
        if got != digest:
            raise DigestMismatch(f"{self.ref}: blob digest mismatch: expected {digest}, got {got}")
        return raw

    async def blob(self, digest: str, dest: Path, progress: Callable[[int], None] | None = None) -> int:
        """Download a blob to `dest` (atomically), verifying its digest; returns its size.

        On any failure — network, HTTP status, wrong digest — nothing is left behind. `progress` hears
        the bytes received so far: 0 once the registry answers, then after every chunk.
        """
        fd, tmp_name = await asyncio.to_thread(tempfile.mkstemp, prefix=".tmp-", dir=dest.parent)
        tmp = Path(tmp_name)
        f: BinaryIO = os.fdopen(fd, "wb")
        sha = hashlib.sha256()
        size = 0

        def flush(data: bytes) -> None:
            sha.update(data)
            f.write(data)

        try:
            resp = await self._get(f"{self.base}/blobs/{digest}")
            async with resp:
                if resp.status != 200:
                    raise self._status_error(resp.status, f"blob {digest}")
                buf = bytearray()
                if progress is not None:
                    progress(0)
                try:
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        buf += chunk
                        size += len(chunk)
                        if progress is not None:
                            progress(size)
                        if len(buf) >= _FLUSH:
                            await asyncio.to_thread(flush, bytes(buf))
                            buf.clear()
                except (aiohttp.ClientError, TimeoutError) as e:
                    raise RegistryError(f"{self.ref}: fetching blob {digest}: {e or type(e).__name__}") from e
                await asyncio.to_thread(flush, bytes(buf))
            await asyncio.to_thread(f.close)
            got = "sha256:" + sha.hexdigest()
            if got != digest:
                raise DigestMismatch(f"{self.ref}: blob digest mismatch: expected {digest}, got {got}; "
                                     "the download was discarded")
            await asyncio.to_thread(os.replace, tmp, dest)
            return size
        finally:
            if not f.closed:
                await asyncio.to_thread(f.close)
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(tmp.unlink)


def basic_credentials(spec: str) -> Credentials:
    """`user:password` (as `skopeo --creds` takes it) → Credentials."""
    user, sep, password = spec.partition(":")
    if not sep or not user:
        raise ValueError("credentials must be given as USER:PASSWORD")
    return Credentials(user, password)

