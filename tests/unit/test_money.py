"""Money: ISO 4217 minor units, half-up rounding, the wire form, and strict parsing."""

from __future__ import annotations

import operator
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.currencies import MINOR_UNITS
from billow.domain.errors import ValidationFailed
from billow.domain.money import (
    MAX_INTEGER_DIGITS,
    MAX_UNIT_DECIMALS,
    Money,
    is_currency,
    minor_units,
    parse_currency,
    parse_decimal,
)


def only_error(failure: pytest.ExceptionInfo[ValidationFailed]) -> tuple[str, str]:
    """The single (pointer, message) a ValidationFailed carries."""
    error = failure.value
    assert error.code == "validation_failed"
    assert error.status == 422
    assert len(error.errors) == 1
    return error.errors[0].pointer, error.errors[0].message


# --- minor units -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("CLP", 0),
        ("XOF", 0),
        ("EUR", 2),
        ("USD", 2),
        ("GBP", 2),
        ("CHF", 2),
        ("XCG", 2),
        ("KWD", 3),
        ("BHD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("JOD", 3),
        ("LYD", 3),
    ],
)
def test_minor_units_follow_iso_4217(currency: str, digits: int) -> None:
    assert minor_units(currency) == digits


# CLDR (babel) gives these 0 digits; ISO 4217, which the API promises, gives 3 and 2.
@pytest.mark.parametrize(
    ("currency", "iso_digits"),
    [("IQD", 3), ("RSD", 2), ("ALL", 2), ("LBP", 2), ("IRR", 2), ("YER", 2)],
)
def test_minor_units_are_iso_4217_where_cldr_differs(currency: str, iso_digits: int) -> None:
    assert minor_units(currency) == iso_digits
    assert Money.zero(currency).as_dict()["amount"] == "0." + "0" * iso_digits


def test_the_currency_table_is_well_formed() -> None:
    assert len(MINOR_UNITS) > 150
    for code, digits in MINOR_UNITS.items():
        assert re.fullmatch("[A-Z]{3}", code), code
        assert digits in (0, 2, 3), code
        assert is_currency(code)
        assert minor_units(code) == digits


def test_every_table_code_is_a_currency_cldr_knows() -> None:
    # Catches a typo in the table; CLDR knows every ISO 4217 code, current or not.
    from babel.numbers import list_currencies

    assert set(MINOR_UNITS) <= set(list_currencies())


def test_no_currency_in_legal_tender_use_is_missing() -> None:
    # Every currency CLDR records as legal tender somewhere on this day must be billable,
    # except BGN: Bulgaria adopted the euro on 2026-01-01 (CLDR still shows the changeover).
    import datetime

    from babel import Locale
    from babel.numbers import get_territory_currencies

    day = datetime.date(2026, 2, 1)
    in_use: set[str] = set()
    for territory in Locale("en").territories:
        in_use.update(get_territory_currencies(territory, day, tender=True))
    assert in_use - set(MINOR_UNITS) == {"BGN"}


# --- currency codes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["EUR", "USD", "JPY", "KWD", "BHD", "CHF", "IQD", "RSD", "XCG", "SLE", "ZWG"]
)
def test_known_currencies_parse_to_themselves(code: str) -> None:
    assert is_currency(code)
    assert parse_currency(code) == code


@pytest.mark.parametrize(
    "code",
    ["eur", "Eur", "EU", "EURO", "", "E", "ABC", "QQQ", "BTC", " EUR", "EUR "],
)
def test_unknown_lowercase_or_wrong_length_currency_is_refused(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(ValidationFailed) as failure:
        parse_currency(code)
    pointer, message = only_error(failure)
    assert pointer == "/currency"
    assert "ISO 4217" in message


@pytest.mark.parametrize("code", [None, 978, ["EUR"], b"EUR"])
def test_non_string_currency_is_refused(code: object) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_currency(code)  # type: ignore[arg-type]
    assert only_error(failure)[0] == "/currency"


def test_currency_error_uses_the_given_pointer() -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_currency("xyz", pointer="/prices/2/currency")
    assert only_error(failure)[0] == "/prices/2/currency"


NOT_BILLING_CURRENCIES = [
    # withdrawn
    "DEM",
    "FRF",
    "HRK",
    "BGN",
    "ANG",
    # for testing, and "no currency"
    "XXX",
    "XTS",
    # fund codes and units of account
    "CLF",
    "UYW",
    "COU",
    "UYI",
    "BOV",
    "CHE",
    "CHW",
    "MXV",
    "USN",
    "XDR",
    # precious metals
    "XAU",
    "XAG",
    "XPT",
    "XPD",
]


@pytest.mark.parametrize("code", NOT_BILLING_CURRENCIES)
def test_withdrawn_testing_fund_and_metal_codes_are_not_billing_currencies(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(ValidationFailed) as failure:
        parse_currency(code)
    pointer, message = only_error(failure)
    assert pointer == "/currency"
    assert message == f"'{code}' is not an ISO 4217 currency code"


@pytest.mark.parametrize("code", NOT_BILLING_CURRENCIES)
def test_minor_units_of_a_non_billing_code_is_a_key_error(code: str) -> None:
    with pytest.raises(KeyError):
        minor_units(code)
    with pytest.raises(KeyError):
        Money.of("1", code).rounded()


# --- parse_decimal ---------------------------------------------------------------------------


def not_a_decimal_string(text: str) -> str:
    return f"'{text}' is not a decimal string such as \"29.00\""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("29.00", Decimal("29.00")),
        ("0", Decimal(0)),
        ("-2.5", Decimal("-2.5")),
        ("  7.25 ", Decimal("7.25")),
        ("\t7.25\n", Decimal("7.25")),
        ("1000", Decimal(1000)),
        ("007", Decimal(7)),
        ("0.000000000001", Decimal("0.000000000001")),
        ("1." + "0" * MAX_UNIT_DECIMALS, Decimal(1)),
        ("9" * MAX_INTEGER_DIGITS, Decimal("9" * MAX_INTEGER_DIGITS)),
        (
            "-" + "9" * MAX_INTEGER_DIGITS + "." + "9" * MAX_UNIT_DECIMALS,
            Decimal("-" + "9" * 18 + "." + "9" * 12),
        ),
    ],
)
def test_parse_decimal_accepts_decimal_strings(text: str, expected: Decimal) -> None:
    parsed = parse_decimal(text, "/unit_amount")
    assert parsed == expected
    assert isinstance(parsed, Decimal)


def test_parse_decimal_keeps_trailing_zeros() -> None:
    assert str(parse_decimal("29.00", "/amount")) == "29.00"


@pytest.mark.parametrize("value", [29, 29.0, 0.1, True, None, Decimal("1.5"), ["1"], {"amount": "1"}])
def test_parse_decimal_refuses_json_numbers_and_other_types(value: object) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_decimal(value, "/amount")
    pointer, message = only_error(failure)
    assert pointer == "/amount"
    assert "decimal string" in message


@pytest.mark.parametrize("text", ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf"])
def test_parse_decimal_refuses_non_finite(text: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_decimal(text, "/amount")
    assert only_error(failure) == ("/amount", not_a_decimal_string(text))


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "1,50", "1.2.3", "€5", "0x10", "--1", "+1", ".5", "1.", "-", "- 1", "1 000", "1.5-"],
)
def test_parse_decimal_refuses_garbage(text: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_decimal(text, "/lines/0/unit_amount")
    assert only_error(failure) == ("/lines/0/unit_amount", not_a_decimal_string(text))


@pytest.mark.parametrize("text", ["1E+3", "1e3", "1E3", "2.5e0", "1E-2", "1e-13", "1E+30", "-1E+2"])
def test_parse_decimal_refuses_exponents(text: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_decimal(text, "/amount")
    assert only_error(failure) == ("/amount", not_a_decimal_string(text))


@pytest.mark.parametrize("text", ["0.0000000000001", "1.1234567890123", "-5." + "0" * 13])
def test_parse_decimal_refuses_more_than_twelve_decimals(text: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_decimal(text, "/unit_amount")
    pointer, message = only_error(failure)
    assert pointer == "/unit_amount"
    assert f"at most {MAX_UNIT_DECIMALS} decimal places" in message


@pytest.mark.parametrize("text", ["1" + "0" * MAX_INTEGER_DIGITS, "-" + "9" * 19 + ".5", "1" * 30])
def test_parse_decimal_refuses_more_than_eighteen_integer_digits(text: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_decimal(text, "/amount")
    assert only_error(failure) == ("/amount", f"at most {MAX_INTEGER_DIGITS} digits before the decimal point")


def test_parse_decimal_max_decimals_can_be_tightened() -> None:
    assert parse_decimal("1.23", "/amount", max_decimals=2) == Decimal("1.23")
    with pytest.raises(ValidationFailed) as failure:
        parse_decimal("1.234", "/amount", max_decimals=2)
    assert "at most 2 decimal places" in only_error(failure)[1]


@pytest.mark.parametrize(
    "text",
    [
        "1_000",
        "1_000.00",
        "1_0",
        "\u0663",  # ARABIC-INDIC DIGIT THREE
        "\u0661\u0662.\u0665",
        "\uff11\uff12",  # FULLWIDTH DIGITS ONE TWO
        "\u00b2",  # SUPERSCRIPT TWO
        "1\u066b5",  # ARABIC DECIMAL SEPARATOR
    ],
)
def test_parse_decimal_refuses_python_only_spellings(text: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_decimal(text, "/amount")
    assert only_error(failure) == ("/amount", not_a_decimal_string(text))


def test_a_parsed_amount_can_always_be_rounded() -> None:
    # 1E+30 would need more than the 28-digit decimal context to round; it is refused instead.
    with pytest.raises(ValidationFailed):
        parse_decimal("1E+30", "/amount")
    with pytest.raises(ValidationFailed):
        parse_decimal("1" + "0" * 30, "/amount")
    largest = parse_decimal("9" * MAX_INTEGER_DIGITS + "." + "9" * MAX_UNIT_DECIMALS, "/amount")
    for currency in MINOR_UNITS:
        assert Money(largest, currency).rounded().amount == Decimal("1" + "0" * MAX_INTEGER_DIGITS)
        assert Money(-largest, currency).rounded().amount == -Decimal("1" + "0" * MAX_INTEGER_DIGITS)


decimal_strings = st.from_regex(r"-?[0-9]{1,18}(\.[0-9]{1,12})?", fullmatch=True)


@given(text=decimal_strings, currency=st.sampled_from(sorted(MINOR_UNITS)))
def test_any_accepted_amount_rounds_and_goes_on_the_wire(text: str, currency: str) -> None:
    amount = parse_decimal(text, "/amount")
    assert amount == Decimal(text)
    wire = Money(amount, currency).as_dict()["amount"]
    assert abs(Decimal(wire) - amount) <= Decimal(5).scaleb(-(minor_units(currency) + 1))


# --- rounding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "EUR", "2.35"),
        ("-2.345", "EUR", "-2.35"),
        ("2.344", "EUR", "2.34"),
        ("2.3449999", "EUR", "2.34"),
        ("0.005", "EUR", "0.01"),
        ("-0.005", "EUR", "-0.01"),
        ("0.5", "JPY", "1"),
        ("1.5", "JPY", "2"),
        ("2.5", "JPY", "3"),  # half-up, not banker's rounding
        ("-0.5", "JPY", "-1"),
        ("0.4999", "JPY", "0"),
        ("1.0005", "KWD", "1.001"),
        ("1.0004", "KWD", "1.000"),
        ("1.0005", "IQD", "1.001"),
        ("0.005", "RSD", "0.01"),
        ("29", "EUR", "29.00"),
    ],
)
def test_rounding_is_half_up_at_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    rounded = Money.of(amount, currency).rounded()
    assert rounded.currency == currency
    assert str(rounded.amount) == expected


def test_rounding_does_not_change_the_original() -> None:
    money = Money.of("2.345", "EUR")
    money.rounded()
    assert money.amount == Decimal("2.345")


# --- wire form -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "wire"),
    [
        (Money.of(29, "EUR"), {"amount": "29.00", "currency": "EUR"}),
        (Money.of("29.1", "EUR"), {"amount": "29.10", "currency": "EUR"}),
        (Money.of("2.345", "EUR"), {"amount": "2.35", "currency": "EUR"}),
        (Money.of(1000, "JPY"), {"amount": "1000", "currency": "JPY"}),
        # Money.of is internal and takes any Decimal; API input goes through parse_decimal.
        (Money.of("1E+3", "JPY"), {"amount": "1000", "currency": "JPY"}),
        (Money.of("999.5", "JPY"), {"amount": "1000", "currency": "JPY"}),
        (Money.of(1, "KWD"), {"amount": "1.000", "currency": "KWD"}),
        (Money.of("0.1", "BHD"), {"amount": "0.100", "currency": "BHD"}),
        (Money.of("-12.3", "EUR"), {"amount": "-12.30", "currency": "EUR"}),
        (Money.zero("EUR"), {"amount": "0.00", "currency": "EUR"}),
        (Money.zero("JPY"), {"amount": "0", "currency": "JPY"}),
    ],
)
def test_as_dict_has_exactly_the_minor_digits(money: Money, wire: dict[str, str]) -> None:
    assert money.as_dict() == wire


@pytest.mark.parametrize(
    ("amount", "currency", "wire"),
    [
        ("-0.004", "EUR", "0.00"),
        ("-0.4", "JPY", "0"),
        ("-0", "EUR", "0.00"),
        ("-0.00", "EUR", "0.00"),
        ("-0.0004", "KWD", "0.000"),
        ("-0.00049", "IQD", "0.000"),
    ],
)
def test_as_dict_never_shows_negative_zero(amount: str, currency: str, wire: str) -> None:
    assert Money.of(amount, currency).as_dict()["amount"] == wire
    rounded = Money.of(amount, currency).rounded().amount
    assert str(rounded) == wire
    assert not rounded.is_signed()


def test_rounding_keeps_the_sign_of_amounts_that_do_not_round_to_zero() -> None:
    assert Money.of("-0.005", "EUR").as_dict()["amount"] == "-0.01"
    assert Money.of("-0.5", "JPY").as_dict()["amount"] == "-1"


# --- arithmetic ------------------------------------------------------------------------------


def test_adding_and_subtracting_in_one_currency() -> None:
    assert Money.of("1.10", "EUR") + Money.of("2.205", "EUR") == Money.of("3.305", "EUR")
    assert Money.of("5", "EUR") - Money.of("7.5", "EUR") == Money.of("-2.5", "EUR")
    assert -Money.of("3", "USD") == Money.of("-3", "USD")
    assert Money.of("2.50", "EUR").times(Decimal(3)) == Money.of("7.5", "EUR")


def test_arithmetic_keeps_full_precision_until_rounded() -> None:
    third = Money.of("10", "EUR").times(Decimal(1) / Decimal(3))
    assert third.amount != third.rounded().amount
    assert third.rounded().as_dict() == {"amount": "3.33", "currency": "EUR"}


def test_adding_different_currencies_raises() -> None:
    with pytest.raises(ValueError, match="cannot combine EUR with USD"):
        operator.add(Money.of("1", "EUR"), Money.of("1", "USD"))


def test_subtracting_different_currencies_raises() -> None:
    with pytest.raises(ValueError, match="cannot combine USD with JPY"):
        operator.sub(Money.of("1", "USD"), Money.of("1", "JPY"))


def test_different_currencies_never_compare_equal() -> None:
    assert Money.of("1", "EUR") != Money.of("1", "USD")


def test_money_is_immutable() -> None:
    money = Money.of("1", "EUR")
    with pytest.raises(AttributeError):
        money.amount = Decimal(2)  # type: ignore[misc]


# --- properties ------------------------------------------------------------------------------

CURRENCIES = sorted(MINOR_UNITS)
# Exact decimals with up to 12 places, comfortably inside the 28-digit decimal context.
amounts = st.builds(
    lambda units, places: Decimal(units).scaleb(-places),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=0, max_value=MAX_UNIT_DECIMALS),
)


@given(amount=amounts, currency=st.sampled_from(CURRENCIES))
def test_rounding_is_never_off_by_more_than_half_a_minor_unit(amount: Decimal, currency: str) -> None:
    digits = minor_units(currency)
    rounded = Money(amount, currency).rounded().amount
    half_unit = Decimal(5).scaleb(-(digits + 1))
    assert abs(rounded - amount) <= half_unit
    assert rounded.as_tuple().exponent == -digits
    if abs(rounded - amount) == half_unit:  # a tie goes away from zero
        assert abs(rounded) > abs(amount)
    if rounded == 0:  # money has no negative zero
        assert not rounded.is_signed()


@given(amount=amounts, currency=st.sampled_from(CURRENCIES))
def test_rounding_is_idempotent(amount: Decimal, currency: str) -> None:
    once = Money(amount, currency).rounded()
    twice = once.rounded()
    assert twice == once
    assert str(twice.amount) == str(once.amount)


@given(amount=amounts, currency=st.sampled_from(CURRENCIES))
def test_rounding_is_symmetric_around_zero(amount: Decimal, currency: str) -> None:
    assert (-Money(amount, currency)).rounded() == -(Money(amount, currency).rounded())


@given(amount=amounts, currency=st.sampled_from(CURRENCIES))
def test_wire_amount_has_exactly_the_minor_digits(amount: Decimal, currency: str) -> None:
    digits = minor_units(currency)
    wire = Money(amount, currency).as_dict()
    pattern = r"-?\d+" + (rf"\.\d{{{digits}}}" if digits else "")
    assert re.fullmatch(pattern, wire["amount"]), wire
    assert not re.fullmatch(r"-0(\.0*)?", wire["amount"]), wire
    assert Decimal(wire["amount"]) == Money(amount, currency).rounded().amount
    assert wire["currency"] == currency


@given(amount=amounts)
def test_parse_decimal_round_trips_plain_decimal_notation(amount: Decimal) -> None:
    text = format(amount, "f")  # str() would write some of these as 1E-7; exponents are refused
    parsed = parse_decimal(text, "/amount")
    assert parsed.as_tuple() == amount.as_tuple()  # same digits, same exponent


@given(value=st.floats(allow_nan=True, allow_infinity=True) | st.integers())
def test_parse_decimal_never_accepts_a_json_number(value: float) -> None:
    with pytest.raises(ValidationFailed):
        parse_decimal(value, "/amount")
