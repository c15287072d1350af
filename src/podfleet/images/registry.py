"""An OCI distribution (registry v2) client: manifests, blobs, and the auth dance.

Anonymous access, HTTP basic, and bearer tokens (`WWW-Authenticate: Bearer realm=…,service=…,
scope=…` → token endpoint, with basic credentials when given). Registries on loopback are reached
over plain HTTP, others over HTTPS. Every blob is verified against its digest while it streams to
disk; a mismatch is refused and nothing is kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from podfleet.images.reference import Reference

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]


class RegistryError(Exception):
    """Pulling failed; `reason` is kubelet's (ErrImagePull, ImageNotFound...)."""

    def __init__(self, message: str, reason: str = "ErrImagePull") -> None:
        super().__init__(message)
        self.reason = reason


class DigestMismatch(RegistryError):
    pass


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    token: str = ""  # identity/registry token


def credentials_from_dockerconfig(secret_data: dict[str, str], registry: str) -> Credentials | None:
    """Credentials for `registry` from a `kubernetes.io/dockerconfigjson` Secret's (base64) data."""
    raw = secret_data.get(".dockerconfigjson") or secret_data.get(".dockercfg")
    if not raw:
        return None
    cfg = json.loads(base64.b64decode(raw))
    auths = cfg.get("auths", cfg)
    for server, entry in auths.items():
        host = re.sub(r"^https?://", "", server).split("/")[0]
        if host in (registry, "index.docker.io" if registry == "docker.io" else registry):
            if entry.get("auth"):
                user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
                return Credentials(user, pw)
            return Credentials(entry.get("username", ""), entry.get("password", ""), entry.get("identitytoken", ""))
    return None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class RegistryClient:
    def __init__(self, ref: Reference, creds: Credentials | None = None, *, timeout: float = 300) -> None:
        self.ref = ref
        self.creds = creds
        host = "registry-1.docker.io" if ref.registry == "docker.io" else ref.registry
        self.base = f"{'http' if ref.plain_http else 'https'}://{host}/v2/{ref.repository}"
        self._auth: str | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=15)

    async def _authorize(self, session: aiohttp.ClientSession, header: str) -> None:
        scheme, params = _challenge(header)
        if scheme == "basic":
            if not self.creds:
                raise RegistryError(f"{self.ref.registry}: authentication required", "ErrImagePull")
            self._auth = "Basic " + base64.b64encode(f"{self.creds.username}:{self.creds.password}".encode()).decode()
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"{self.ref.registry}: unsupported auth challenge {header!r}")
        query = {"service": params.get("service", ""),
                 "scope": params.get("scope", f"repository:{self.ref.repository}:pull")}
        auth = None
        if self.creds and self.creds.username:
            auth = aiohttp.BasicAuth(self.creds.username, self.creds.password)
        async with session.get(params["realm"], params={k: v for k, v in query.items() if v}, auth=auth) as resp:
            if resp.status != 200:
                raise RegistryError(f"{self.ref.registry}: token request failed with {resp.status}")
            body = await resp.json(content_type=None)
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"{self.ref.registry}: token endpoint returned no token")
        self._auth = f"Bearer {token}"

    async def _get(self, session: aiohttp.ClientSession, url: str, accept: str = "") -> aiohttp.ClientResponse:
        for _ in range(2):
            headers = {"Accept": accept} if accept else {}
            if self._auth:
                headers["Authorization"] = self._auth
            resp = await session.get(url, headers=headers)
            if resp.status == 401 and "WWW-Authenticate" in resp.headers and self._auth is None:
                challenge = resp.headers["WWW-Authenticate"]
                resp.release()
                await self._authorize(session, challenge)
                continue
            return resp
        return resp

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=self._timeout)

    async def manifest(self, session: aiohttp.ClientSession, reference: str) -> tuple[str, str, bytes]:
        """(media type, digest, raw bytes) of the manifest or index at a tag or digest."""
        try:
            resp = await self._get(session, f"{self.base}/manifests/{reference}", ", ".join(MANIFEST_TYPES))
        except aiohttp.ClientError as e:
            raise RegistryError(f"pinging registry {self.ref.registry}: {e}") from e
        async with resp:
            if resp.status == 404:
                raise RegistryError(f"{self.ref}: manifest unknown: not found", "ErrImagePull")
            if resp.status == 401:
                raise RegistryError(f"{self.ref}: unauthorized: authentication required", "ErrImagePull")
            if resp.status != 200:
                raise RegistryError(f"{self.ref}: registry answered {resp.status}")
            raw = await resp.read()
            media = resp.headers.get("Content-Type", "").split(";")[0]
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise DigestMismatch(f"{self.ref}: manifest digest {digest} does not match {reference}")
        if not media or media == "application/json":
            media = json.loads(raw).get("mediaType", MANIFEST_TYPES[2])
        return media, digest, raw

    async def blob(self, session: aiohttp.ClientSession, digest: str, dest: Path) -> None:
        """Download a blob to `dest`, verifying its digest; nothing is left behind on failure."""
        tmp = dest.with_name(dest.name + ".download")
        h = hashlib.sha256()
        try:
            resp = await self._get(session, f"{self.base}/blobs/{digest}")
            async with resp:
                if resp.status != 200:
                    raise RegistryError(f"{self.ref}: fetching blob {digest}: registry answered {resp.status}")
                with open(tmp, "wb") as f:
                    async for chunk in resp.content.iter_chunked(1 << 20):
                        h.update(chunk)
                        f.write(chunk)
            got = "sha256:" + h.hexdigest()
            if got != digest:
                raise DigestMismatch(f"{self.ref}: blob digest mismatch: expected {digest}, got {got}")
            tmp.replace(dest)
        except aiohttp.ClientError as e:
            raise RegistryError(f"{self.ref}: fetching blob {digest}: {e}") from e
        finally:
            tmp.unlink(missing_ok=True)


def pick_platform(index: dict[str, Any], os_: str = "linux", arch: str = "amd64") -> str:
    for m in index.get("manifests") or []:
        p = m.get("platform") or {}
        if p.get("os") == os_ and p.get("architecture") == arch:
            return str(m["digest"])
    raise RegistryError(f"no manifest for {os_}/{arch} in the image index", "ErrImagePull")
