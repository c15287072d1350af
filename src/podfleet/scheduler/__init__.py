"""The scheduler: binds pending pods to nodes through Filter and Score plugins, as kube-scheduler."""
