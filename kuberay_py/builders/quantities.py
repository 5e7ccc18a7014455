"""Kubernetes resource quantities ("500m", "2", "2Gi", "1e9", "512M") as exact numbers.

A quantity is a decimal number followed by an optional suffix: a binary multiple (Ki, Mi, Gi, Ti, Pi, Ei), a
decimal one (n, u, m, k, M, G, T, P, E) or a decimal exponent (e3, E-2). Arithmetic is done on fractions so
that "0.1" CPU is exactly a tenth and rounding up never goes one too far.
"""

import math
import re
from fractions import Fraction
from typing import Final

_QUANTITY: Final = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?"
)

_BINARY_SUFFIXES: Final = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES: Final = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity."""


def parse_quantity(value: object) -> Fraction:
    """The exact value of a quantity as written in a manifest: a string, or a bare YAML number."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"{value!r} is not a quantity")
        # The decimal the user wrote, not the binary float closest to it.
        return Fraction(repr(value))
    if not isinstance(value, str):
        raise QuantityError(f"{value!r} is not a quantity")
    found = _QUANTITY.fullmatch(value.strip())
    if found is None:
        raise QuantityError(f'"{value}" is not a quantity (examples: "500m", "2", "2Gi", "1e9")')
    number = Fraction(found["number"])
    if found["sign"] == "-":
        number = -number
    if found["exponent"]:
        return number * Fraction(10) ** int(found["exponent"][1:])
    suffix = found["suffix"]
    if suffix in _BINARY_SUFFIXES:
        return number * Fraction(1024) ** _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * Fraction(10) ** _DECIMAL_SUFFIXES[suffix]
    return number


def whole_units(value: object) -> int:
    """The quantity rounded up to a whole number, as Kubernetes counts CPUs, bytes and devices."""
    return math.ceil(parse_quantity(value))


def json_number(value: Fraction) -> int | float:
    """A plain JSON number: an integer when the value is whole."""
    return int(value) if value.denominator == 1 else float(value)
