"""OCI images on a node: pulled from registries or loaded from archives, stored content-addressed,
unpacked once per layer and mounted per container with overlayfs. Knows nothing of runtimes or CNI.

interface.py (the ImageStore seam, Image, errors) · store.py (OverlayImageStore) · fake.py
(FakeImageStore) · registry.py (distribution API client) · reference.py · manifest.py ·
layers.py (safe unpacking, whiteouts) · blobs.py · index.py · archives.py · rootfs.py (overlay
mounts) · pull_secrets.py (imagePullSecrets) · commands.py (`podfleet images`).
"""
