from fractions import Fraction

import pytest

from kuberay_py.api.quantities import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    ZERO,
    QuantityError,
    canonical_quantity,
    json_number,
    parse_quantity,
    resource_quantity,
    whole_units,
)


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


# Expected texts are what Kubernetes' own quantities (k8s.io/apimachinery) print for the same sums.
@pytest.mark.parametrize(
    ("terms", "printed"),
    [
        (("1G", "2G"), "3G"),
        (("1.5",), "1500m"),
        (("1", "500m"), "1500m"),
        (("1.5", "1.5"), "3"),
        (("500m", "500m"), "1"),
        (("2Gi",), "2Gi"),
        (("1Gi", "1Gi"), "2Gi"),
        (("1Gi", "512Mi"), "1536Mi"),
        (("1Gi", "1G"), "2073741824"),
        (("1G", "1Gi"), "2073741824"),
        (("1024Mi",), "1Gi"),
        (("1536Mi",), "1536Mi"),
        (("1.5Gi",), "1536Mi"),
        (("1.500",), "1.500"),
        (("+1",), "+1"),
        (("01",), "01"),
        (("1.0",), "1"),
        (("0.5",), "500m"),
        (("1e3",), "1e3"),
        (("1e3", "1"), "1001"),
        (("1.5e3",), "1500"),
        (("100m", "200m"), "300m"),
        (("1", "1", "1"), "3"),
        (("1k", "1"), "1001"),
        (("0", "1Gi"), "1Gi"),
        (("0", "1Gi", "1Gi"), "2Gi"),
        (("0.5Ki",), "512"),
        (("0.0001Ki",), "102400u"),
        (("1500Mi", "548Mi"), "2Gi"),
        (("1n", "1"), "1000000001n"),
        (("0.0000000001",), "1n"),
        ((0.5,), "500m"),
        ((1e-07,), "100e-9"),
        ((3,), "3"),
        (("8Gi", "8Gi", "16Gi"), "32Gi"),
        (("1023Mi", "1Mi"), "1Gi"),
        (("3Mi",), "3Mi"),
        (("1Ki", "1"), "1025"),
        (("1000Ki",), "1000Ki"),
        (("1024",), "1024"),
        (("1025",), "1025"),
        (("1Gi", "1"), "1073741825"),
        (("2G", "1Gi"), "3073741824"),
        (("1e9",), "1e9"),
        (("12e6",), "12e6"),
        (("10k",), "10k"),
        (("1000k",), "1M"),
        (("100Mi", "1000m"), "104857601"),
    ],
)
def test_sums_print_as_kubernetes_prints_them(terms: tuple[object, ...], printed: str) -> None:
    total = resource_quantity(terms[0])
    for term in terms[1:]:
        total = total + resource_quantity(term)
    assert str(total) == printed


@pytest.mark.parametrize(
    ("terms", "printed"),
    [
        ((), "0"),
        (("1",), "1"),
        (("2Gi",), "2Gi"),
        (("1", "1"), "2"),
    ],
)
def test_a_sum_from_zero_takes_the_format_of_its_first_term(terms: tuple[object, ...], printed: str) -> None:
    total = ZERO
    for term in terms:
        total = total + resource_quantity(term)
    assert str(total) == printed


@pytest.mark.parametrize(
    ("count", "term", "printed"),
    [
        (1, "2Gi", "2Gi"),
        (3, "2Gi", "6Gi"),
        (1, "1.500", "1500m"),
        (2, "1.5", "3"),
        (1, "100Mi", "100Mi"),
        (1000, "1G", "1T"),
        (4, "256Mi", "1Gi"),
    ],
)
def test_a_multiplied_quantity_prints_canonically(count: int, term: str, printed: str) -> None:
    assert str(resource_quantity(term).times(count)) == printed


def test_formats_follow_the_suffix() -> None:
    assert resource_quantity("2Gi").format == BINARY_SI
    assert resource_quantity("2G").format == DECIMAL_SI
    assert resource_quantity("2").format == DECIMAL_SI
    assert resource_quantity("2e3").format == DECIMAL_EXPONENT
    # A fraction of a byte is no binary quantity.
    assert resource_quantity("0.0001Ki").format == DECIMAL_SI
    assert ZERO.format == "" and str(ZERO) == "0"


def test_values_are_exact_and_round_up_to_a_billionth() -> None:
    assert resource_quantity("1.5Gi").value == Fraction(3 * 512 * 1024**2)
    assert resource_quantity("0.0000000001").value == Fraction(1, 10**9)
    assert resource_quantity("-0.0000000001").value == Fraction(-1, 10**9)
    assert resource_quantity(0.5).value == Fraction(1, 2)


@pytest.mark.parametrize(
    ("value", "fmt", "printed"),
    [
        (Fraction(0), DECIMAL_SI, "0"),
        (Fraction(3, 2), DECIMAL_SI, "1500m"),
        (Fraction(3, 2), DECIMAL_EXPONENT, "1500e-3"),
        (Fraction(1500), DECIMAL_EXPONENT, "1500"),
        (Fraction(15000), DECIMAL_EXPONENT, "15e3"),
        (Fraction(10**18), DECIMAL_SI, "1E"),
        (Fraction(1, 10**6), DECIMAL_SI, "1u"),
        (Fraction(1023), BINARY_SI, "1023"),
        (Fraction(3, 2), BINARY_SI, "1500m"),
        (Fraction(1024**6), BINARY_SI, "1Ei"),
        (Fraction(-3 * 1024**2), BINARY_SI, "-3Mi"),
        (Fraction(-3, 2), DECIMAL_SI, "-1500m"),
        (Fraction(7), "", "7"),
    ],
)
def test_canonical_form(value: Fraction, fmt: str, printed: str) -> None:
    assert canonical_quantity(value, fmt) == printed


@pytest.mark.parametrize(
    ("number", "text"),
    [(0.5, "500m"), (1e-7, "100e-9"), (2.5e-07, "250e-9"), (1e16, "10P"), (3, "3"), (1.0, "1")],
)
def test_json_numbers_read_as_the_api_server_serves_them(number: float, text: str) -> None:
    # A float reaches Kubernetes as Go's JSON encoder writes it: "1e-7", "10000000000000000".
    assert str(resource_quantity(number)) == text


@pytest.mark.parametrize("bad", ["abc", "1Gb", "", True, None, "9e99"])
def test_resource_quantity_refuses_what_is_no_quantity(bad: object) -> None:
    with pytest.raises(QuantityError):
        resource_quantity(bad)
