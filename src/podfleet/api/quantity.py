"""Kubernetes resource quantities (`500m`, `64Mi`, `1.5Gi`, `1e3`) as exact fractions.

The scheduler sums requests with these; validation rejects what Kubernetes rejects.
"""

from __future__ import annotations

import re
from fractions import Fraction

_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}
QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def parse_quantity(value: str | int | float) -> Fraction:
    """Exact value of a quantity; ValueError with Kubernetes' message when malformed."""
    if isinstance(value, bool):
        raise ValueError(QUANTITY_ERROR)
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    s = str(value).strip()
    m = _RE.match(s)
    if not m:
        raise ValueError(QUANTITY_ERROR)
    number, suffix = m.group(1), m.group(2)
    if number.count(".") > 1 or number in (".", "+", "-", "+.", "-."):
        raise ValueError(QUANTITY_ERROR)
    try:
        base = Fraction(number)
    except ValueError as e:
        raise ValueError(QUANTITY_ERROR) from e
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    if suffix[:1] in ("e", "E"):
        try:
            exp = int(suffix[1:])
        except ValueError as e:
            raise ValueError(QUANTITY_ERROR) from e
        return base * Fraction(10) ** exp
    raise ValueError(QUANTITY_ERROR)


def millicores(value: str | int | float) -> int:
    """CPU quantity in millicores, rounded up as Kubernetes does (`100m` → 100, `0.5` → 500)."""
    q = parse_quantity(value) * 1000
    return int(-(-q.numerator // q.denominator))


def to_bytes(value: str | int | float) -> int:
    q = parse_quantity(value)
    return int(-(-q.numerator // q.denominator))


def format_bytes_ki(n: int) -> str:
    return f"{n // 1024}Ki"
