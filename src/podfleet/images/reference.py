"""Image references parsed and normalized as Docker does: `busybox` → `docker.io/library/busybox:latest`.

Grammar (docker/distribution `reference`): `[domain[:port]/]path[:tag][@digest]`. The first path
component is a registry only if it contains `.` or `:`, is `localhost`, or has upper-case letters;
otherwise the image lives on Docker Hub (`library/` is added for one-component names).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ANY_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_NAME_MAX = 255


@dataclass(frozen=True)
class Reference:
    registry: str  # "docker.io", "127.0.0.1:5000", "[::1]:5000"
    repository: str  # "library/busybox"
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def key(self) -> str:
        """How the store indexes this reference: by digest when there is one (the tag is then ignored)."""
        return f"{self.name}@{self.digest}" if self.digest else f"{self.name}:{self.tag}"

    @property
    def host(self) -> str:
        """The registry host without its port (IPv6 without brackets)."""
        if self.registry.startswith("["):
            return self.registry[1:].split("]", 1)[0]
        return self.registry.rsplit(":", 1)[0] if ":" in self.registry else self.registry

    @property
    def plain_http(self) -> bool:
        """Registries on loopback are spoken to over plain HTTP, as Docker allows; others need HTTPS."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def api_host(self) -> str:
        """Where the registry API answers (Docker Hub's API is not at docker.io)."""
        return "registry-1.docker.io" if self.registry == DEFAULT_REGISTRY else self.registry

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, "", digest)

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, "")


def parse_reference(ref: str) -> Reference:
    """Parse and normalize; raises ValueError with Docker's wording for malformed references."""
    text = ref
    if not text or text != text.strip() or any(c.isspace() for c in text):
        raise ValueError(f"invalid reference format: {ref!r}")
    digest = ""
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _ANY_DIGEST.fullmatch(digest):
            raise ValueError(f"invalid reference format: bad digest in {ref!r}")
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"unsupported digest algorithm in {ref!r} (only sha256)")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        registry, path = first, rest
        if not _DOMAIN.fullmatch(registry):
            raise ValueError(f"invalid reference format: bad registry {registry!r} in {ref!r}")
    else:
        registry, path = DEFAULT_REGISTRY, text
    tag = ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise ValueError(f"invalid reference format: bad tag {tag!r} in {ref!r}")
    if registry in _HUB_ALIASES:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    components = path.split("/")
    if any(c != c.lower() for c in components):
        raise ValueError(f"invalid reference format: repository name must be lowercase: {ref!r}")
    if not all(_PATH_COMPONENT.fullmatch(c) for c in components):
        raise ValueError(f"invalid reference format: {ref!r}")
    if re.fullmatch(r"[a-f0-9]{64}", path.removeprefix("library/")) and registry == DEFAULT_REGISTRY:
        raise ValueError(f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings")
    if len(f"{registry}/{path}") > _NAME_MAX:
        raise ValueError(f"invalid reference format: repository name must not be more than {_NAME_MAX} characters")
    if not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(registry, path, tag, digest)


def normalize(ref: str) -> str:
    """The fully qualified form of a reference (`busybox` → `docker.io/library/busybox:latest`)."""
    return str(parse_reference(ref))
