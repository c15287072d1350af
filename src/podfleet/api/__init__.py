"""Pure Kubernetes API knowledge: resource types, errors, validation, defaulting, patching, selectors.

Nothing in this package does I/O; every other layer builds on it.
"""
