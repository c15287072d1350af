"""etcd's v3 API as Python: protobuf messages and gRPC stubs generated from etcd's own `.proto` files.

Everything here except `regenerate.py` (which makes it) is generated: never edited by hand.
"""
