"""The node agent (podfleet's kubelet): runs the pods bound to its node with runc, conmon and CNI."""
