"""Kubernetes resource quantities ("500m", "2", "2Gi", "1e9", "512M") as exact numbers, within bounds.

A quantity is a decimal number followed by an optional suffix: a binary multiple (Ki, Mi, Gi, Ti, Pi, Ei), a
decimal one (n, u, m, k, M, G, T, P, E) or a decimal exponent (e3, E-2). Arithmetic is done on fractions so
that "0.1" CPU is exactly a tenth and rounding up never goes one too far.

Kubernetes represents no quantity above 2^63-1 in magnitude, nor finer than a billionth. A value beyond that
is refused here before it is ever computed: "1e30000000" is valid syntax, and raising ten to that power would
hold the event loop for minutes. Finer values round up to a billionth, as Kubernetes rounds them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
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


# -- quantities as Kubernetes prints them ------------------------------------------------------------------

DECIMAL_SI: Final = "DecimalSI"
BINARY_SI: Final = "BinarySI"
DECIMAL_EXPONENT: Final = "DecimalExponent"

_DECIMAL_NAMES: Final = {power: suffix for suffix, power in _DECIMAL_SUFFIXES.items()} | {0: ""}
_BINARY_NAMES: Final = {power: suffix for suffix, power in _BINARY_SUFFIXES.items()}
# Digits an integer of Kubernetes' own holds exactly; more take its slower, uncached path.
_FAST_DIGITS: Final = 18
_NANO: Final = -9


@dataclass(frozen=True, slots=True)
class ResourceQuantity:
    """A quantity with the format Kubernetes keeps beside its value, so that sums print as they do there.

    The format comes from how the quantity was written: a binary suffix gives BinarySI, an exponent
    DecimalExponent, anything else DecimalSI; the zero quantity (`ZERO`) has none. A sum keeps the format of
    its left side unless that is zero, when it takes the right side's. `text` is the quantity as written
    when Kubernetes keeps that text to print (only when it is already in its canonical shape, as "2Gi" or
    "1500m"); arithmetic drops it.
    """

    value: Fraction
    format: str = ""
    text: str | None = None

    def __add__(self, other: ResourceQuantity) -> ResourceQuantity:
        return ResourceQuantity(self.value + other.value, other.format if self.value == 0 else self.format)

    def times(self, count: int) -> ResourceQuantity:
        return ResourceQuantity(self.value * count, self.format)

    def __str__(self) -> str:
        return self.text if self.text is not None else canonical_quantity(self.value, self.format)


ZERO: Final = ResourceQuantity(Fraction(0))


def resource_quantity(value: object) -> ResourceQuantity:
    """A quantity from a manifest (a string, or a bare JSON number) as Kubernetes reads it."""
    if isinstance(value, float) and math.isfinite(value):
        text = _json_float_text(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise QuantityError(f"{value!r} is not a quantity")
    found = _QUANTITY.fullmatch(text)
    # Checks syntax and bounds; the magnitude, as Kubernetes rounds it up to a billionth (away from zero).
    magnitude = parse_quantity(text.lstrip("+-"))
    assert found is not None  # parse_quantity accepted it
    if text == "0":
        return ResourceQuantity(Fraction(0), DECIMAL_SI, text)
    suffix = found["suffix"]
    if found["exponent"]:
        fmt, power = DECIMAL_EXPONENT, int(found["exponent"][1:])
    elif suffix in _BINARY_SUFFIXES:
        fmt, power = BINARY_SI, _BINARY_SUFFIXES[suffix] * 10
    else:
        fmt, power = DECIMAL_SI, _DECIMAL_SUFFIXES.get(suffix or "", 0)
    whole = (found["whole"] or "").lstrip("0") or "0"
    fraction = found["fraction"] or ""
    if fmt == BINARY_SI and 0 < magnitude < 1:
        fmt = DECIMAL_SI  # as Kubernetes does: no fraction of a byte is shown as binary
    cached = text if _keeps_text(whole, fraction, fmt, power) else None
    return ResourceQuantity(-magnitude if found["sign"] == "-" else magnitude, fmt, cached)


def _keeps_text(whole: str, fraction: str, fmt: str, power: int) -> bool:
    """Whether Kubernetes prints the quantity as it was written: its fast path for short numbers, taken
    only when the text already has the canonical shape."""
    digits = whole + fraction
    if fmt == BINARY_SI:
        precision = 15 - len(whole) - power * 3 // 10 - 1
        return (
            precision >= 0
            and not fraction
            and int(whole) << power <= MAX_QUANTITY
            and int(whole) & 0b111 != 0
        )
    scale = power - len(fraction)
    return (
        _FAST_DIGITS - len(digits) >= 0
        and scale >= _NANO
        and scale % 3 == 0
        and not digits.endswith("000")
        and not digits.startswith("0")
    )


def _json_float_text(value: float) -> str:
    """A float as Go's JSON encoder writes it, which is the text Kubernetes parses."""
    if value == 0:
        return "0"
    shortest = Decimal(repr(value)).normalize()
    if 1e-6 <= abs(value) < 1e21:
        return format(shortest, "f")
    sign, digits, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    power = exponent + len(mantissa) - 1
    body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    # Go writes at least two exponent digits, then its JSON encoder drops a leading zero of a negative one.
    exponent_text = f"{'-' if power < 0 else '+'}{abs(power):02d}"
    if exponent_text.startswith("-0"):
        exponent_text = "-" + exponent_text[2:]
    return f"{'-' if sign else ''}{body}e{exponent_text}"


def canonical_quantity(value: Fraction, fmt: str) -> str:
    """The value as Kubernetes prints a quantity of that format: no fraction digits and the largest suffix
    that loses nothing ("1.5" is "1500m", "1.5Gi" is "1536Mi")."""
    if value == 0:
        return "0"
    if fmt == BINARY_SI and (abs(value) < 1024 or value.denominator != 1):
        fmt = DECIMAL_SI
    elif fmt not in (BINARY_SI, DECIMAL_SI):
        fmt = DECIMAL_EXPONENT
    sign = "-" if value < 0 else ""
    if fmt == BINARY_SI:
        mantissa, power = abs(value.numerator), 0
        while mantissa % 1024 == 0:
            mantissa //= 1024
            power += 1
        # Kubernetes has no suffix for a power beyond its table, and then prints the mantissa alone.
        return f"{sign}{mantissa}{_BINARY_NAMES.get(power, '')}"
    mantissa, exponent = _decimal_parts(abs(value))
    shift = exponent % 3  # down to a multiple of three
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if fmt == DECIMAL_EXPONENT:
        suffix = f"e{exponent}" if exponent else ""
    else:
        suffix = _DECIMAL_NAMES.get(exponent, "")
    return f"{sign}{mantissa}{suffix}"


def _decimal_parts(value: Fraction) -> tuple[int, int]:
    """`value` (> 0) as `mantissa * 10 ** exponent` with no trailing zero in the mantissa; finer than a
    billionth rounds up, as no quantity is."""
    places = 0
    while (value * 10**places).denominator != 1 and places < -_NANO:
        places += 1
    mantissa, exponent = math.ceil(value * 10**places), -places
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    return mantissa, exponent
