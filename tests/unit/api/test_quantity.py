"""Quantities parse exactly, print canonically and fail with Kubernetes' messages."""

from __future__ import annotations

from fractions import Fraction

import pytest

from podfleet.api import quantity as q

REGEX_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


@pytest.mark.parametrize(("text", "value"), [
    ("500m", Fraction(1, 2)),
    ("64Mi", 64 * 2**20),
    ("1.5Gi", 3 * 2**29),
    ("1e3", 1000),
    ("1E3", 1000),
    ("2", 2),
    ("0.1", Fraction(1, 10)),
    ("100n", Fraction(1, 10**7)),
    ("5u", Fraction(5, 10**6)),
    ("1k", 1000),
    ("1M", 10**6),
    ("2G", 2 * 10**9),
    ("1T", 10**12),
    ("1P", 10**15),
    ("1E", 10**18),
    ("1Ki", 1024),
    ("1Ti", 2**40),
    ("1Pi", 2**50),
    ("1Ei", 2**60),
    ("-1", -1),
    ("+3", 3),
    ("1.G", 10**9),
    ("12e-3", Fraction(12, 1000)),
    ("0.0000000001", Fraction(1, 10**9)),  # below 1n rounds up to 1n
    (" 2 ", 2),
    (3, 3),
    (0.25, Fraction(1, 4)),
    (1e-05, Fraction(1, 100000)),
])
def test_parse_exact(text: str | int | float, value: Fraction | int) -> None:
    assert q.parse_quantity(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("", REGEX_ERROR),
    ("abc", REGEX_ERROR),
    ("1x", REGEX_ERROR),
    ("1.2.3", REGEX_ERROR),
    ("1Mi ", None),  # trailing space is stripped, as TrimSpace on JSON numbers
    ("1mi", "unable to parse quantity's suffix"),
    ("1e", "unable to parse quantity's suffix"),
    ("1Ki3", "unable to parse quantity's suffix"),
    ("1KiB", REGEX_ERROR),
])
def test_parse_errors(text: str, message: str | None) -> None:
    if message is None:
        assert q.parse_quantity(text) == 2**20
        return
    with pytest.raises(ValueError) as exc:
        q.parse_quantity(text)
    assert str(exc.value) == message


def test_bool_is_not_a_quantity() -> None:
    with pytest.raises(ValueError, match="regular expression"):
        q.parse_quantity(True)


@pytest.mark.parametrize(("text", "canonical"), [
    ("500m", "500m"),
    ("0.5", "500m"),
    ("0.1", "100m"),
    ("1.5", "1500m"),
    ("1000m", "1"),
    ("1000", "1k"),
    ("1024", "1024"),
    ("64Mi", "64Mi"),
    ("1.5Gi", "1536Mi"),
    ("2048Ki", "2Mi"),
    ("1025Mi", "1025Mi"),
    ("0.5Ki", "512"),          # BinarySI below 1024 prints as DecimalSI
    ("1.1Ki", "1126400m"),     # not a whole number of bytes: DecimalSI keeps precision
    ("1e3", "1e3"),
    ("12e6", "12e6"),
    ("1e4", "10e3"),
    ("0", "0"),
    ("-1", "-1"),
    ("-500m", "-500m"),
    ("0.1m", "100u"),
    ("5000000000n", "5"),
    (2, "2"),
    (0.5, "500m"),
])
def test_canonical_form(text: str | int | float, canonical: str) -> None:
    assert q.canonicalize(text) == canonical


@pytest.mark.parametrize(("text", "canonical"), [
    ("0.1m", "1m"),
    ("1n", "1m"),
    ("100.5m", "101m"),
    ("-0.1m", "-1m"),
    ("64Mi", "64Mi"),
    ("1e-5", "1e-3"),
])
def test_resource_list_rounds_up_to_milli(text: str, canonical: str) -> None:
    assert q.canonicalize(text, round_to_milli=True) == canonical


@pytest.mark.parametrize(("text", "milli"), [("100m", 100), ("0.5", 500), ("2", 2000), ("1.0001", 1001),
                                             ("1n", 1), ("0", 0)])
def test_millicores_round_up(text: str, milli: int) -> None:
    assert q.millicores(text) == milli


@pytest.mark.parametrize(("text", "n"), [("64Mi", 67108864), ("1G", 10**9), ("1.5", 2), ("100", 100),
                                         ("1Ki", 1024)])
def test_to_bytes(text: str, n: int) -> None:
    assert q.to_bytes(text) == n


def test_helpers_round_trip() -> None:
    assert q.format_millicores(1500) == "1500m"
    assert q.format_millicores(2000) == "2"
    assert q.format_bytes(67108864) == "64Mi"
    assert q.format_bytes(1000) == "1k"
    assert q.format_bytes_ki(2048) == "2Ki"
    assert q.sum_quantities(["100m", "0.2", 1]) == Fraction(13, 10)
    assert q.millicores(q.format_millicores(1234)) == 1234


def test_quantity_object_keeps_format() -> None:
    parsed = q.parse("1.5Gi")
    assert parsed.format == q.BINARY_SI and str(parsed) == "1536Mi"
    assert q.parse("1e3").format == q.DECIMAL_EXPONENT
    assert q.is_valid("1Gi") and not q.is_valid("1GB") and not q.is_valid(None)


SUFFIX_ERROR = "unable to parse quantity's suffix"
NUMERIC_ERROR = "unable to parse numeric part of quantity"


def _short(value: object) -> str:
    """A readable test id for megabyte-long inputs (and ints too long for str())."""
    if isinstance(value, int):
        return f"int({value.bit_length()}bits)"
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)})"


@pytest.mark.timeout(10)  # the unbounded parser took 7.5 s for 1e10000000 and never finished 1e9999999999
@pytest.mark.parametrize(("text", "message"), [
    ("1e10000000", SUFFIX_ERROR),           # beyond podfleet's magnitude bound: refused, not computed
    ("1e9999999999", SUFFIX_ERROR),         # an int64 exponent Kubernetes would truncate to int32
    ("1e99999999999999999999", SUFFIX_ERROR),  # not an int64 at all: Kubernetes' own refusal
    ("1e" + "7" * 100_000, SUFFIX_ERROR),
    (f"1e{q.MAX_DECIMAL_EXPONENT + 1}", SUFFIX_ERROR),
    ("9" * 5000, NUMERIC_ERROR),            # past Python's int-from-str limit: no Python message leaks
    ("1" + "0" * 2_000_000, NUMERIC_ERROR),
    (10**5000, NUMERIC_ERROR),              # a YAML/JSON integer that large
], ids=_short)
def test_huge_quantities_are_refused_cheaply(text: str | int, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        q.parse(text)
    assert str(exc.value) == message


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("text", "canonical"), [
    (f"1e{q.MAX_DECIMAL_EXPONENT}", "10e999"),   # the largest magnitude kept, printed as Kubernetes does
    ("1e100", "10e99"),
    ("5e-10000000", "1e-9"),                     # tiny but positive: rounds up to 1n without big numbers
    ("-5e-2147483648", "-1e-9"),
    ("0e2147483647", "0"),
    ("0." + "0" * 1_000_000 + "1", "1n"),
    ("1." + "0" * 1_000_000 + "1", "1000000001n"),   # digits far below 1n still round up
    ("1." + "0" * 1_000_000, "1"),
    ("1e" + "0" * 100 + "3", "1e3"),             # leading zeros in the exponent, as strconv.ParseInt
    ("1.000000000000000000000000000001Ki", "1024000000001n"),
], ids=_short)
def test_extreme_but_valid_quantities(text: str, canonical: str) -> None:
    assert q.canonicalize(text) == canonical


def test_exponent_must_fit_int32() -> None:
    assert q.parse_quantity("0e2147483647") == 0
    with pytest.raises(ValueError, match=SUFFIX_ERROR):
        q.parse("1e2147483648")  # Kubernetes would silently wrap this to a negative scale
    with pytest.raises(ValueError, match=SUFFIX_ERROR):
        q.parse("1e-2147483649")


@pytest.mark.parametrize(("text", "canonical"), [
    ("16Ei", "9223372036854775807"),    # Kubernetes caps BinarySI at maxAllowed (int64 max)
    ("-16Ei", "-9223372036854775807"),
    ("9" * 3000 + "Ki", "9223372036854775807"),
    ("7Ei", "7Ei"),
], ids=_short)
def test_binary_quantities_are_capped_at_int64(text: str, canonical: str) -> None:
    assert q.canonicalize(text) == canonical
