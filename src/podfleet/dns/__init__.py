"""Cluster DNS: `cluster.local` names for Services, endpoints and pods, answered from informer caches,
every other name forwarded to the node's upstream resolvers (the part CoreDNS's kubernetes and
forward plugins play in a Kubernetes cluster).

`views` (Kubernetes JSON → small comparable views) → `zone` (the index: names and the entries behind
them, kept incrementally) → `records` (a question → an answer, pure) → `wire` (answers as dnslib
messages) → `server` (UDP + TCP on asyncio, `Forwarder` for everything else); `index` feeds the zone
from informers and `service.ClusterDNS` runs the whole as one component.
"""
