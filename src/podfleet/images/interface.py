"""The ImageStore seam: what the node agent asks of images, independent of how they are stored.

The agent needs four things: "give me this image under this pull policy" (`ensure`), "is it here"
(`get`), "a root filesystem for this container" (`prepare_rootfs`, which its runtime mounts in the
container's own mount namespace; `mount_rootfs` mounts it here) and "take it away again"
(`unmount_rootfs`). `OverlayImageStore` (store.py) does this with a content-addressed blob store,
a registry client and overlayfs; `FakeImageStore` (fake.py) does it in memory for unit tests.
Errors carry the kubelet waiting reason they map to (ErrImagePull, ErrImageNeverPull, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from podfleet.mounts import Mount

Images = list["Image"]  # (a method called `list` shadows the builtin inside class bodies)


@dataclass(frozen=True)
class PreparedRootfs:
    """A container's root filesystem, ready but for `mount` (None: `path` is ready as it is), which
    the container's runtime makes at `path` in the container's own mount namespace."""

    path: Path
    mount: Mount | None


class PullPolicy(StrEnum):
    """A container's `imagePullPolicy`."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class ImageError(Exception):
    """An image could not be provided; `reason` is the kubelet waiting reason it maps to."""

    default_reason = "ErrImagePull"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.default_reason


class InvalidImageName(ImageError):
    """The reference does not parse (`InvalidImageName`)."""

    default_reason = "InvalidImageName"


class ImageNeverPull(ImageError):
    """The image is absent and the pull policy is Never (`ErrImageNeverPull`)."""

    default_reason = "ErrImageNeverPull"


class ImageNotKnown(ImageError):
    """`get`/`remove` of a reference the store does not have."""

    default_reason = "ImageNotFound"


class ImageInUse(ImageError):
    """Removing the last reference of an image whose layers a container's rootfs still uses."""

    default_reason = "ImageInUse"


class RegistryError(ImageError):
    """Talking to a registry failed (network, HTTP status, auth, unsupported manifest)."""


class DigestMismatch(RegistryError):
    """Content did not hash to the digest that names it; nothing of it was kept."""


class RootfsError(ImageError):
    """Mounting or unmounting a container's rootfs failed."""

    default_reason = "CreateContainerError"


@dataclass(frozen=True)
class Credentials:
    """Registry credentials: user/password (basic, or for the token endpoint) or an identity token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""  # OAuth2 refresh token (docker config `identitytoken`)
    registry_token: str = ""  # bearer token used as-is (docker config `registrytoken`)

    def __repr__(self) -> str:  # never print secrets in logs
        return f"Credentials(username={self.username!r}, password=***)"


@dataclass(frozen=True)
class ImageConfig:
    """The runtime defaults an image carries (the `config` object of an OCI image config)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""
    exposed_ports: tuple[str, ...] = ()  # "80/tcp", sorted
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_oci(cls, config: Mapping[str, Any] | None) -> ImageConfig:
        c = config or {}

        def strings(key: str) -> tuple[str, ...]:
            value = c.get(key)
            if isinstance(value, str):  # a shell-form string is legal in Docker's JSON
                return (value,)
            return tuple(str(v) for v in value or ())

        return cls(entrypoint=strings("Entrypoint"), cmd=strings("Cmd"), env=strings("Env"),
                   working_dir=str(c.get("WorkingDir") or ""), user=str(c.get("User") or ""),
                   stop_signal=str(c.get("StopSignal") or ""),
                   exposed_ports=tuple(sorted(c.get("ExposedPorts") or {})),
                   labels={str(k): str(v) for k, v in (c.get("Labels") or {}).items()})

    @property
    def env_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out


@dataclass(frozen=True, eq=True)
class Image:
    """One image on the node, as named by the reference it was asked for."""

    ref: str  # normalized reference (`docker.io/library/busybox:latest`, `host/x@sha256:...`)
    id: str  # config digest: the image ID
    manifest_digest: str  # of the linux/amd64 manifest
    config: dict[str, Any] = field(hash=False)  # the image config's `config` object, verbatim
    layers: tuple[str, ...] = ()  # diff IDs (sha256 of the uncompressed layer tars), bottom first
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    size: int = 0  # bytes of the (compressed) layer blobs

    @property
    def image_config(self) -> ImageConfig:
        return ImageConfig.from_oci(self.config)

    @property
    def repo_digest(self) -> str:
        """`<repository>@<digest>` for this reference: what kubelet reports as `imageID`."""
        name = self.ref.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name = name[: len(name) - len(last)] + last.split(":", 1)[0]
        own = [d for d in self.repo_digests if d.split("@", 1)[0] == name]
        own.sort(key=lambda d: d.endswith(self.manifest_digest))  # an index's digest first, as containerd
        return own[0] if own else f"{name}@{self.manifest_digest}"


class LayerState(StrEnum):
    """Where one layer of a pull stands."""

    WAITING = "waiting"  # queued behind other downloads
    DOWNLOADING = "downloading"
    UNPACKING = "unpacking"  # every byte is here; being unpacked
    DONE = "done"
    PRESENT = "present"  # already on the node: nothing fetched


@dataclass(frozen=True)
class LayerProgress:
    """One manifest layer: its blob digest, bytes fetched and its size from the manifest (0: unknown)."""

    digest: str
    state: LayerState
    bytes_done: int
    bytes_total: int

    @property
    def finished(self) -> bool:
        return self.state in (LayerState.DONE, LayerState.PRESENT)


@dataclass(frozen=True)
class PullProgress:
    """A snapshot of a pull: `layer` is the one that just changed, `layers` all of them (manifest order).
    The byte counts cover the layers to fetch; layers already present count in neither."""

    layer: LayerProgress
    layers: tuple[LayerProgress, ...]
    bytes_done: int
    bytes_total: int
    elapsed: float  # seconds since the pull began

    @property
    def finished(self) -> bool:
        return all(layer.finished for layer in self.layers)


# Called on the event loop, at most every ~100 ms per layer plus on each layer's start and end:
# it must be cheap and must not block (no I/O); keep the snapshot and act on it elsewhere.
ProgressCallback = Callable[[PullProgress], None]


@runtime_checkable
class ImageStore(Protocol):
    """The node's images and the per-container root filesystems made from them."""

    def get(self, ref: str) -> Image | None:
        """The image for `ref` if present (no network, no blocking I/O); None also for invalid refs."""
        ...

    def list(self) -> Images:
        """Every tagged or digest-named image, one entry per reference."""
        ...

    async def ensure(self, ref: str, policy: PullPolicy | str = PullPolicy.IF_NOT_PRESENT,
                     credentials: Credentials | None = None, *, progress: ProgressCallback | None = None) -> Image:
        """The image for `ref` under a pull policy, pulling it when the policy says so. `progress` hears
        about a pull as it runs (also one this call joined); it is never called when no pull happens."""
        ...

    async def load(self, archive: Path) -> Images:
        """Load an oci-archive or docker-archive tarball; returns the images it named."""
        ...

    async def import_rootfs(self, tar_path: Path, ref: str) -> Image:
        """`docker import`: one layer from a root filesystem tarball, a minimal config."""
        ...

    async def remove(self, ref: str, force: bool = False) -> None:
        """Drop a reference; the image goes with its last one. Refused (ImageInUse) while a
        container's rootfs uses it unless `force` (then its layers stay until that unmount)."""
        ...

    async def mount_rootfs(self, container_id: str, image: Image) -> Path:
        """A writable root filesystem for one container, mounted here (idempotent)."""
        ...

    async def prepare_rootfs(self, container_id: str, image: Image) -> PreparedRootfs:
        """A writable root filesystem for one container, to be mounted by its runtime."""
        ...

    async def unmount_rootfs(self, container_id: str) -> None:
        """Unmount and delete the container's writable layer (idempotent)."""
        ...

