"""Running the proxy's programs (nft, conntrack) inside a given network namespace.

On a node the proxy runs in the node's own namespace and needs none of this; tests and the
benchmark point it at a throwaway namespace so the host's own ruleset is never touched.
"""

from __future__ import annotations


def netns_argv(netns: str | None) -> list[str]:
    """The prefix that runs a program in network namespace `netns` (a path), or none for our own.
    nsenter changes only the network namespace: the program still sees the host's files."""
    return ["nsenter", f"--net={netns}"] if netns else []
