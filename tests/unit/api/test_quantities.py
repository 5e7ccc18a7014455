from fractions import Fraction

import pytest

from kuberay_py.api.quantities import QuantityError, json_number, parse_quantity, whole_units


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("2", Fraction(2)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("1.", Fraction(1)),
        ("100u", Fraction(1, 10_000)),
        ("250n", Fraction(1, 4_000_000)),
        ("2Gi", Fraction(2 * 1024**3)),
        ("0.5Gi", Fraction(512 * 1024**2)),
        ("1536Ki", Fraction(1536 * 1024)),
        ("1Ei", Fraction(1024**6)),
        ("512M", Fraction(512_000_000)),
        ("1k", Fraction(1000)),
        ("1e9", Fraction(10**9)),
        ("1E3", Fraction(1000)),
        ("25e-1", Fraction(5, 2)),
        ("1.5e+2", Fraction(150)),
        ("1E", Fraction(10**18)),
        ("+3", Fraction(3)),
        ("-1", Fraction(-1)),
        (" 2Gi ", Fraction(2 * 1024**3)),
    ],
)
def test_parse_strings(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("number", "value"), [(3, Fraction(3)), (0.1, Fraction(1, 10)), (1.5, Fraction(3, 2))]
)
def test_parse_yaml_numbers_as_written(number: float, value: Fraction) -> None:
    assert parse_quantity(number) == value


@pytest.mark.parametrize(
    "bad", ["", "abc", "1Gb", "1 Gi", "Gi", "1e", "1.2.3", "0x10", "1ki", True, None, [1], float("inf")]
)
def test_reject_what_is_not_a_quantity(bad: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)


@pytest.mark.parametrize(
    ("text", "units"),
    [("500m", 1), ("1", 1), ("1001m", 2), ("1.5", 2), ("0", 0), ("14", 14), ("1e9", 10**9), ("1Mi", 1048576)],
)
def test_whole_units_round_up(text: str, units: int) -> None:
    assert whole_units(text) == units


def test_whole_units_is_exact_for_decimals_that_floats_cannot_hold() -> None:
    # 0.1 + 0.2 in floats is 0.30000000000000004; as 300m it must stay 1 CPU, and 3 x 100m exactly 300m.
    assert whole_units("0.3") == 1
    assert parse_quantity("0.3") == 3 * parse_quantity("100m")
    assert whole_units("3000m") == 3


def test_json_number_is_an_integer_when_whole() -> None:
    assert json_number(Fraction(4)) == 4 and isinstance(json_number(Fraction(4)), int)
    assert json_number(Fraction(1, 2)) == 0.5


@pytest.mark.parametrize(
    "bomb", ["1e30000000", "9e99", "1e19", "9223372036854775808", "8Ei", "10000P", "1" * 20, 2**63, 1e300]
)
def test_refuse_quantities_beyond_kubernetes_bounds_without_computing_them(bomb: object) -> None:
    with pytest.raises(QuantityError, match="larger than Kubernetes allows"):
        parse_quantity(bomb)


def test_largest_quantity_is_accepted() -> None:
    assert parse_quantity("9223372036854775807") == 2**63 - 1
    assert parse_quantity("7Ei") == 7 * 1024**6


@pytest.mark.parametrize("tiny", ["1e-30000000", "0.1n", "1e-10"])
def test_finer_than_a_billionth_rounds_up_to_one(tiny: str) -> None:
    assert parse_quantity(tiny) == Fraction(1, 10**9)


def test_refuse_text_longer_than_any_quantity() -> None:
    with pytest.raises(QuantityError, match="longer than"):
        parse_quantity("1" + "0" * 100)
