"""Kubernetes resource quantities (`500m`, `64Mi`, `1.5Gi`, `1e3`) as exact fractions.

The scheduler and the agent sum requests with these, validation rejects what Kubernetes rejects,
and defaulting rewrites every quantity into Kubernetes' canonical form (`0.5` → `500m`, `1.5Gi` →
`1536Mi`) so clients read back exactly what a real API server would return.
"""

from __future__ import annotations

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
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_NANO = Fraction(1, 10**9)

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
    """Split `s` into (sign, integer digits, fraction digits, suffix) as Kubernetes' scanner does."""
    pos, end = 0, len(s)
    sign = ""
    if s[0] in "+-":
        sign, pos = s[0], 1
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    whole = s[start:pos]
    frac = ""
    if pos < end and s[pos] == ".":
        pos += 1
        fstart = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        frac = s[fstart:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos != end:
        raise ValueError(QUANTITY_ERROR)
    return sign, whole, frac, s[suffix_start:]


def _interpret_suffix(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) for a suffix; ValueError(SUFFIX_ERROR) when unknown."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[:1] in ("+", "-") else digits
        if body and all(ch in _DIGITS for ch in body):
            return 10, int(digits), DECIMAL_EXPONENT
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
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value.strip()
    raise ValueError(QUANTITY_ERROR)


def parse(value: QuantityInput) -> Quantity:
    """Parse a quantity string (or JSON number) exactly, rounding sub-nano amounts up to 1n.

    Raises ValueError with Kubernetes' own messages (`quantities must match the regular expression
    ...`, `unable to parse quantity's suffix`).
    """
    s = _text(value)
    if not s:
        raise ValueError(QUANTITY_ERROR)
    sign, whole, frac, suffix = _scan(s)
    base, exponent, fmt = _interpret_suffix(suffix)
    amount = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    amount *= Fraction(10) ** exponent if base == 10 else Fraction(2) ** exponent
    amount = _round_away(amount, _NANO)
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
