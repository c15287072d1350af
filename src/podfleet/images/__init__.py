"""OCI images on a node: pulled from registries or loaded from archives, stored content-addressed,
unpacked once per layer and mounted per container with overlayfs. Knows nothing of runtimes or CNI."""
