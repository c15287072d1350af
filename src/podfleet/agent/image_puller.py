"""Getting a container's image onto the node under its pull policy, with the pod's pull secrets.

Events as kubelet's (Pulling, Pulled with the time it took or "already present", Failed), and the
waiting reason a failure leaves: ErrImagePull the first time, ImagePullBackOff while it keeps failing.
A long pull also gets `Pulling` events carrying its progress, at most one per PROGRESS_EVERY seconds:
each message differs, so the recorder cannot fold them into one event's count and we must not spam.
"""

from __future__ import annotations

from typing import Any

from podfleet.agent.prometheus import AgentMetrics
from podfleet.api.errors import APIError
from podfleet.api.resources import SECRETS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock
from podfleet.images.interface import Credentials, Image, ImageError, ImageStore, PullProgress
from podfleet.images.progress import human_bytes
from podfleet.images.pull_secrets import credentials_from_dockerconfig
from podfleet.images.reference import parse_reference

PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")
PROGRESS_EVERY = 5.0  # seconds between progress events of one pull; none for a pull done sooner


def progress_message(ref: str, p: PullProgress) -> str:
    """`Pulling image "x": 12.3 MiB of 40.1 MiB (31%)`."""
    percent = p.bytes_done * 100 // p.bytes_total if p.bytes_total > 0 else 0
    return f'Pulling image "{ref}": {human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)} ({percent}%)'


class _ProgressEvents:
    """The store's progress callback for one pod's pull: an event when PROGRESS_EVERY has passed since
    the last one (or the start) and the message says something new; nothing once all is fetched."""

    def __init__(self, puller: ImagePuller, pod: dict[str, Any], ref: str, began: float) -> None:
        self.puller, self.pod, self.ref = puller, pod, ref
        self.last_at = began
        self.last_message = ""

    def __call__(self, p: PullProgress) -> None:
        if p.finished or p.bytes_total <= 0 or p.bytes_done >= p.bytes_total:
            return  # `Pulled` follows (unpacking left, at most)
        now = self.puller.clock.monotonic()
        if now - self.last_at < PROGRESS_EVERY:
            return
        message = progress_message(self.ref, p)
        if message == self.last_message:
            return
        self.last_at, self.last_message = now, message
        self.puller.events.emit(self.pod, NORMAL, "Pulling", message)


class PullFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ImagePuller:
    def __init__(self, images: ImageStore, client: Client, events: EventRecorder, clock: Clock,
                 metrics: AgentMetrics | None = None) -> None:
        self.images = images
        self.client = client
        self.events = events
        self.clock = clock
        self.metrics = metrics

    async def pull(self, pod: dict[str, Any], container: dict[str, Any], previous_reason: str = "") -> Image:
        """The container's image; PullFailed (with its waiting reason) when it cannot be had.
        `previous_reason`: the container's waiting reason so far (a repeated failure backs off)."""
        ref = container.get("image", "")
        policy = container.get("imagePullPolicy") or "IfNotPresent"
        fetch = policy == "Always" or self.images.get(ref) is None
        if fetch and policy != "Never":
            self.events.emit(pod, NORMAL, "Pulling", f'Pulling image "{ref}"')
        began = self.clock.monotonic()
        progress = _ProgressEvents(self, pod, ref, began) if fetch else None
        try:
            image = await self.images.ensure(ref, policy, await self._credentials(pod, ref), progress=progress)
        except ImageError as e:
            if fetch and self.metrics is not None:
                self.metrics.image_pulled(self.clock.monotonic() - began, ok=False)
            repeated = previous_reason in PULL_REASONS and e.reason == "ErrImagePull"
            self.events.emit(pod, WARNING, "Failed", f'Failed to pull image "{ref}": {e}')
            self.events.emit(pod, WARNING, "Failed", f"Error: {e.reason}")
            raise PullFailed("ImagePullBackOff" if repeated else e.reason, str(e)) from e
        if fetch:
            took = self.clock.monotonic() - began
            if self.metrics is not None:
                self.metrics.image_pulled(took, ok=True)
            self.events.emit(pod, NORMAL, "Pulled", f'Successfully pulled image "{ref}" in {took:.3f}s')
        else:
            self.events.emit(pod, NORMAL, "Pulled", f'Container image "{ref}" already present on machine')
        return image

    async def _credentials(self, pod: dict[str, Any], image: str) -> Credentials | None:
        """The first of the pod's imagePullSecrets that has credentials for the image's registry."""
        try:
            registry = parse_reference(image).registry
        except ValueError:
            return None  # the store refuses the name itself, with the reason kubelet gives
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            try:
                secret = await self.client.get(SECRETS, ref.get("name", ""), pod["metadata"].get("namespace", ""))
            except APIError:
                continue
            creds = credentials_from_dockerconfig(secret.get("data") or {}, registry)
            if creds is not None:
                return creds
        return None
