"""Image references as Docker parses them: `busybox` → `docker.io/library/busybox:latest`."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
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
    def plain_http(self) -> bool:
        """Registries on loopback are spoken to over plain HTTP, as Docker allows."""
        host = self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") else self.registry
        return host in ("localhost", "127.0.0.1", "[::1]", "::1") or host.startswith("127.")


def parse_reference(ref: str) -> Reference:
    ref = ref.strip()
    if not ref or any(c.isspace() for c in ref):
        raise ValueError(f"invalid reference format: {ref!r}")
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not digest.startswith("sha256:") or len(digest) != 71:
            raise ValueError(f"invalid digest in reference: {digest!r}")
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, ref
    tag = ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if path != path.lower() or not path:
        raise ValueError(f"invalid reference format: repository name must be lowercase: {ref!r}")
    if not tag and not digest:
        tag = "latest"
    return Reference(registry, path, tag, digest)


def normalize(ref: str) -> str:
    return str(parse_reference(ref))
