"""Kubernetes resource quantities (`500m`, `64Mi`, `1.5Gi`, `1e3`) as exact fractions.

The scheduler and the agent sum requests with these, validation rejects what Kubernetes rejects,
and defaulting rewrites every quantity into Kubernetes' canonical form (`0.5` → `500m`, `1.5Gi` →
`1536Mi`) so clients read back exactly what a real API server would return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

QUANTITY_REGEX = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
QUANTITY_ERROR = f"quantities must match the regular expression '{QUANTITY_REGEX}'"
SUFFIX_ERROR = "unable to parse quantity's suffix"
NUMERIC_ERROR = "unable to parse numeric part of quantity"

DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT = "DecimalSI", "BinarySI", "DecimalExponent"

_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {e: s for s, e in _BINARY_SUFFIXES.items()}
_QUANTITY_PARTS = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[+-]?[0-9]*)")
_DIGITS = frozenset("0123456789")
_NANO_EXPONENT = -9
_NANO = Fraction(1, 10**9)
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_DIGITS = 19  # a longer exponent (without leading zeros) cannot be an int64
# Kubernetes' maxAllowed: the largest BinarySI quantity; bigger ones are capped to it.
_MAX_ALLOWED = 2**63 - 1
_BINARY_CAP_DIGITS = 19  # a number part of 10**20 or more times 2**e is over the cap whatever e is
# podfleet's bound on decimal magnitude (see `parse`): 10**1000 is far beyond int64 (10**18.96)
# yet small enough that exact arithmetic on it stays in microseconds.
MAX_DECIMAL_EXPONENT = 1000
_MAX_INT_BITS = MAX_DECIMAL_EXPONENT * 10 // 3 + 4  # just over 10**MAX_DECIMAL_EXPONENT

QuantityInput = str | int | float


@dataclass(frozen=True)
class Quantity:
    """An exact amount plus the format Kubernetes will print it in."""

    value: Fraction
    format: str = DECIMAL_SI

    def __str__(self) -> str:
        return canonical_string(self.value, self.format)

    def round_up(self, scale: int) -> Quantity:
        """Round away from zero to 10**scale, as `Quantity.RoundUp` (defaulting uses scale -3)."""
        return Quantity(_round_away(self.value, Fraction(10) ** scale), self.format)


def _scan(s: str) -> tuple[str, str, str, str]:
    """Split `s` into (sign, integer digits, fraction digits, suffix) as Kubernetes' scanner does.

    One compiled pattern rather than a Python loop per character: a quantity can be megabytes long.
    """
    m = _QUANTITY_PARTS.fullmatch(s)
    if m is None:
        raise ValueError(QUANTITY_ERROR)
    sign, whole, frac, suffix = m.groups()
    return sign, whole, frac or "", suffix


def _interpret_suffix(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) for a suffix; ValueError(SUFFIX_ERROR) when unknown.

    A decimal exponent must parse as an int64, as `strconv.ParseInt` in Kubernetes' suffixer; its
    length is checked first so a megabyte of exponent digits costs nothing to refuse. Kubernetes
    then truncates the int64 to an int32 scale, silently changing the value of out-of-range
    exponents; podfleet refuses those with the same message instead.
    """
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[:1] in ("+", "-") else digits
        if body and len(body.lstrip("0")) <= _INT64_DIGITS and all(ch in _DIGITS for ch in body):
            exponent = int(digits)
            if _INT32_MIN <= exponent <= _INT32_MAX:
                return 10, exponent, DECIMAL_EXPONENT
    raise ValueError(SUFFIX_ERROR)


def _round_away(value: Fraction, step: Fraction) -> Fraction:
    """Round |value| up to a multiple of `step`, keeping the sign."""
    if value == 0:
        return value
    magnitude = abs(value) / step
    rounded = -(-magnitude.numerator // magnitude.denominator) * step
    return rounded if value > 0 else -rounded


def _text(value: QuantityInput) -> str:
    if isinstance(value, bool):
        raise ValueError(QUANTITY_ERROR)
    if isinstance(value, int):
        if value.bit_length() > _MAX_INT_BITS:  # str() would be slow, or refused by Python, for nothing
            raise ValueError(NUMERIC_ERROR)
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value.strip()
    raise ValueError(QUANTITY_ERROR)


def _magnitude(digits: str, point: int) -> tuple[str, int]:
    """(significant digits, power of ten of the first one) of the digit string `digits` whose first
    `point` digits are the integer part; ("", 0) when every digit is zero. Linear, no big numbers."""
    sig = digits.lstrip("0")
    if not sig:
        return "", 0
    return sig, point - (len(digits) - len(sig)) - 1


def _exact_decimal(sig: str, top: int, lowest: int) -> Fraction:
    """The value of significant digits `sig` (first digit at 10**top), cut below 10**lowest.

    When a non-zero digit is cut, one unit of 10**lowest is added instead: the caller rounds away
    from zero to a grid that 10**lowest divides, so the result rounds exactly as the full value
    would, while the integers involved stay as short as the magnitude bound allows.
    """
    keep = top - lowest + 1
    if keep <= 0:  # every digit is below 10**lowest: only "more than zero" matters
        return Fraction(10) ** lowest
    kept, rest = sig[:keep], sig[keep:]
    n = int(kept) + (1 if rest.strip("0") else 0)  # when `rest` is non-empty, `kept` ends at 10**lowest
    return Fraction(n) * Fraction(10) ** (top - len(kept) + 1)


def parse(value: QuantityInput) -> Quantity:
    """Parse a quantity string (or JSON number) exactly, rounding sub-nano amounts up to 1n.

    Raises ValueError with Kubernetes' own messages (`quantities must match the regular expression
    ...`, `unable to parse quantity's suffix`, `unable to parse numeric part of quantity`).

    Cheap for any input: digits below 1n are never converted (only whether one is non-zero
    matters, for rounding up), and a value of 10**(MAX_DECIMAL_EXPONENT + 1) or more is refused
    before any arithmetic. Kubernetes keeps such values as an inf.Dec with an int32 scale, but podfleet
    holds exact rationals, and no consumer of a quantity (the scheduler, cgroup limits, quota) can
    use anything near that size: every one of them converts to int64.
    """
    s = _text(value)
    if not s:
        raise ValueError(QUANTITY_ERROR)
    sign, whole, frac, suffix = _scan(s)
    base, exponent, fmt = _interpret_suffix(suffix)
    sig, top = _magnitude(whole + frac, len(whole))
    if not sig:
        amount = Fraction(0)
    elif base == 10:
        top += exponent
        if top > MAX_DECIMAL_EXPONENT:
            raise ValueError(NUMERIC_ERROR if top - exponent > MAX_DECIMAL_EXPONENT else SUFFIX_ERROR)
        amount = _exact_decimal(sig, top, _NANO_EXPONENT)
    elif top > _BINARY_CAP_DIGITS:
        amount = Fraction(_MAX_ALLOWED)  # far beyond the cap below: skip the arithmetic
    else:
        # 10**-(exponent+9) * 2**exponent divides 1n, so cutting there rounds exactly.
        amount = _exact_decimal(sig, top, _NANO_EXPONENT - exponent) * 2**exponent
    amount = _round_away(amount, _NANO)
    if fmt == BINARY_SI and amount > _MAX_ALLOWED:
        amount = Fraction(_MAX_ALLOWED)  # Kubernetes caps BinarySI quantities at the int64 maximum
    if fmt == BINARY_SI and 0 < amount < 1:
        fmt = DECIMAL_SI
    return Quantity(-amount if sign == "-" else amount, fmt)


def parse_quantity(value: QuantityInput) -> Fraction:
    """Exact value of a quantity; ValueError with Kubernetes' message when malformed."""
    return parse(value).value


def is_valid(value: object) -> bool:
    try:
        parse(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def _decimal_parts(value: Fraction) -> tuple[int, int]:
    """(mantissa, exponent) with mantissa * 10**exponent == |value| and exponent a multiple of 3."""
    v = abs(value)
    exponent = 0
    while v.denominator != 1:
        v *= 10
        exponent -= 1
    mantissa = v.numerator
    while mantissa and mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    return mantissa, exponent


def canonical_string(value: Fraction, fmt: str = DECIMAL_SI) -> str:
    """Kubernetes' canonical text for a quantity (`Quantity.String()`)."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    if fmt == BINARY_SI and (-1024 < value < 1024 or value.denominator != 1):
        fmt = DECIMAL_SI
    if fmt == BINARY_SI:
        n, exponent = abs(value.numerator), 0
        while n % 1024 == 0 and exponent < 60:
            n //= 1024
            exponent += 10
        return f"{sign}{n}{_BINARY_BY_EXPONENT.get(exponent, '')}"
    mantissa, exponent = _decimal_parts(value)
    if fmt == DECIMAL_SI and exponent in _DECIMAL_BY_EXPONENT:
        suffix = _DECIMAL_BY_EXPONENT[exponent]
    else:
        suffix = f"e{exponent}" if exponent else ""
    return f"{sign}{mantissa}{suffix}"


def canonicalize(value: QuantityInput, round_to_milli: bool = False) -> str:
    """The canonical text of a quantity (`0.5` → `500m`); with `round_to_milli`, as ResourceList defaulting."""
    q = parse(value)
    if round_to_milli:
        q = q.round_up(-3)
    return str(q)


def millicores(value: QuantityInput) -> int:
    """CPU quantity in millicores, rounded up as Kubernetes does (`100m` → 100, `0.5` → 500)."""
    q = parse_quantity(value) * 1000
    return int(-(-q.numerator // q.denominator))


def to_bytes(value: QuantityInput) -> int:
    """A memory/storage quantity in whole bytes, rounded up (`64Mi` → 67108864)."""
    q = parse_quantity(value)
    return int(-(-q.numerator // q.denominator))


def format_bytes_ki(n: int) -> str:
    return f"{n // 1024}Ki"


def format_millicores(m: int) -> str:
    """Millicores back to a canonical CPU quantity (`1500` → `1500m`, `2000` → `2`)."""
    return canonical_string(Fraction(m, 1000))


def format_bytes(n: int) -> str:
    """Bytes back to a canonical BinarySI quantity (`67108864` → `64Mi`)."""
    return canonical_string(Fraction(n), BINARY_SI)


def sum_quantities(values: list[QuantityInput]) -> Fraction:
    """Exact sum, as the scheduler adds container requests."""
    return sum((parse_quantity(v) for v in values), Fraction(0))
