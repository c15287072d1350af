"""Pod networking through standard CNI plugins (bridge + host-local + portmap + loopback).

Knows nothing of runtimes or images: it makes a network namespace, gives it an IP, and takes both
back.
"""
