"""Match a metav1.LabelSelector (matchLabels/matchExpressions) against labels.

The selector grammar and its matching live in `podfleet.api.selectors` (one copy for the whole
project); this adapter renders the structured selector with it, parses it once and caches the
result, since controllers match the same few selectors against every pod.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from podfleet.api import selectors
from podfleet.api.errors import APIError


@lru_cache(maxsize=1024)
def _parsed(text: str) -> Any:
    return selectors.parse_label_selector(text)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A nil selector matches nothing; an empty one matches everything (as Kubernetes)."""
    if selector is None:
        return False
    try:
        parsed = _parsed(selectors.selector_to_string(selector))
    except (ValueError, APIError):
        return False
    return bool(parsed.matches({"metadata": {"labels": labels}}))
