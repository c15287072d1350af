"""`clone`: a private copy of a JSON document (API objects, patches, statuses); `depth`: how deeply
one nests, and `MAX_DEPTH`, how deeply any may.

API objects are trees of dicts, lists and immutable scalars. `copy.deepcopy` handles any Python
object graph (a memo of every node, dispatch by type, `__deepcopy__` hooks) and measured 3x slower
on a pod than this walk; the API server copies objects several times per write (patches, status
updates, bodies it must not alias), so on a node starting pods that difference was a visible part
of the control plane's CPU. Anything that is not a dict or a list is shared, which is right for
str, int, float, bool, None and the datetimes a YAML body may carry (all immutable).

`clone`, like the validation, defaulting, patch and field-set code, walks documents recursively, a
few Python frames per level: that is safe because no document deeper than `MAX_DEPTH` gets in.
Bodies are refused past it when decoded (`apiserver.decoding`), and so are patches whose result
would be deeper (`api.patch`), the one way a write could build depth its body did not have.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

# Containers (objects and arrays) a document may nest. Kubernetes' JSON decoder allows 10,000, but
# Python's recursion limit (1,000 frames, several per level in the recursive walks) comes long before
# that; a real object is far shallower (a Deployment wrapping a pod with affinity, probes, projected
# volumes and managedFields: 13 levels).
MAX_DEPTH = 100


def clone(doc: T) -> T:
    """A copy of `doc` sharing no dict or list with it."""
    if isinstance(doc, dict):
        return {k: clone(v) for k, v in doc.items()}  # type: ignore[return-value]
    if isinstance(doc, list):
        return [clone(v) for v in doc]  # type: ignore[return-value]
    return doc


def depth(doc: Any, limit: int = MAX_DEPTH) -> int:
    """The containers nested in `doc` (a scalar 0, `{}` and `[]` 1, `{"a": []}` 2), found without
    recursion; the walk stops as soon as the depth is past `limit` (and returns `limit + 1`), so
    measuring a hostile document costs no more than its first `limit` levels."""
    if type(doc) is not dict and type(doc) is not list:
        return 0
    deepest = 1
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, level = stack.pop()
        for child in value.values() if type(value) is dict else value:
            if type(child) is dict or type(child) is list:
                if level + 1 > deepest:
                    deepest = level + 1
                    if deepest > limit:
                        return deepest
                stack.append((child, level + 1))
    return deepest


def too_deep_message(limit: int = MAX_DEPTH) -> str:
    return f"exceeded max depth: objects and arrays may nest at most {limit} levels"
