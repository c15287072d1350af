"""The `PodSandboxes` seam: a pod's namespaces, network and /etc files, made and removed as one."""
