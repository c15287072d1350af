"""podfleet: a Kubernetes-compatible pod orchestrator (API server, scheduler, controllers, node agent)."""

__version__ = "0.1.0"
