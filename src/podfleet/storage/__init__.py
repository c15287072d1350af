"""Revisioned key-value storage behind the API server (SQLite embedded by default, etcd optional).

Only the API server imports this package; everything else talks to the API.
"""
