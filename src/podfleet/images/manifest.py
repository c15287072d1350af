"""OCI / Docker schema2 manifests and image indexes (manifest lists): parsing and platform choice.

Shared by the registry pull and by archive loading, so both accept exactly the same media types
and refuse the same things (schema1, non-sha256 digests, foreign layers) with the same messages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from podfleet.images.interface import ImageError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
           "application/vnd.docker.distribution.manifest.v1+prettyjws")
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
LAYER_TYPES = (
    OCI_LAYER, OCI_LAYER + "+gzip", OCI_LAYER + "+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
)
FOREIGN_LAYER_TYPES = (
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)
MAX_MANIFEST_BYTES = 4 << 20
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class InvalidManifest(ImageError):
    """A manifest or index that cannot be used."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int = -1
    platform: tuple[str, str, str] = ("", "", "")  # os, architecture, variant (index entries)
    annotations: tuple[tuple[str, str], ...] = ()

    def annotation(self, key: str) -> str:
        return dict(self.annotations).get(key, "")


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


def check_digest(digest: Any, what: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidManifest(f"{what}: unsupported or malformed digest {digest!r} (only sha256 is supported)")
    return digest


def _descriptor(d: Any, what: str) -> Descriptor:
    if not isinstance(d, dict):
        raise InvalidManifest(f"{what}: descriptor is not an object")
    p = d.get("platform") or {}
    return Descriptor(str(d.get("mediaType") or ""), check_digest(d.get("digest"), what), int(d.get("size", -1)),
                      (str(p.get("os") or ""), str(p.get("architecture") or ""), str(p.get("variant") or "")),
                      tuple(sorted((str(k), str(v)) for k, v in (d.get("annotations") or {}).items())))


def parse(raw: bytes, media_type: str = "") -> Manifest | Index:
    """A manifest or an index from its bytes; `media_type` is the Content-Type when there was one."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidManifest(f"manifest of {len(raw)} bytes exceeds the {MAX_MANIFEST_BYTES} byte limit")
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise InvalidManifest(f"manifest is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise InvalidManifest("manifest is not a JSON object")
    media = doc.get("mediaType") or (media_type if media_type not in ("", "application/json", "text/plain") else "")
    if media in SCHEMA1 or doc.get("schemaVersion") == 1:
        raise InvalidManifest("Docker image manifest schema 1 is not supported; push the image with schema 2 or OCI")
    if media in INDEX_TYPES or (not media and "manifests" in doc):
        return Index(media or OCI_INDEX, tuple(_descriptor(m, "index entry") for m in doc.get("manifests") or []))
    if media not in MANIFEST_TYPES and not (not media and "config" in doc):
        raise InvalidManifest(f"unsupported manifest media type {media!r}")
    layers = []
    for i, layer in enumerate(doc.get("layers") or []):
        desc = _descriptor(layer, f"layer {i}")
        if desc.media_type in FOREIGN_LAYER_TYPES or (isinstance(layer, dict) and layer.get("urls")):
            raise InvalidManifest(f"layer {i} is a foreign (non-distributable) layer, which is not supported")
        if desc.media_type and desc.media_type not in LAYER_TYPES:
            raise InvalidManifest(f"layer {i} has unsupported media type {desc.media_type!r}")
        layers.append(desc)
    return Manifest(media or OCI_MANIFEST, _descriptor(doc.get("config"), "config"), tuple(layers))


def pick_platform(index: Index, os_: str = "linux", arch: str = "amd64") -> Descriptor:
    """The entry for our platform (attestation entries such as unknown/unknown are skipped)."""
    for m in index.manifests:
        if m.platform[0] == os_ and m.platform[1] == arch:
            return m
    seen = ", ".join(sorted({f"{m.platform[0]}/{m.platform[1]}" for m in index.manifests})) or "none"
    raise InvalidManifest(f"no matching manifest for {os_}/{arch} in the manifest list entries (has: {seen})")


def diff_ids(config: dict[str, Any], layer_count: int) -> list[str]:
    """The config's `rootfs.diff_ids`, checked against the manifest's layer count."""
    ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(ids) != layer_count:
        raise InvalidManifest(f"image config lists {len(ids)} diff IDs for {layer_count} layers")
    return [check_digest(d, "diff ID") for d in ids]
