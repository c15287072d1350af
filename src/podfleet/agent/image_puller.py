"""Getting a container's image onto the node under its pull policy, with the pod's pull secrets.

Events as kubelet's (Pulling, Pulled with the time it took or "already present", Failed), and the
waiting reason a failure leaves: ErrImagePull the first time, ImagePullBackOff while it keeps failing.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import APIError
from podfleet.api.resources import SECRETS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock
from podfleet.images.interface import Credentials, Image, ImageError, ImageStore
from podfleet.images.pull_secrets import credentials_from_dockerconfig
from podfleet.images.reference import parse_reference

PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")


class PullFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ImagePuller:
    def __init__(self, images: ImageStore, client: Client, events: EventRecorder, clock: Clock) -> None:
        self.images = images
        self.client = client
        self.events = events
        self.clock = clock

    async def pull(self, pod: dict[str, Any], container: dict[str, Any], previous_reason: str = "") -> Image:
        """The container's image; PullFailed (with its waiting reason) when it cannot be had.
        `previous_reason`: the container's waiting reason so far (a repeated failure backs off)."""
        ref = container.get("image", "")
        policy = container.get("imagePullPolicy") or "IfNotPresent"
        fetch = policy == "Always" or self.images.get(ref) is None
        if fetch and policy != "Never":
            self.events.emit(pod, NORMAL, "Pulling", f'Pulling image "{ref}"')
        began = self.clock.monotonic()
        try:
            image = await self.images.ensure(ref, policy, await self._credentials(pod, ref))
        except ImageError as e:
            repeated = previous_reason in PULL_REASONS and e.reason == "ErrImagePull"
            self.events.emit(pod, WARNING, "Failed", f'Failed to pull image "{ref}": {e}')
            self.events.emit(pod, WARNING, "Failed", f"Error: {e.reason}")
            raise PullFailed("ImagePullBackOff" if repeated else e.reason, str(e)) from e
        if fetch:
            self.events.emit(pod, NORMAL, "Pulled", f'Successfully pulled image "{ref}" in '
                                                    f"{self.clock.monotonic() - began:.3f}s")
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
