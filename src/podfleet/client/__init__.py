"""API clients for podfleet's own components: the `Client` protocol, HTTPS and in-process versions,
and informers (list + watch with a local cache)."""
