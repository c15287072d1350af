"""Container runtime: OCI bundles from container specs, created and supervised by conmon with runc.

Knows nothing of images or CNI: it is given a rootfs path and namespace paths.
"""
