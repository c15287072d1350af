"""The Service proxy on every node, as kube-proxy's nftables mode: Services and EndpointSlices (from
informers) become one nftables table of this node's own, rewritten in one atomic `nft -f`
transaction per sync; UDP conntrack entries pointing at endpoints that went away are flushed.

Pure (no I/O): `servicemap` decides which endpoints each Service port uses here and which UDP flows
went stale (`flows`), `rules` turns that into the table's chains, maps and sets, `ruleset` turns the
difference between two tables into an nft script, `nftstate` is what such a script does to a table
(the fake's engine, and the tests' view of a rendered table). Seams to the kernel: `nft` and
`conntrack` (real programs through `podfleet.procs`, optionally in another network namespace via
`nsexec`, and fakes). `proxier` drives it all from the informers.
"""
