"""Which price applies to a product at a moment, in a currency and a buyer country."""

from __future__ import annotations

import pytest

from billow.domain.errors import ValidationFailed
from billow.domain.price import Price, parse_effective_from, select_price
from billow.domain.pricing import parse_price_terms

TERMS = parse_price_terms("flat", {"amount": "10"}, "EUR")


def make(
    price_id: str,
    *,
    currency: str = "EUR",
    country: str | None = None,
    effective_from: str | None = None,
    status: str = "active",
    product_id: str = "prod",
) -> Price:
    return Price(
        id=price_id,
        livemode=False,
        product_id=product_id,
        currency=currency,
        terms=TERMS,
        billing_timing="in_advance",
        created_at=f"2026-01-01T00:00:0{price_id[-1]}Z",
        updated_at="2026-01-01T00:00:00Z",
        effective_from=effective_from,
        country=country,
        status=status,  # type: ignore[arg-type]
    )


def test_the_latest_effective_price_wins_and_a_future_one_waits() -> None:
    prices = [
        make("p1"),
        make("p2", effective_from="2026-03-01T00:00:00Z"),
        make("p3", effective_from="2026-06-01T00:00:00Z"),
    ]
    pick = lambda at: select_price(prices, product_id="prod", currency="EUR", country=None, at=at)  # noqa: E731
    assert pick("2026-02-28T23:59:59Z").id == "p1"  # type: ignore[union-attr]
    assert pick("2026-03-01T00:00:00Z").id == "p2"  # type: ignore[union-attr]
    assert pick("2026-07-01T00:00:00Z").id == "p3"  # type: ignore[union-attr]


def test_a_country_price_beats_the_general_one_only_for_that_country() -> None:
    prices = [make("p1"), make("p2", country="CH")]
    assert (
        select_price(prices, product_id="prod", currency="EUR", country="CH", at="2026-05-01T00:00:00Z").id
        == "p2"
    )  # type: ignore[union-attr]
    assert (
        select_price(prices, product_id="prod", currency="EUR", country="DE", at="2026-05-01T00:00:00Z").id
        == "p1"
    )  # type: ignore[union-attr]


def test_archived_other_currency_and_other_product_never_apply() -> None:
    prices = [make("p1", status="archived"), make("p2", currency="USD"), make("p3", product_id="other")]
    assert (
        select_price(prices, product_id="prod", currency="EUR", country=None, at="2026-05-01T00:00:00Z")
        is None
    )


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-03-01", "2026-03-01T00:00:00Z"),
        ("2026-03-01T01:30:00+02:00", "2026-02-28T23:30:00Z"),
        ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),
    ],
)
def test_effective_from_is_stored_in_utc(given: str, stored: str) -> None:
    assert parse_effective_from(given) == stored


@pytest.mark.parametrize("given", ["2026-13-01", "2026-03-01T00:00:00", "tomorrow", ""])
def test_effective_from_needs_a_date_or_an_offset(given: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_effective_from(given)
    assert failure.value.errors[0].pointer == "/effective_from"
