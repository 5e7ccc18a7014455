"""Kubernetes resource quantities ("500m", "2", "2Gi", "1e9", "512M") as exact numbers, within bounds.

A quantity is a decimal number followed by an optional suffix: a binary multiple (Ki, Mi, Gi, Ti, Pi, Ei), a
decimal one (n, u, m, k, M, G, T, P, E) or a decimal exponent (e3, E-2). Arithmetic is done on fractions so
that "0.1" CPU is exactly a tenth and rounding up never goes one too far.

Kubernetes represents no quantity above 2^63-1 in magnitude, nor finer than a billionth. A value beyond that
is refused here before it is ever computed: "1e30000000" is valid syntax, and raising ten to that power would
hold the event loop for minutes. Finer values round up to a billionth, as Kubernetes rounds them.
"""

import math
import re
from fractions import Fraction
from typing import Final

_QUANTITY: Final = re.compile(
    r"(?P<sign>[+-]?)(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?"
)

_BINARY_SUFFIXES: Final = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES: Final = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

MAX_QUANTITY: Final = 2**63 - 1
"""The largest magnitude Kubernetes represents."""
_MAX_DIGITS: Final = 19  # decimal digits of MAX_QUANTITY
_SMALLEST: Final = Fraction(1, 10**9)
MAX_LENGTH: Final = 64
"""Longer text is no quantity Kubernetes could hold; refused before any digit is read."""


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity, or one beyond what Kubernetes represents."""


def parse_quantity(value: object) -> Fraction:
    """The exact value of a quantity as written in a manifest: a string, or a bare YAML number."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, Fraction):
        return _bounded(value, str(value))
    if isinstance(value, int):
        return _bounded(Fraction(value), str(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"{value!r} is not a quantity")
        # The decimal the user wrote, not the binary float closest to it.
        return parse_quantity(repr(value))
    if not isinstance(value, str):
        raise QuantityError(f"{value!r} is not a quantity")
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise QuantityError(f'"{text[:20]}..." is not a quantity: longer than {MAX_LENGTH} characters')
    found = _QUANTITY.fullmatch(text)
    if found is None or not (found["whole"] or found["fraction"]):
        raise QuantityError(f'"{value}" is not a quantity (examples: "500m", "2", "2Gi", "1e9")')
    whole, fraction = found["whole"], found["fraction"] or ""
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return Fraction(0)
    power, scale = _power_of(found["exponent"], found["suffix"])
    # Order of magnitude of the result before computing it: the position of its leading digit.
    leading = power * math.log10(scale) + len(digits) - len(fraction)
    if leading > _MAX_DIGITS + 1:
        raise QuantityError(f'"{value}" is larger than Kubernetes allows (at most {MAX_QUANTITY})')
    negative = found["sign"] == "-"
    if leading < -9:
        return -_SMALLEST if negative else _SMALLEST
    number = Fraction(int(digits), 10 ** len(fraction)) * Fraction(scale) ** power
    return _bounded(-number if negative else number, str(value))


def _power_of(exponent: str | None, suffix: str | None) -> tuple[int, int]:
    """The quantity's multiplier as `scale ** power`."""
    if exponent:
        return int(exponent[1:]), 10
    if suffix in _BINARY_SUFFIXES:
        return _BINARY_SUFFIXES[suffix] * 10, 2
    if suffix in _DECIMAL_SUFFIXES:
        return _DECIMAL_SUFFIXES[suffix], 10
    return 0, 10


def _bounded(number: Fraction, text: str) -> Fraction:
    if abs(number) > MAX_QUANTITY:
        raise QuantityError(f'"{text}" is larger than Kubernetes allows (at most {MAX_QUANTITY})')
    if number.denominator == 1 or (number * 10**9).denominator == 1:
        return number
    nanos = math.ceil(number * 10**9)  # round up, as Kubernetes does
    return Fraction(nanos, 10**9)


def whole_units(value: object) -> int:
    """The quantity rounded up to a whole number, as Kubernetes counts CPUs, bytes and devices."""
    return math.ceil(parse_quantity(value))


def json_number(value: Fraction) -> int | float:
    """A plain JSON number: an integer when the value is whole."""
    return int(value) if value.denominator == 1 else float(value)
