"""Converting an invoice into the currency its customer is billed in (docs/fx.md): every line
recomputed from its source amount and rounded once, half-up, to the cent; the markup against
the customer; the rate date of a ``period_end`` policy; the source amounts kept in the record."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.errors import InvalidStateTransition
from billow.domain.fx import FxPolicy, PinnedRate, applied_rate, choose_rate
from billow.domain.invoice import (
    Invoice,
    InvoiceLine,
    converted_unit_amount,
    fx_period_end,
    invoice_from_dict,
    invoice_to_dict,
    invoice_to_record,
)
from billow.domain.money import Money
from billow.domain.reference_rates import ReferenceRates

NOW = "2026-07-10T10:00:00Z"
JULY_10, JULY_31 = date(2026, 7, 10), date(2026, 7, 31)


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def rate(reference: str, markup: str = "0", on: date = JULY_10) -> PinnedRate:
    """EUR -> USD, ``reference`` USD for one EUR, raised by ``markup`` percent."""
    ref, up = Decimal(reference), Decimal(markup)
    return PinnedRate("EUR", "USD", applied_rate(ref, up), ref, up, "ecb", on)


def line(line_id: str, amount: Money, **extra: Any) -> InvoiceLine:
    fields: dict[str, Any] = {"kind": "recurring", "quantity": Decimal(1), **extra}
    return InvoiceLine(id=line_id, description=f"Line {line_id}", amount=amount, **fields)


def draft(*lines: InvoiceLine, **extra: Any) -> Invoice:
    return Invoice(
        id="inv-1",
        livemode=False,
        customer_id="cus-1",
        currency="EUR",
        type="subscription",
        billing_reason="subscription_create",
        lines=lines,
        created_at=NOW,
        updated_at=NOW,
        subscription_id="sub-1",
        period_start="2026-07-10T00:00:00Z",
        period_end="2026-08-10T00:00:00Z",
        **extra,
    )


# --- the arithmetic ------------------------------------------------------------------------------


def test_each_line_is_converted_to_the_exact_cent_rounding_half_up_once() -> None:
    invoice = draft(
        line("a", eur("10.00")), line("b", eur("29.00")), line("c", eur("-4.99"), reason="goodwill")
    )

    converted = invoice.converted(rate("1.1725"))

    # 11.725 -> 11.73 (half-up, not to even); 34.0025 -> 34.00; -5.850775 -> -5.85
    assert [ln.amount for ln in converted.lines] == [usd("11.73"), usd("34.00"), usd("-5.85")]
    assert [ln.source_amount for ln in converted.lines] == [eur("10.00"), eur("29.00"), eur("-4.99")]
    assert (converted.currency, converted.source_currency) == ("USD", "EUR")
    # The subtotal is the sum of the rounded lines, not the converted sum of the source lines.
    assert converted.subtotal == usd("39.88")
    assert (eur("34.01").amount * Decimal("1.1725")).quantize(Decimal("0.01")) == Decimal("39.88")


def test_the_markup_works_against_the_customer() -> None:
    invoice = draft(line("a", eur("100.00")))

    plain = invoice.converted(rate("1.1725")).lines[0].amount
    marked = invoice.converted(rate("1.1725", "2")).lines[0].amount

    assert plain == usd("117.25")
    assert marked == usd("119.60")  # 100.00 x 1.1725 x 1.02 = 119.595 -> 119.60
    assert marked.amount > plain.amount


@given(
    amount=st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2),
    provisional=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("200"), places=4),
    final=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("200"), places=4),
    markup=st.decimals(min_value=Decimal("0"), max_value=Decimal("10"), places=4),
)
def test_finalizing_recomputes_from_the_source_amount_never_from_the_provisional_one(
    amount: Decimal, provisional: Decimal, final: Decimal, markup: Decimal
) -> None:
    source = eur(str(amount))
    drafted = draft(line("a", source)).converted(rate(str(provisional)))
    pinned = rate(str(final), str(markup))

    finalized = drafted.converted(pinned).lines[0]

    exact = amount * final * (1 + markup / 100)
    assert finalized.amount == Money(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "USD").rounded()
    assert finalized.source_amount == source
    # Converting again at the same rate changes nothing.
    assert drafted.converted(pinned).converted(pinned).lines == drafted.converted(pinned).lines


def test_a_currency_without_cents_rounds_to_whole_units() -> None:
    to_jpy = PinnedRate("EUR", "JPY", Decimal("171.94"), Decimal("171.94"), Decimal(0), "ecb", JULY_10)
    converted = draft(line("a", eur("0.25")), line("b", eur("12.34"))).converted(to_jpy)
    # 42.985 -> 43; 2121.7396 -> 2122
    assert [ln.amount for ln in converted.lines] == [Money.of("43", "JPY"), Money.of("2122", "JPY")]


def test_unit_amounts_are_converted_to_twelve_decimals_and_kept_in_the_source() -> None:
    priced = line("a", eur("3.70"), unit_amount=Decimal("0.123456789012"), quantity=Decimal(30))
    once = draft(priced).converted(rate("1.1725")).lines[0]
    twice = draft(priced).converted(rate("1.2")).converted(rate("1.1725")).lines[0]

    assert once.unit_amount == Decimal("0.144753085117")  # 0.14475308511657, half-up at 12
    assert once.source_unit_amount == Decimal("0.123456789012")
    assert twice == once
    assert converted_unit_amount(Decimal("10.00"), Decimal("10")) == Decimal("100")
    assert str(converted_unit_amount(Decimal("10.00"), Decimal("10"))) == "100"
    assert str(converted_unit_amount(Decimal("2.50"), Decimal("1.1"))) == "2.75"


def test_a_line_added_in_the_invoices_currency_stays_as_it_is() -> None:
    converted = draft(line("a", eur("10.00"))).converted(rate("1.1"))
    by_hand = line("m", usd("5.00"), manual=True, kind="one_off", unit_amount=Decimal("5.00"))
    with_manual = replace(converted, lines=(*converted.lines, by_hand))

    final = with_manual.converted(rate("1.2"))

    assert final.lines[1] == by_hand
    assert final.lines[0].amount == usd("12.00")
    assert final.subtotal == usd("17.00")


def test_conversion_refuses_another_pair_and_finalized_invoices() -> None:
    converted = draft(line("a", eur("10.00"))).converted(rate("1.1"))
    to_gbp = PinnedRate("EUR", "GBP", Decimal("0.86"), Decimal("0.86"), Decimal(0), "ecb", JULY_10)
    from_gbp = PinnedRate("GBP", "USD", Decimal("1.3"), Decimal("1.3"), Decimal(0), "ecb", JULY_10)
    with pytest.raises(ValueError, match="converts EUR into USD"):
        converted.converted(to_gbp)
    with pytest.raises(ValueError, match="converts EUR into EUR, not GBP"):
        draft(line("a", eur("10.00"))).converted(from_gbp)
    with pytest.raises(InvalidStateTransition):
        replace(converted, status="finalized").converted(rate("1.1"))
    same = PinnedRate("EUR", "EUR", Decimal(1), Decimal(1), Decimal(0), "same_currency", JULY_10)
    assert draft(line("a", eur("10.00"))).converted(same) == draft(line("a", eur("10.00")))


def test_source_amounts_are_stored_and_old_records_still_load() -> None:
    converted = draft(line("a", eur("10.00"), unit_amount=Decimal("10.00"))).converted(rate("1.1725", "2"))
    record = invoice_to_record(converted)

    assert record["source_currency"] == "EUR"
    assert record["lines"][0]["source_amount"] == {"amount": "10.00", "currency": "EUR"}
    assert record["lines"][0]["source_unit_amount"] == "10.00"
    assert record["lines"][0]["amount"] == {"amount": "11.96", "currency": "USD"}
    assert invoice_from_dict(record) == converted

    old = invoice_to_dict(draft(line("a", eur("10.00"))))
    del old["source_currency"]
    for entry in old["lines"]:
        del entry["source_amount"], entry["source_unit_amount"]
    loaded = invoice_from_dict(old)
    assert loaded.source_currency is None
    assert loaded.lines[0].source_amount is None
    assert loaded == draft(line("a", eur("10.00")))


# --- which date's rate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period_end", "timezone", "on", "expected"),
    [
        # A period ends at the first instant after it: its last day is the day before.
        ("2026-08-01T00:00:00Z", "UTC", date(2026, 8, 3), JULY_31),
        # Midnight in Berlin is 22:00 UTC the day before in summer.
        ("2026-07-31T22:00:00Z", "Europe/Berlin", date(2026, 8, 3), JULY_31),
        # A period cut during a day (a cancellation at 10:00) ends on that day.
        ("2026-07-31T10:00:00Z", "UTC", date(2026, 8, 3), JULY_31),
        # A period that ends after the invoice's date (billed in advance): the invoice's date.
        ("2026-08-10T00:00:00Z", "UTC", JULY_10, JULY_10),
        (None, "UTC", JULY_10, None),
    ],
)
def test_the_period_end_a_policy_may_take_its_rate_of(
    period_end: str | None, timezone: str, on: date, expected: date | None
) -> None:
    assert fx_period_end(period_end, timezone, on) == expected


def test_a_period_end_policy_converts_at_the_periods_last_day_an_invoice_date_policy_at_its_date() -> None:
    july_31 = ReferenceRates("ecb", JULY_31, "EUR", {"USD": Decimal("1.1600")})
    august_3 = ReferenceRates("ecb", date(2026, 8, 3), "EUR", {"USD": Decimal("1.1800")})
    held = {JULY_31: july_31, date(2026, 8, 3): august_3}
    by_period_end = FxPolicy(
        id="p1", livemode=False, name="Month end", created_at=NOW, updated_at=NOW, rate_date="period_end"
    )
    by_invoice_date = replace(by_period_end, id="p2", rate_date="invoice_date", markup_percent=Decimal("1.5"))
    invoice = replace(
        draft(line("a", eur("250.00"))),
        billing_reason="subscription_end",
        period_start="2026-07-01T00:00:00Z",
        period_end="2026-08-01T00:00:00Z",
    )
    finalized_on = date(2026, 8, 3)

    pinned = {}
    for policy in (by_period_end, by_invoice_date):
        day = policy.rate_date_for(finalized_on, fx_period_end(invoice.period_end, "UTC", finalized_on))
        pinned[policy.id] = choose_rate("EUR", "USD", day, policy=policy, publication=held[day])

    assert pinned["p1"].rate_date == JULY_31
    assert invoice.converted(pinned["p1"]).lines[0].amount == usd("290.00")  # 250 x 1.16
    assert pinned["p2"].rate_date == finalized_on
    assert pinned["p2"].rate == Decimal("1.1977")  # 1.18 x 1.015
    assert invoice.converted(pinned["p2"]).lines[0].amount == usd("299.43")  # 299.425 -> .43
