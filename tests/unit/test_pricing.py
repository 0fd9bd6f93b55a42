"""The pricing engine: API.md's worked checks, every model, rounding, validation, and properties."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.errors import ValidationFailed
from billow.domain.money import Money
from billow.domain.pricing import (
    MODEL_FIELDS,
    MODELS,
    GraduatedTerms,
    PriceTerms,
    compute_price,
    parse_price_terms,
    parse_variable_values,
)

D = Decimal
T = TypeVar("T")

API_GRADUATED: dict[str, Any] = {
    "tiers": [
        {"up_to": "10", "unit_amount": "10", "flat_amount": "2"},
        {"up_to": "20", "unit_amount": "5", "flat_amount": "3"},
        {"up_to": None, "unit_amount": "5", "flat_amount": "3"},
    ]
}
API_VOLUME: dict[str, Any] = {
    "tiers": [
        {"up_to": "5", "unit_amount": "7"},
        {"up_to": "10", "unit_amount": "6.5"},
        {"up_to": None, "unit_amount": "6"},
    ]
}


def price(model: str, terms: dict[str, Any], quantity: str, currency: str = "EUR", **kwargs: Any) -> str:
    """The rounded total of one computation, as its wire string."""
    parsed = parse_price_terms(model, terms, currency)
    return compute_price(parsed, currency, D(quantity), **kwargs).total.as_dict()["amount"]


def problems(failure: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[str, str]]:
    error = failure.value
    assert error.code == "validation_failed"
    assert error.status == 422
    return [(item.pointer, item.message) for item in error.errors]


def invalid(model: str, terms: Any, currency: str = "EUR", pointer: str = "") -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as failure:
        parse_price_terms(model, terms, currency, pointer)
    return problems(failure)


def attempt(call: Callable[[], T]) -> T | ValidationFailed:
    """The result, or the ValidationFailed raised instead (for properties that accept either)."""
    try:
        return call()
    except ValidationFailed as failure:
        return failure


def tiers(*rows: tuple[str | None, str | None, str | None]) -> dict[str, Any]:
    out = []
    for up_to, unit, flat in rows:
        tier: dict[str, Any] = {"up_to": up_to}
        if unit is not None:
            tier["unit_amount"] = unit
        if flat is not None:
            tier["flat_amount"] = flat
        out.append(tier)
    return {"tiers": out}


# --- API.md's worked checks -------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "total"), [("0", "2.00"), ("11", "110.00"), ("21", "163.00")])
def test_api_graduated_worked_check(quantity: str, total: str) -> None:
    assert price("graduated", API_GRADUATED, quantity) == total


def test_api_volume_worked_check() -> None:
    assert price("volume", API_VOLUME, "6") == "39.00"


def test_api_package_worked_check() -> None:
    assert price("package", {"amount": "100", "package_size": 10}, "121") == "1300.00"


def test_compute_answer_has_api_shape() -> None:
    terms = parse_price_terms("graduated", API_GRADUATED, "EUR")
    assert compute_price(terms, "EUR", D("21")).to_dict() == {
        "total": {"amount": "163.00", "currency": "EUR"},
        "breakdown": [
            {"tier": 1, "quantity": "10", "unit_amount": "10", "flat_amount": "2", "amount": "102.00"},
            {"tier": 2, "quantity": "10", "unit_amount": "5", "flat_amount": "3", "amount": "53.00"},
            {"tier": 3, "quantity": "1", "unit_amount": "5", "flat_amount": "3", "amount": "8.00"},
        ],
    }


# --- every model ------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", ["0", "1", "1000.5"])
def test_flat_is_the_amount_whatever_the_quantity(quantity: str) -> None:
    terms = parse_price_terms("flat", {"amount": "29.00"}, "EUR")
    result = compute_price(terms, "EUR", D(quantity))
    assert result.total == Money(D("29.00"), "EUR")
    assert [line.to_dict() for line in result.breakdown] == [
        {"tier": None, "quantity": quantity, "unit_amount": "0", "flat_amount": "29", "amount": "29.00"}
    ]


def test_per_unit_multiplies() -> None:
    assert price("per_unit", {"unit_amount": "0.25"}, "7") == "1.75"
    assert price("per_unit", {"unit_amount": "0.000001"}, "1234567") == "1.23"


def test_graduated_decimal_quantity_is_matched_exactly_against_up_to() -> None:
    terms = parse_price_terms("graduated", API_GRADUATED, "EUR")
    lines = compute_price(terms, "EUR", D("10.5")).breakdown
    assert [(line.tier, line.quantity, line.amount) for line in lines] == [
        (1, 10, 102),
        (2, D("0.5"), D("5.5")),
    ]
    assert [line.tier for line in compute_price(terms, "EUR", D("10")).breakdown] == [1]


def test_graduated_each_tier_reached_adds_its_flat_once() -> None:
    # 10*10+2 + 10*5+3 + 30*5+3
    assert price("graduated", API_GRADUATED, "50") == "308.00"


def test_graduated_first_tier_up_to_zero() -> None:
    terms = tiers(("0", "0", "5"), (None, "1", "0"))
    assert price("graduated", terms, "0") == "5.00"
    assert price("graduated", terms, "3") == "8.00"


@pytest.mark.parametrize(
    ("quantity", "total", "tier"),
    [("0", "0.00", 1), ("5", "35.00", 1), ("5.5", "35.75", 2), ("10", "65.00", 2), ("11", "66.00", 3)],
)
def test_volume_prices_every_unit_at_the_tier_of_q(quantity: str, total: str, tier: int) -> None:
    terms = parse_price_terms("volume", API_VOLUME, "EUR")
    result = compute_price(terms, "EUR", D(quantity))
    assert result.total.as_dict()["amount"] == total
    assert [line.tier for line in result.breakdown] == [tier]


def test_volume_adds_the_tier_flat_and_q_zero_uses_the_first_tier() -> None:
    terms = tiers(("10", "1", "5"), (None, "0.5", "20"))
    assert price("volume", terms, "0") == "5.00"
    assert price("volume", terms, "20") == "30.00"


@pytest.mark.parametrize(
    ("quantity", "total"),
    [("0", "0.00"), ("0.5", "50.00"), ("10", "50.00"), ("10.5", "90.00"), ("99", "90.00")],
)
def test_staircase_charges_the_flat_of_the_tier_containing_q(quantity: str, total: str) -> None:
    terms = tiers(("0", None, "0"), ("10", None, "50"), (None, None, "90"))
    assert price("staircase", terms, quantity) == total


@pytest.mark.parametrize(
    ("quantity", "up", "down"),
    [
        ("0", "0.00", "0.00"),
        ("5", "0.00", "0.00"),
        ("5.5", "100.00", "0.00"),
        ("15", "100.00", "100.00"),
        ("15.01", "200.00", "100.00"),
        ("126", "1300.00", "1200.00"),
    ],
)
def test_package_rounding_and_free_units(quantity: str, up: str, down: str) -> None:
    base = {"amount": "100", "package_size": "10", "free_units": "5"}
    assert price("package", base, quantity) == up
    assert price("package", base | {"rounding": "down"}, quantity) == down


def test_package_breakdown_counts_packages() -> None:
    terms = parse_price_terms("package", {"amount": "100", "package_size": 10}, "EUR")
    assert compute_price(terms, "EUR", D("121")).breakdown[0].to_dict() == {
        "tier": None,
        "quantity": "13",
        "unit_amount": "100",
        "flat_amount": "0",
        "amount": "1300.00",
    }


def percentage(terms: dict[str, Any], *values: str) -> tuple[str, list[dict[str, Any]]]:
    parsed = parse_price_terms("percentage", terms, "EUR")
    result = compute_price(parsed, "EUR", D(0), event_values=[D(value) for value in values])
    return result.total.as_dict()["amount"], [line.to_dict() for line in result.breakdown]


def test_percentage_rate_plus_fixed_per_event() -> None:
    total, lines = percentage({"rate": "2.9", "fixed_amount": "0.30"}, "10", "80")
    assert total == "3.21"  # 2.9 % of 90 = 2.61, + 2 * 0.30
    assert lines == [
        {"tier": None, "quantity": "90", "unit_amount": "0.029", "flat_amount": "0", "amount": "2.61"},
        {"tier": None, "quantity": "2", "unit_amount": "0.3", "flat_amount": "0", "amount": "0.60"},
    ]


@pytest.mark.parametrize(
    ("limits", "total"),
    [
        ({}, "12.50"),  # 10 % of 95 = 9.5, + 3 * 1
        ({"free_events": 2}, "1.50"),  # exempt 90: events 1, 2 free
        ({"free_amount": "100"}, "0.00"),  # exempt 100 covers all 95
        ({"free_amount": "12"}, "10.30"),  # 10 free, 78 of 80 charged: 7.8 + 1, then 0.5 + 1
        ({"free_events": 2, "free_amount": "50"}, "6.50"),  # min(90, 50): 10 free, 40 of 80: 4 + 1, 0.5 + 1
        ({"free_events": 1, "free_amount": "50"}, "10.50"),  # min(10, 50): 8 + 1, 0.5 + 1
        ({"free_events": 0}, "12.50"),
    ],
)
def test_percentage_exemption(limits: dict[str, Any], total: str) -> None:
    terms = {"rate": "10", "fixed_amount": "1"} | limits
    assert percentage(terms, "10", "80", "5")[0] == total


def test_percentage_exemption_lines() -> None:
    _, lines = percentage(
        {"rate": "10", "fixed_amount": "1", "free_events": 2, "free_amount": "50"}, "10", "80", "5"
    )
    assert [(line["quantity"], line["amount"]) for line in lines] == [("45", "4.50"), ("2", "2.00")]


def test_percentage_zero_value_events_inside_the_free_count_are_free() -> None:
    assert percentage({"rate": "10", "fixed_amount": "1", "free_events": 2}, "0", "0", "0")[0] == "1.00"


def test_percentage_clamps_each_event_fee() -> None:
    terms = {"rate": "1", "min_amount": "0.5", "max_amount": "2"}
    assert percentage(terms, "10", "100", "1000")[0] == "3.50"  # 0.1 -> 0.5, 1, 10 -> 2


def test_percentage_minimum_is_not_charged_for_exempt_events() -> None:
    terms = {"rate": "1", "min_amount": "0.5", "free_events": 1}
    assert percentage(terms, "10", "10")[0] == "0.50"


def test_percentage_without_events_is_zero() -> None:
    assert percentage({"rate": "3", "fixed_amount": "0.25"})[0] == "0.00"


def test_percentage_refuses_negative_event_values() -> None:
    terms = parse_price_terms("percentage", {"rate": "3"}, "EUR")
    with pytest.raises(ValidationFailed) as failure:
        compute_price(terms, "EUR", D(0), event_values=[D(1), D(-2), D("0.0000000000001")])
    assert problems(failure) == [
        ("/event_values/1", "must not be negative"),
        ("/event_values/2", "at most 12 decimal places are allowed"),
    ]


def test_formula_model_end_to_end() -> None:
    terms = parse_price_terms(
        "formula",
        {
            "expression": "base + max(0, quantity - included) * unit",
            "variables": [
                {"name": "base", "type": "decimal", "default": "49"},
                {"name": "included", "type": "integer", "default": 100},
                {"name": "unit", "type": "decimal"},
            ],
        },
        "EUR",
    )
    result = compute_price(terms, "EUR", D("150"), variables={"unit": D("0.125")})
    assert result.to_dict() == {
        "total": {"amount": "55.25", "currency": "EUR"},
        "breakdown": [
            {"tier": None, "quantity": "150", "unit_amount": "0", "flat_amount": "55.25"}
            | {"amount": "55.25"}
        ],
    }


# --- rounding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit_amount", "currency", "total"),
    [
        ("0.5", "JPY", "1"),  # half-up, not banker's
        ("2.5", "JPY", "3"),
        ("2.4999", "JPY", "2"),
        ("0.125", "EUR", "0.13"),
        ("0.124999999999", "EUR", "0.12"),
        ("0.005", "EUR", "0.01"),
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "KWD", "1.234"),
        ("0.0005", "KWD", "0.001"),
        ("7", "JPY", "7"),
        ("7", "KWD", "7.000"),
    ],
)
def test_total_is_rounded_half_up_to_the_minor_unit(unit_amount: str, currency: str, total: str) -> None:
    assert price("per_unit", {"unit_amount": unit_amount}, "1", currency) == total


def test_total_is_rounded_once_not_per_line() -> None:
    # Three tiers of 0.004 each: per line that would be 0.00 + 0.00 + 0.00; once it is 0.01.
    terms = tiers(("1", "0.004", None), ("2", "0.004", None), (None, "0.004", None))
    parsed = parse_price_terms("graduated", terms, "EUR")
    result = compute_price(parsed, "EUR", D(3))
    assert result.unrounded == D("0.012")
    assert result.total == Money(D("0.01"), "EUR")
    assert [line.to_dict()["amount"] for line in result.breakdown] == ["0.004", "0.004", "0.004"]


@pytest.mark.parametrize(("currency", "amount"), [("JPY", "102"), ("EUR", "102.00"), ("KWD", "102.000")])
def test_line_amounts_show_at_least_the_minor_digits(currency: str, amount: str) -> None:
    terms = parse_price_terms("graduated", API_GRADUATED, currency)
    assert compute_price(terms, currency, D(10)).breakdown[0].to_dict()["amount"] == amount


# --- compute-time errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (D(-1), "must not be negative"),
        (D("NaN"), "must be a finite number"),
        (D("Infinity"), "must be a finite number"),
        (D("1E+18"), "at most 18 digits before the decimal point"),
        (D("0.0000000000001"), "at most 12 decimal places are allowed"),
        (D("0." + "3" * 100), "at most 12 decimal places are allowed"),  # beyond any context's digits
        (D("1E-1000000"), "at most 12 decimal places are allowed"),
        (1.5, "must be a decimal number"),
        ("2", "must be a decimal number"),
    ],
)
def test_compute_refuses_bad_quantities(quantity: Any, message: str) -> None:
    terms = parse_price_terms("per_unit", {"unit_amount": "1"}, "EUR")
    with pytest.raises(ValidationFailed) as failure:
        compute_price(terms, "EUR", quantity)
    assert problems(failure) == [("/quantity", message)]


def test_compute_accepts_trailing_zeros_and_integers() -> None:
    terms = parse_price_terms("per_unit", {"unit_amount": "2"}, "EUR")
    assert compute_price(terms, "EUR", D("1.50000000000000000")).total.amount == D("3.00")
    assert compute_price(terms, "EUR", 4).total.amount == D("8.00")  # type: ignore[arg-type]
    assert str(compute_price(terms, "EUR", D("-0")).breakdown[0].quantity) == "0"
    assert compute_price(terms, "EUR", D("0E-40")).total.amount == 0
    assert compute_price(terms, "EUR", D("2.5000000000000000000000000000000")).total.amount == D("5.00")


def test_compute_refuses_inputs_for_other_models_and_unknown_currency() -> None:
    terms = parse_price_terms("per_unit", {"unit_amount": "1"}, "EUR")
    with pytest.raises(ValidationFailed) as failure:
        compute_price(terms, "XXX", D(1), event_values=[D(1)], variables={"x": D(1)})
    assert problems(failure) == [
        ("/currency", "'XXX' is not an ISO 4217 currency code"),
        ("/event_values", "only percentage prices take event values, not per_unit"),
        ("/variables", "only formula prices take variables, not per_unit"),
    ]


def test_compute_refuses_amounts_beyond_18_digits() -> None:
    terms = parse_price_terms("per_unit", {"unit_amount": "999999999999999999"}, "EUR")
    with pytest.raises(ValidationFailed) as failure:
        compute_price(terms, "EUR", D("999999999999999999"))
    assert problems(failure) == [("/quantity", "the amount for this quantity has more than 18 digits")]


def test_computation_is_exact_for_the_largest_inputs() -> None:
    terms = parse_price_terms("per_unit", {"unit_amount": "0.000000000001"}, "EUR")
    result = compute_price(terms, "EUR", D("999999999999999999.999999999999"))
    assert result.unrounded == D("999999.999999999999999999999999")
    assert result.total.amount == D("1000000.00")


# --- validation of terms ----------------------------------------------------------------------


def test_unknown_model() -> None:
    assert invalid("tiered", {}) == [("/model", f"must be one of {', '.join(MODELS)}")]


def test_terms_must_be_an_object_and_currency_known() -> None:
    assert invalid("flat", ["29"], "EURO") == [
        ("/currency", "'EURO' is not an ISO 4217 currency code"),
        ("", "must be an object"),
    ]


def test_missing_and_unknown_fields() -> None:
    assert invalid("flat", {"unit_amount": "1"}) == [
        ("/unit_amount", "is not a field of flat prices (they take amount)"),
        ("/amount", "is required"),
    ]


def test_pointer_prefix_is_applied_to_every_problem() -> None:
    assert invalid("package", {"amount": 10, "package_size": 0}, pointer="/components/2/price") == [
        ("/components/2/price/amount", 'must be a decimal string such as "29.00", not a JSON number'),
        ("/components/2/price/package_size", "must be at least 1"),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (29, 'must be a decimal string such as "29.00", not a JSON number'),
        (29.5, 'must be a decimal string such as "29.00", not a JSON number'),
        (True, 'must be a decimal string such as "29.00", not a JSON number'),
        ("29,00", "'29,00' is not a decimal string such as \"29.00\""),
        ("1e3", "'1e3' is not a decimal string such as \"29.00\""),
        ("-1", "must not be negative"),
        ("0.0000000000001", "at most 12 decimal places are allowed"),
        ("1234567890123456789", "at most 18 digits before the decimal point"),
    ],
)
def test_bad_amounts(value: Any, message: str) -> None:
    assert invalid("flat", {"amount": value}) == [("/amount", message)]


def test_amounts_with_twelve_decimals_are_accepted() -> None:
    terms = parse_price_terms("per_unit", {"unit_amount": "0.000000000001"}, "EUR")
    assert terms.to_dict() == {"model": "per_unit", "unit_amount": "0.000000000001"}


def test_every_problem_is_listed() -> None:
    terms = {
        "tiers": [
            {"up_to": "20", "unit_amount": "-1"},
            {"up_to": "10", "flat_amount": 3},
            {"up_to": None, "unit_amount": "1"},
            {"up_to": "30", "colour": "red"},
        ]
    }
    assert invalid("graduated", terms) == [
        ("/tiers/0/unit_amount", "must not be negative"),
        (
            "/tiers/1/up_to",
            "must be greater than the previous tier's up_to (20): "
            "tiers go in increasing order without overlap",
        ),
        ("/tiers/1/flat_amount", 'must be a decimal string such as "29.00", not a JSON number'),
        ("/tiers/2/up_to", "only the last tier may have up_to null"),
        ("/tiers/3/colour", "is not a field of a graduated tier (it takes up_to, unit_amount, flat_amount)"),
        ("/tiers/3/up_to", "the last tier must have up_to null, so every quantity is priced"),
        ("/tiers/3", "needs a unit_amount, a flat_amount or both"),
    ]


@pytest.mark.parametrize("model", ["graduated", "volume", "staircase"])
def test_tiers_structure(model: str) -> None:
    amount = "flat_amount"
    assert invalid(model, {}) == [("/tiers", "is required")]
    assert invalid(model, {"tiers": []}) == [("/tiers", "needs at least one tier (the last with up_to null)")]
    assert invalid(model, {"tiers": {"up_to": None}}) == [("/tiers", "must be a list of tiers")]
    assert invalid(model, {"tiers": ["x"]}) == [("/tiers/0", "must be an object")]
    assert invalid(model, {"tiers": [{amount: "1"}]}) == [
        ("/tiers/0/up_to", "is required (null on the last tier)")
    ]
    overlapping = {
        "tiers": [{"up_to": "10", amount: "1"}, {"up_to": "10", amount: "2"}, {"up_to": None, amount: "3"}]
    }
    assert invalid(model, overlapping) == [
        (
            "/tiers/1/up_to",
            "must be greater than the previous tier's up_to (10): "
            "tiers go in increasing order without overlap",
        )
    ]
    no_open_tier = {"tiers": [{"up_to": "10", amount: "1"}, {"up_to": "20", amount: "2"}]}
    assert invalid(model, no_open_tier) == [
        ("/tiers/1/up_to", "the last tier must have up_to null, so every quantity is priced")
    ]
    assert invalid(model, {"tiers": [{"up_to": "-1", amount: "1"}, {"up_to": None, amount: "1"}]}) == [
        ("/tiers/0/up_to", "must not be negative")
    ]
    assert invalid(model, {"tiers": [{"up_to": 10, amount: "1"}, {"up_to": None, amount: "1"}]}) == [
        ("/tiers/0/up_to", 'must be a decimal string such as "29.00", not a JSON number')
    ]
    too_many = {
        "tiers": [{"up_to": str(i), amount: "1"} for i in range(100)] + [{"up_to": None, amount: "1"}]
    }
    assert invalid(model, too_many) == [("/tiers", "at most 100 tiers are allowed")]


def test_tiers_equal_after_normalisation_overlap() -> None:
    terms = tiers(("10", "1", None), ("10.000", "1", None), (None, "1", None))
    assert invalid("volume", terms)[0][0] == "/tiers/1/up_to"


def test_staircase_tiers_take_a_flat_amount_only() -> None:
    terms = {"tiers": [{"up_to": "10", "unit_amount": "1"}, {"up_to": None, "flat_amount": "1"}]}
    assert invalid("staircase", terms) == [
        ("/tiers/0/unit_amount", "is not a field of a staircase tier (it takes up_to, flat_amount)"),
        ("/tiers/0/flat_amount", "is required"),
    ]


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (0, "must be at least 1"),
        (-5, "must be at least 1"),
        ("0", "must be at least 1"),
        (2.5, "must be a whole number (an integer)"),
        ("2.5", "must be a whole number (an integer)"),
        (True, "must be a whole number (an integer)"),
        ("ten", "must be a whole number (an integer)"),
        (10**18, "must have at most 18 digits"),
        (None, "is required"),
    ],
)
def test_bad_package_size(size: Any, message: str) -> None:
    assert invalid("package", {"amount": "1", "package_size": size}) == [("/package_size", message)]


def test_bad_package_rounding_and_free_units() -> None:
    assert invalid(
        "package", {"amount": "1", "package_size": 1, "rounding": "nearest", "free_units": "-1"}
    ) == [
        ("/free_units", "must not be negative"),
        ("/rounding", "must be up or down"),
    ]


def test_bad_percentage() -> None:
    terms = {"rate": "101", "free_events": -1, "min_amount": "5", "max_amount": "1", "fixed_amount": 0.3}
    assert invalid("percentage", terms) == [
        ("/rate", "is a percentage and must be at most 100"),
        ("/fixed_amount", 'must be a decimal string such as "29.00", not a JSON number'),
        ("/free_events", "must be at least 0"),
        ("/max_amount", "must not be less than min_amount (5)"),
    ]
    assert invalid("percentage", {}) == [("/rate", "is required")]


def test_model_key_in_terms_must_match() -> None:
    assert invalid("flat", {"model": "per_unit", "amount": "1"}) == [
        ("/model", "does not match the price's model 'flat'")
    ]
    assert parse_price_terms("flat", {"model": "flat", "amount": "1"}, "EUR").to_dict()["amount"] == "1"


# --- canonical form, storage round trips, immutability ----------------------------------------

EXAMPLES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("flat", {"amount": "29.00"}, {"amount": "29"}),
    ("per_unit", {"unit_amount": "0.50"}, {"unit_amount": "0.5"}),
    (
        "graduated",
        {"tiers": [{"up_to": "010", "unit_amount": "1.0"}, {"up_to": None, "flat_amount": "100"}]},
        {
            "tiers": [
                {"up_to": "10", "unit_amount": "1", "flat_amount": "0"},
                {"up_to": None, "unit_amount": "0", "flat_amount": "100"},
            ]
        },
    ),
    ("volume", API_VOLUME, {"tiers": [t | {"flat_amount": "0"} for t in API_VOLUME["tiers"]]}),
    (
        "staircase",
        {"tiers": [{"up_to": "5", "flat_amount": "10.00"}, {"up_to": None, "flat_amount": "20"}]},
        {"tiers": [{"up_to": "5", "flat_amount": "10"}, {"up_to": None, "flat_amount": "20"}]},
    ),
    (
        "package",
        {"amount": "100.00", "package_size": "10"},
        {"amount": "100", "package_size": 10, "free_units": "0", "rounding": "up"},
    ),
    (
        "percentage",
        {"rate": "2.90", "free_events": "3", "max_amount": "5.00"},
        {
            "rate": "2.9",
            "fixed_amount": "0",
            "free_events": 3,
            "free_amount": None,
            "min_amount": None,
            "max_amount": "5",
        },
    ),
    (
        "formula",
        {
            "expression": "quantity * rate + if(premium, 10, 0)",
            "variables": [
                {"name": "rate", "type": "decimal", "default": "1.50"},
                {"name": "premium", "type": "boolean", "default": False},
                {"name": "seats", "type": "integer", "default": "3"},
                {"name": "region", "type": "integer"},
            ],
        },
        {
            "expression": "quantity * rate + if(premium, 10, 0)",
            "variables": [
                {"name": "rate", "type": "decimal", "default": "1.5"},
                {"name": "premium", "type": "boolean", "default": False},
                {"name": "seats", "type": "integer", "default": 3},
                {"name": "region", "type": "integer", "default": None},
            ],
        },
    ),
]


@pytest.mark.parametrize(("model", "raw", "canonical"), EXAMPLES, ids=[example[0] for example in EXAMPLES])
def test_canonical_form_and_round_trip(model: str, raw: dict[str, Any], canonical: dict[str, Any]) -> None:
    terms = parse_price_terms(model, raw, "EUR")
    assert terms.model == model
    assert terms.to_dict() == {"model": model, **canonical}
    assert set(terms.to_dict()) - {"model"} == set(MODEL_FIELDS[model])
    again = PriceTerms.from_dict(terms.to_dict())
    assert again == terms
    assert hash(again) == hash(terms)
    assert parse_price_terms(model, terms.to_dict(), "EUR") == terms


def test_every_model_has_an_example() -> None:
    assert sorted(example[0] for example in EXAMPLES) == sorted(MODELS)


def test_from_dict_validates() -> None:
    with pytest.raises(ValidationFailed) as failure:
        PriceTerms.from_dict({"model": "flat", "amount": "-1"})
    assert problems(failure) == [("/amount", "must not be negative")]
    with pytest.raises(ValidationFailed):
        PriceTerms.from_dict({"amount": "1"})


def test_terms_are_immutable() -> None:
    terms = parse_price_terms("graduated", API_GRADUATED, "EUR")
    assert isinstance(terms, GraduatedTerms)
    with pytest.raises(dataclasses.FrozenInstanceError):
        terms.tiers = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        terms.tiers[0].unit_amount = D(1)  # type: ignore[misc]
    assert isinstance(terms.tiers, tuple)


# --- compute request variables from JSON ------------------------------------------------------


def test_parse_variable_values() -> None:
    terms = parse_price_terms(
        "formula",
        {
            "expression": "quantity * rate * seats + if(vip, 1, 0)",
            "variables": [
                {"name": "rate", "type": "decimal", "default": "1"},
                {"name": "seats", "type": "integer", "default": 1},
                {"name": "vip", "type": "boolean", "default": False},
            ],
        },
        "EUR",
    )
    assert parse_variable_values(terms, {"rate": "0.5", "seats": 3, "vip": True}) == {
        "rate": D("0.5"),
        "seats": 3,
        "vip": True,
    }
    with pytest.raises(ValidationFailed) as failure:
        parse_variable_values(terms, {"rate": 0.5, "seats": "three", "vip": "yes", "other": 1})
    assert problems(failure) == [
        ("/variables/rate", 'must be a decimal string such as "29.00", not a JSON number'),
        ("/variables/seats", "must be an integer"),
        ("/variables/vip", "must be true or false"),
        ("/variables/other", "is not a variable of this formula price"),
    ]
    flat = parse_price_terms("flat", {"amount": "1"}, "EUR")
    with pytest.raises(ValidationFailed) as failure:
        parse_variable_values(flat, {"x": "1"})
    assert problems(failure) == [("/variables/x", "is not a variable of this flat price")]
    assert parse_variable_values(flat, None) == {}


# --- properties -------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["JPY", "EUR", "KWD"])


def decimals(max_value: int, places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(min_value=0, max_value=max_value * 10**places).map(lambda n: D(n).scaleb(-places))


def text(value: Decimal) -> str:
    """A decimal string as the API takes it ("0E-12" is not one)."""
    return format(value, "f")


@st.composite
def tier_lists(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=8))
    steps = draw(st.lists(decimals(50, 2).filter(bool), min_size=count - 1, max_size=count - 1))
    bounds: list[Decimal] = []
    for step in steps:
        bounds.append((bounds[-1] if bounds else D(0)) + step)
    rows = []
    for index in range(count):
        up_to = text(bounds[index]) if index < count - 1 else None
        rows.append(
            {
                "up_to": up_to,
                "unit_amount": text(draw(decimals(100, 4))),
                "flat_amount": text(draw(decimals(100, 3))),
            }
        )
    return {"tiers": rows}


QUANTITIES = decimals(1000, 3)


def half_up(amount: Decimal, currency: str) -> Decimal:
    return Money(amount, currency).rounded().amount


@given(tier_lists(), QUANTITIES, CURRENCIES)
def test_graduated_total_is_the_sum_of_its_lines(
    raw: dict[str, Any], quantity: Decimal, currency: str
) -> None:
    result = compute_price(parse_price_terms("graduated", raw, currency), currency, quantity)
    assert result.unrounded == sum((line.amount for line in result.breakdown), D(0))
    assert result.total.amount == half_up(sum((line.amount for line in result.breakdown), D(0)), currency)
    # What the API shows adds up too: line amounts are exact, only the total is rounded.
    shown = [D(line["amount"]) for line in result.to_dict()["breakdown"]]
    assert sum(shown, D(0)) == result.unrounded
    assert sum((line.quantity for line in result.breakdown), D(0)) == quantity


@given(tier_lists(), QUANTITIES, CURRENCIES, st.sampled_from(["graduated", "volume", "staircase"]))
def test_tiered_totals_are_never_negative(
    raw: dict[str, Any], quantity: Decimal, currency: str, model: str
) -> None:
    if model == "staircase":
        raw = {"tiers": [{"up_to": t["up_to"], "flat_amount": t["flat_amount"]} for t in raw["tiers"]]}
    result = compute_price(parse_price_terms(model, raw, currency), currency, quantity)
    assert result.unrounded >= 0
    assert result.total.amount >= 0


@given(tier_lists(), QUANTITIES, QUANTITIES)
def test_graduated_total_is_non_decreasing_in_quantity(
    raw: dict[str, Any], first: Decimal, second: Decimal
) -> None:
    terms = parse_price_terms("graduated", raw, "EUR")
    low, high = sorted((first, second))
    assert compute_price(terms, "EUR", low).unrounded <= compute_price(terms, "EUR", high).unrounded
    assert compute_price(terms, "EUR", low).total.amount <= compute_price(terms, "EUR", high).total.amount


@given(tier_lists(), QUANTITIES)
def test_volume_uses_exactly_one_tier_containing_q(raw: dict[str, Any], quantity: Decimal) -> None:
    terms = parse_price_terms("volume", raw, "EUR")
    (line,) = compute_price(terms, "EUR", quantity).breakdown
    assert line.tier is not None
    bounds = [D(t["up_to"]) for t in raw["tiers"][:-1]]
    lower = bounds[line.tier - 2] if line.tier > 1 else None
    upper = bounds[line.tier - 1] if line.tier <= len(bounds) else None
    assert lower is None or quantity > lower
    assert upper is None or quantity <= upper


@given(
    amount=decimals(1000, 2),
    size=st.integers(min_value=1, max_value=50),
    free=decimals(20, 1),
    packages=st.integers(min_value=1, max_value=100),
    fraction=st.integers(min_value=1, max_value=1000),
    rounding=st.sampled_from(["up", "down"]),
)
def test_package_total_is_a_step_function_of_the_package_count(
    amount: Decimal, size: int, free: Decimal, packages: int, fraction: int, rounding: str
) -> None:
    terms = parse_price_terms(
        "package",
        {"amount": text(amount), "package_size": size, "free_units": text(free), "rounding": rounding},
        "EUR",
    )
    # Any q in (free + (n-1)*size, free + n*size] is n packages rounding up, n - 1 (or n at the
    # step itself) rounding down.
    quantity = free + (packages - 1) * size + D(fraction) / 1000 * size
    expected = packages if rounding == "up" or fraction == 1000 else packages - 1
    result = compute_price(terms, "EUR", quantity)
    assert result.breakdown[0].quantity == expected
    assert result.unrounded == amount * expected
    ceiling = ((quantity - free) / size).to_integral_value(rounding=ROUND_CEILING)
    assert rounding == "down" or result.unrounded == amount * ceiling


@given(decimals(10**6, 12), CURRENCIES)
def test_rounding_is_never_off_by_more_than_half_a_minor_unit(unit_amount: Decimal, currency: str) -> None:
    terms = parse_price_terms("per_unit", {"unit_amount": text(unit_amount)}, currency)
    result = compute_price(terms, currency, D(1))
    digits = {"JPY": 0, "EUR": 2, "KWD": 3}[currency]
    assert abs(result.total.amount - result.unrounded) <= D("0.5").scaleb(-digits)
    assert result.total.amount == result.unrounded.quantize(D(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    assert result.total.amount.as_tuple().exponent == -digits


@given(tier_lists())
def test_tiers_round_trip_through_storage(raw: dict[str, Any]) -> None:
    terms = parse_price_terms("graduated", raw, "EUR")
    assert PriceTerms.from_dict(terms.to_dict()) == terms


@given(
    st.lists(decimals(500, 2).filter(bool), max_size=12),
    st.integers(min_value=0, max_value=5),
    decimals(300, 2),
)
def test_percentage_total_matches_a_direct_reading_of_the_rule(
    values: list[Decimal], free_events: int, free_amount: Decimal
) -> None:
    terms = parse_price_terms(
        "percentage",
        {"rate": "10", "fixed_amount": "1", "free_events": free_events, "free_amount": text(free_amount)},
        "EUR",
    )
    result = compute_price(terms, "EUR", D(0), event_values=values)
    exempt = min(sum(values[:free_events], D(0)), free_amount)
    # Chargeable value is everything beyond the exemption; fixed fees for events not wholly covered.
    covered_events = 0
    running = D(0)
    for value in values[:free_events]:
        if running + value <= exempt:
            covered_events += 1
            running += value
        else:
            break
    expected = (sum(values, D(0)) - exempt) / 10 + (len(values) - covered_events)
    assert result.unrounded == expected


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True)
    | st.sampled_from(["", "0", "10", "-1", "2.5", "1e3", "up", "down", "quantity * 2", "decimal", "NaN"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(sorted({name for names in MODEL_FIELDS.values() for name in names} | {"up_to"}))


@given(
    st.sampled_from([*MODELS, "tiered", ""]),
    st.dictionaries(FIELD_NAMES, JSON, max_size=5),
    st.lists(
        st.dictionaries(st.sampled_from(["up_to", "unit_amount", "flat_amount", "x"]), JSON), max_size=4
    ),
)
def test_any_json_is_parsed_or_refused_with_pointers(
    model: str, raw: dict[str, Any], tier_rows: list[Any]
) -> None:
    if model in ("graduated", "volume", "staircase") and tier_rows:
        raw = raw | {"tiers": tier_rows}
    terms = attempt(lambda: parse_price_terms(model, raw, "EUR"))
    if isinstance(terms, ValidationFailed):
        assert terms.errors
        assert all(error.pointer.startswith("/") and error.message for error in terms.errors)
    else:
        assert PriceTerms.from_dict(terms.to_dict()) == terms
