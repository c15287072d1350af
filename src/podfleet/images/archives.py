"""Reading image archives: oci-archive (OCI image layout in a tar: `index.json` + `blobs/`) and
docker-archive (`manifest.json` + config + layer tars, as `docker save`, `podman save` and
`skopeo copy docker-archive:` write them).

The archive is read in place (random access into the tar), never unpacked to a scratch directory.
Every blob is verified: OCI blobs against the digests that name them, docker-archive layers
against the config's diff IDs. Names: a full reference in the `io.containerd.image.name` or
`org.opencontainers.image.ref.name` annotation (or RepoTags) is used as is; a bare tag such as `v1`
becomes `localhost/<archive name>:v1`. All of this blocks: the store runs it in a worker thread.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podfleet.images.blobs import BlobStore, LayerStore, hex_of, sha256_bytes
from podfleet.images.index import ImageRecord
from podfleet.images.interface import ImageError
from podfleet.images.layers import compression_of
from podfleet.images.manifest import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Index,
    InvalidManifest,
    Manifest,
    diff_ids,
    parse,
    pick_platform,
)
from podfleet.images.reference import normalize

MAX_JSON = 16 << 20


@dataclass
class LoadedImage:
    names: list[str]  # normalized references
    record: ImageRecord


class ArchiveError(ImageError):
    """An archive that is not an image archive, or is damaged."""

    default_reason = "ErrImageLoad"


def archive_base_name(archive: Path) -> str:
    stem = archive.name
    for suffix in (".gz", ".tgz", ".zst", ".tar", ".oci", ".docker"):
        stem = stem.removesuffix(suffix)
    stem = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("._-")
    return stem or "imported"


def _name(raw: str, archive: Path) -> str:
    """A full reference stays; a bare tag is given a local repository named after the archive."""
    if "/" in raw or ":" in raw or "@" in raw:
        return normalize(raw)
    return normalize(f"localhost/{archive_base_name(archive)}:{raw}")


def layer_media_type(blob: Path) -> str:
    kind = compression_of(blob)
    return OCI_LAYER + {"gzip": "+gzip", "zstd": "+zstd", "none": ""}[kind]


class _Archive:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members = {posixpath.normpath(m.name.lstrip("/")): m for m in tar.getmembers()}

    def member(self, name: str, depth: int = 0) -> tarfile.TarInfo:
        m = self.members.get(posixpath.normpath(name.lstrip("/")))
        if m is None:
            raise ArchiveError(f"archive has no {name!r}")
        if (m.issym() or m.islnk()) and depth < 8:  # docker save links duplicate layers
            base = posixpath.dirname(m.name) if m.issym() else ""
            return self.member(posixpath.join(base, m.linkname), depth + 1)
        if not m.isreg():
            raise ArchiveError(f"archive entry {name!r} is not a file")
        return m

    def open(self, name: str) -> Any:
        f = self.tar.extractfile(self.member(name))
        if f is None:
            raise ArchiveError(f"archive entry {name!r} cannot be read")
        return f

    def read_json(self, name: str) -> bytes:
        m = self.member(name)
        if m.size > MAX_JSON:
            raise ArchiveError(f"archive entry {name!r} is too large for JSON metadata")
        with self.open(name) as f:
            data: bytes = f.read()
            return data

    def has(self, name: str) -> bool:
        return posixpath.normpath(name) in self.members


def read_archive(archive: Path, blobs: BlobStore, layers: LayerStore, name: str | None = None) -> list[LoadedImage]:
    """Ingest every image the archive holds (blobs verified, layers unpacked) and say what to name them."""
    try:
        tar = tarfile.open(archive)  # noqa: SIM115 - closed just below
    except (tarfile.TarError, OSError) as e:
        raise ArchiveError(f"{archive}: not a readable tar archive: {e}") from e
    with tar:
        a = _Archive(tar)
        if a.has("index.json") and a.has("oci-layout"):
            loaded = _read_oci(a, archive, blobs, layers)
        elif a.has("manifest.json"):
            loaded = _read_docker(a, archive, blobs, layers)
        elif a.has("index.json"):
            loaded = _read_oci(a, archive, blobs, layers)
        else:
            raise ArchiveError(f"{archive}: neither an oci-archive (index.json) nor a docker-archive (manifest.json)")
    if name is not None:
        if len(loaded) != 1:
            raise ArchiveError(f"{archive}: holds {len(loaded)} images; a name can only be given to one")
        loaded[0].names = [normalize(name)]
    return loaded


def _oci_blob(a: _Archive, blobs: BlobStore, digest: str) -> str:
    if not blobs.has(digest):
        with a.open(f"blobs/sha256/{hex_of(digest)}") as f:
            blobs.ingest(f, digest)
    return digest


def _read_oci(a: _Archive, archive: Path, blobs: BlobStore, layers: LayerStore) -> list[LoadedImage]:
    top = parse(a.read_json("index.json"))
    if not isinstance(top, Index):
        raise ArchiveError(f"{archive}: index.json is not an image index")
    out: dict[str, LoadedImage] = {}
    for desc in top.manifests:
        raw_name = desc.annotation("io.containerd.image.name") or desc.annotation("org.opencontainers.image.ref.name")
        names = [_name(raw_name, archive)] if raw_name else []
        digest = _oci_blob(a, blobs, desc.digest)
        doc = parse(blobs.read(digest), desc.media_type)
        extra = []
        if isinstance(doc, Index):
            extra.append(digest)
            digest = _oci_blob(a, blobs, pick_platform(doc).digest)
            doc = parse(blobs.read(digest))
        if not isinstance(doc, Manifest):
            raise InvalidManifest(f"{archive}: nested image indexes are not supported")
        config = json.loads(blobs.read(_oci_blob(a, blobs, doc.config.digest)))
        ids = diff_ids(config, len(doc.layers))
        size = 0
        for layer, diff_id in zip(doc.layers, ids, strict=True):
            size += max(layer.size, 0)
            if not layers.has(diff_id):
                layers.unpack(blobs.path(_oci_blob(a, blobs, layer.digest)), diff_id)
        if not names:
            names = [normalize(f"localhost/{archive_base_name(archive)}@{digest}")]
        record = ImageRecord(digest, doc.config.digest, ids, [d.digest for d in doc.layers],
                             dict(config.get("config") or {}), size, extra)
        if digest in out:
            out[digest].names += names
        else:
            out[digest] = LoadedImage(names, record)
    return list(out.values())


def _read_docker(a: _Archive, archive: Path, blobs: BlobStore, layers: LayerStore) -> list[LoadedImage]:
    try:
        entries = json.loads(a.read_json("manifest.json"))
    except ValueError as e:
        raise ArchiveError(f"{archive}: manifest.json is not JSON: {e}") from e
    if not isinstance(entries, list):
        raise ArchiveError(f"{archive}: manifest.json is not a list")
    out = []
    for entry in entries:
        cfg_name = str(entry.get("Config") or "")
        raw = a.read_json(cfg_name)
        cfg_digest = sha256_bytes(raw)
        named = os.path.basename(cfg_name).removesuffix(".json")
        if re.fullmatch(r"[0-9a-f]{64}", named) and named != hex_of(cfg_digest):
            raise ArchiveError(f"{archive}: config {cfg_name} does not match its digest")
        blobs.put(raw, cfg_digest)
        config = json.loads(raw)
        layer_names = [str(p) for p in entry.get("Layers") or []]
        ids = diff_ids(config, len(layer_names))
        descriptors: list[dict[str, Any]] = []
        size = 0
        for path, diff_id in zip(layer_names, ids, strict=True):
            with a.open(path) as f:
                digest, n = blobs.ingest(f)
            size += n
            if not layers.has(diff_id):
                layers.unpack(blobs.path(digest), diff_id)
            descriptors.append({"mediaType": layer_media_type(blobs.path(digest)), "digest": digest, "size": n})
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": len(raw)},
                    "layers": descriptors}
        mdigest = blobs.put(json.dumps(manifest, separators=(",", ":")).encode())
        tags = [str(t) for t in entry.get("RepoTags") or []]
        names = [_name(t, archive) for t in tags] or [normalize(f"localhost/{archive_base_name(archive)}:latest")]
        out.append(LoadedImage(names, ImageRecord(mdigest, cfg_digest, ids, [d["digest"] for d in descriptors],
                                                  dict(config.get("config") or {}), size)))
    return out
