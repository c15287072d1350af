"""The Kubernetes-compatible REST API server: HTTP routing, authn/authz, REST semantics over Storage."""
