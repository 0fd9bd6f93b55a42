"""FX rules without storage: the markup's direction and arithmetic, rounding once, which rate wins
(same currency, an override, the publication of the date or the one before it), validation with
JSON pointers, overlapping overrides, and when the ECB's next publication is due."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.errors import Conflict, ValidationFailed
from billow.domain.fx import (
    BUILTIN_FX_POLICY,
    DEFAULT_FX_ATTACHMENT,
    CurrencyPair,
    FxOverride,
    FxPolicy,
    FxRateUnavailable,
    OverrideSpan,
    PinnedRate,
    applied_rate,
    check_no_overlap,
    choose_rate,
    expected_publication,
    fx_attachment_moves,
    fx_override_from_dict,
    fx_override_to_dict,
    fx_policy_from_dict,
    fx_policy_to_dict,
    is_target_holiday,
    pair_attachment,
    parse_override_fields,
    parse_policy_fields,
    plain,
    rates_to_dict,
    same_currency_pin,
)
from billow.domain.money import Money
from billow.domain.reference_rates import ReferenceRates

FRIDAY = date(2024, 6, 28)
SATURDAY = date(2024, 6, 29)
MONDAY = date(2024, 7, 1)
NOW = "2024-07-01T12:00:00Z"


def publication(day: date = FRIDAY, **rates: str) -> ReferenceRates:
    quoted = rates or {"USD": "1.0705", "JPY": "171.94", "GBP": "0.84638"}
    return ReferenceRates("ecb", day, "EUR", {code: Decimal(rate) for code, rate in quoted.items()})


def policy(markup: str = "0", **changes: Any) -> FxPolicy:
    made = FxPolicy(
        id="0190a000-0000-7000-8000-000000000001",
        livemode=False,
        name="Standard",
        created_at=NOW,
        updated_at=NOW,
        markup_percent=Decimal(markup),
    )
    return replace(made, **changes)


def override(rate: str = "0.95", start: date = date(2024, 6, 1), end: date | None = None) -> FxOverride:
    return FxOverride(
        id="0190a000-0000-7000-8000-0000000000aa",
        livemode=False,
        base_currency="USD",
        quote_currency="EUR",
        rate=Decimal(rate),
        valid_from=start,
        valid_to=end,
        created_at=NOW,
        updated_at=NOW,
    )


def pointers(failure: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [error.pointer for error in failure.value.errors]


# --- the markup and converting -----------------------------------------------------------------


def test_the_markup_raises_the_rate_against_the_customer() -> None:
    # 100.00 USD at 0.9 EUR per USD is 90.00 EUR; with 2 % the customer pays 91.80 EUR.
    assert applied_rate(Decimal("0.9"), Decimal("2")) == Decimal("0.918")
    pinned = PinnedRate("USD", "EUR", Decimal("0.918"), Decimal("0.9"), Decimal("2"), "ecb", FRIDAY)
    assert pinned.convert(Money.of("100.00", "USD")) == Money.of("91.80", "EUR")
    assert applied_rate(Decimal("1.0705"), Decimal("0")) == Decimal("1.0705")
    assert applied_rate(Decimal("1.0705"), Decimal("1.5")) == Decimal("1.0865575")  # exact


def test_convert_rounds_half_up_once_to_the_quote_currencys_minor_unit() -> None:
    pinned = PinnedRate("EUR", "JPY", Decimal("50"), Decimal("50"), Decimal("0"), "ecb", FRIDAY)
    assert pinned.convert(Money.of("0.05", "EUR")) == Money.of("3", "JPY")  # 2.5 -> 3, not 2
    to_kwd = PinnedRate("EUR", "KWD", Decimal("0.3285"), Decimal("0.3285"), Decimal("0"), "ecb", FRIDAY)
    assert to_kwd.convert(Money.of("10.00", "EUR")) == Money.of("3.285", "KWD")
    with pytest.raises(ValueError, match="converts EUR, not USD"):
        pinned.convert(Money.of("1.00", "USD"))


@given(
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2),
    reference=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("20000"), places=4),
    markup=st.decimals(min_value=Decimal("0"), max_value=Decimal("10"), places=4),
)
def test_a_markup_never_lowers_what_the_customer_pays(
    amount: Decimal, reference: Decimal, markup: Decimal
) -> None:
    plain_rate = PinnedRate("USD", "EUR", reference, reference, Decimal(0), "ecb", FRIDAY)
    marked = PinnedRate("USD", "EUR", applied_rate(reference, markup), reference, markup, "ecb", FRIDAY)
    converted = marked.convert(Money(amount, "USD"))
    assert converted.amount >= plain_rate.convert(Money(amount, "USD")).amount
    exact = amount * reference * (1 + markup / 100)
    assert converted.amount == exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_the_pinned_rate_keeps_the_invoice_fx_keys_and_reads_back() -> None:
    old_shape = {
        "base_currency": "EUR",
        "quote_currency": "EUR",
        "rate": "1",
        "source": "same_currency",
        "date": "2024-06-28",
    }
    pinned = same_currency_pin("EUR", FRIDAY)
    shown = pinned.to_dict()
    assert {key: shown[key] for key in old_shape} == old_shape
    assert shown["reference_rate"] == "1"
    assert shown["markup_percent"] == "0"
    assert shown["policy_id"] is None
    assert PinnedRate.from_dict(old_shape) == pinned
    marked = PinnedRate(
        "USD", "EUR", Decimal("0.952825782378"), Decimal("0.9341429239"), Decimal("2"), "ecb", FRIDAY, "p1"
    )
    assert PinnedRate.from_dict(marked.to_dict()) == marked
    assert marked.to_dict()["rate"] == "0.952825782378"


def test_plain_writes_no_exponent_and_no_trailing_zeros() -> None:
    assert [plain(Decimal(v)) for v in ("100", "1.50", "0.0000", "1E+3", "-0")] == [
        "100",
        "1.5",
        "0",
        "1000",
        "0",
    ]


# --- which rate ----------------------------------------------------------------------------------


def test_the_same_currency_converts_at_one_whatever_the_data() -> None:
    pinned = choose_rate("EUR", "EUR", SATURDAY, policy=policy("5"), publication=None)
    assert (pinned.rate, pinned.source, pinned.rate_date, pinned.markup_percent) == (
        Decimal(1),
        "same_currency",
        SATURDAY,
        Decimal(0),
    )


def test_a_weekend_takes_fridays_publication_with_the_markup() -> None:
    pinned = choose_rate("EUR", "USD", SATURDAY, policy=policy("1.5"), publication=publication())
    assert pinned.rate_date == FRIDAY
    assert (pinned.reference_rate, pinned.rate, pinned.source) == (
        Decimal("1.0705"),
        Decimal("1.0865575"),
        "ecb",
    )
    assert pinned.policy_id == policy().id
    # A cross rate through the euro: USD -> GBP = GBP per EUR / USD per EUR (10 digits).
    cross = choose_rate("USD", "GBP", SATURDAY, policy=BUILTIN_FX_POLICY, publication=publication())
    assert cross.rate == cross.reference_rate == Decimal("0.7906398879")
    assert cross.policy_id is None


def test_an_override_covering_the_date_wins_and_is_used_as_it_is() -> None:
    chosen = choose_rate(
        "USD",
        "EUR",
        FRIDAY,
        policy=policy("2"),
        overrides=[override(end=date(2024, 6, 30))],
        publication=publication(),
    )
    assert (chosen.source, chosen.rate, chosen.reference_rate, chosen.markup_percent) == (
        "override",
        Decimal("0.95"),
        Decimal("0.95"),
        Decimal(0),
    )
    assert chosen.override_id == override().id
    assert chosen.rate_date == FRIDAY
    after = choose_rate(
        "USD",
        "EUR",
        MONDAY,
        policy=policy("2"),
        overrides=[override(end=date(2024, 6, 30))],
        publication=publication(MONDAY),
    )
    assert after.source == "ecb"
    other_pair = choose_rate(
        "EUR", "USD", FRIDAY, policy=policy(), overrides=[override()], publication=publication()
    )
    assert other_pair.source == "ecb"  # an override is for its own direction only


@pytest.mark.parametrize(
    ("on", "held", "quote"),
    [
        (FRIDAY, None, "USD"),  # nothing held
        (date(2024, 6, 1), publication(), "USD"),  # before the oldest publication held
        (FRIDAY + timedelta(days=8), publication(), "USD"),  # the newest held is too old for it
        (FRIDAY, publication(), "ARS"),  # a currency the ECB does not quote
    ],
)
def test_no_rate_for_the_date_is_a_clear_422(on: date, held: ReferenceRates | None, quote: str) -> None:
    with pytest.raises(FxRateUnavailable) as failure:
        choose_rate("EUR", quote, on, policy=policy(), publication=held)
    assert (failure.value.code, failure.value.status) == ("fx_rate_unavailable", 422)


def test_the_rates_view_from_another_base() -> None:
    view = rates_to_dict(publication(), "USD", requested=SATURDAY)
    assert view["date"] == "2024-06-28"
    assert view["requested_date"] == "2024-06-29"
    assert view["rates"]["EUR"] == "0.9341429239"
    assert set(view["rates"]) == {"EUR", "JPY", "GBP"}
    assert rates_to_dict(publication(), "EUR", "USD")["rates"] == {"USD": "1.0705"}
    with pytest.raises(FxRateUnavailable):
        rates_to_dict(publication(), "EUR", "XYZ")


# --- policies ----------------------------------------------------------------------------------


def test_policy_fields_are_checked_with_every_violation_pointed_at() -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_policy_fields(
            {
                "name": " ",
                "rate_date": "due_date",
                "markup_percent": "10.5",
                "applies_to": {
                    "currency_pairs": [
                        {"base_currency": "EUR", "quote_currency": "EUR"},
                        {"base_currency": "USD", "quote_currency": "EUR"},
                        {"base_currency": "USD", "quote_currency": "EUR"},
                        {"base_currency": "XXX", "quote_currency": "EUR"},
                    ]
                },
            },
            creating=True,
        )
    assert failure.value.code == "validation_failed"
    assert pointers(failure) == [
        "/name",
        "/rate_date",
        "/markup_percent",
        "/applies_to/currency_pairs/0",
        "/applies_to/currency_pairs/2",
        "/applies_to/currency_pairs/3/base_currency",
    ]


@pytest.mark.parametrize("markup", [1.5, "1.23456", "-1", "1e1", "abc", "10.0001"])
def test_a_markup_is_a_decimal_string_0_to_10_with_4_decimals(markup: Any) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_policy_fields({"markup_percent": markup}, creating=False)
    assert pointers(failure) == ["/markup_percent"]


def test_policy_fields_parse_into_the_policy() -> None:
    fields = parse_policy_fields(
        {
            "name": "  Card markup ",
            "rate_date": "period_end",
            "markup_percent": "2.2500",
            "applies_to": {"currency_pairs": [{"base_currency": "USD", "quote_currency": "EUR"}]},
            "is_default": True,
        },
        creating=True,
    )
    assert fields == {
        "name": "Card markup",
        "rate_date": "period_end",
        "markup_percent": Decimal("2.2500"),
        "currency_pairs": (CurrencyPair("USD", "EUR"),),
        "is_default": True,
    }
    made = policy(**{k: v for k, v in fields.items() if k != "markup_percent"})
    shown = fx_policy_to_dict(made)
    assert shown["applies_to"] == {"currency_pairs": [{"base_currency": "USD", "quote_currency": "EUR"}]}
    assert fx_policy_from_dict(shown) == made
    assert made.rate_date_for(MONDAY, FRIDAY) == FRIDAY
    assert policy().rate_date_for(MONDAY, FRIDAY) == MONDAY


def test_archiving_releases_the_pairs_and_the_default() -> None:
    held = policy(is_default=True, currency_pairs=(CurrencyPair("USD", "EUR"),))
    assert held.attachments() == {DEFAULT_FX_ATTACHMENT, pair_attachment("USD", "EUR")}
    archived = held.archive("2024-07-02T00:00:00Z")
    assert archived.attachments() == frozenset()
    assert archived.version == 2
    assert fx_attachment_moves([(held, archived)]) == [
        (DEFAULT_FX_ATTACHMENT, held.id, None),
        (pair_attachment("USD", "EUR"), held.id, None),
    ]


# --- overrides ---------------------------------------------------------------------------------


def test_override_fields_are_checked_with_pointers() -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_override_fields(
            {
                "base_currency": "USD",
                "quote_currency": "USD",
                "rate": "0",
                "valid_from": "2024-02-30",
                "valid_to": None,
            }
        )
    assert pointers(failure) == ["/rate", "/valid_from", "/quote_currency"]
    with pytest.raises(ValidationFailed) as failure:
        parse_override_fields(
            {
                "base_currency": "USD",
                "quote_currency": "EUR",
                "rate": 0.95,
                "valid_from": "2024-06-10",
                "valid_to": "2024-06-01",
            }
        )
    assert pointers(failure) == ["/rate", "/valid_to"]
    fields = parse_override_fields(
        {"base_currency": "USD", "quote_currency": "EUR", "rate": "0.950000", "valid_from": "2024-06-01"}
    )
    assert fields["rate"] == Decimal("0.950000")
    assert fields["valid_to"] is None


def test_two_overrides_of_a_pair_never_share_a_day() -> None:
    pair = CurrencyPair("USD", "EUR")
    june = OverrideSpan("a", date(2024, 6, 1), date(2024, 6, 30))
    check_no_overlap(OverrideSpan("b", date(2024, 7, 1), None), pair, [june])  # adjacent is fine
    for clash in (
        OverrideSpan("b", date(2024, 6, 30), date(2024, 7, 5)),
        OverrideSpan("b", date(2024, 5, 1), None),
        OverrideSpan("b", date(2024, 6, 10), date(2024, 6, 11)),
    ):
        with pytest.raises(Conflict, match="already sets USD:EUR"):
            check_no_overlap(clash, pair, [june])
    open_ended = OverrideSpan("a", date(2024, 6, 1), None)
    with pytest.raises(Conflict):
        check_no_overlap(OverrideSpan("b", date(2030, 1, 1), date(2030, 1, 2)), pair, [open_ended])


def test_an_override_reads_back() -> None:
    made = override(end=date(2024, 6, 30))
    assert fx_override_from_dict(fx_override_to_dict(made)) == made
    assert made.covers(date(2024, 6, 30))
    assert not made.covers(date(2024, 7, 1))


# --- when the ECB publishes ----------------------------------------------------------------------


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("Europe/Berlin"))


def test_the_publication_expected_by_a_moment() -> None:
    assert expected_publication(berlin(MONDAY, 16, 30)) == MONDAY
    assert expected_publication(berlin(MONDAY, 15, 59)) == FRIDAY  # not out yet: the previous one
    assert expected_publication(berlin(SATURDAY, 12)) == FRIDAY
    assert expected_publication(datetime(2024, 7, 1, 14, 30, tzinfo=UTC)) == MONDAY  # 16:30 CEST
    # Easter 2026: Good Friday 3 April and Easter Monday 6 April are TARGET holidays.
    assert expected_publication(berlin(date(2026, 4, 6), 18)) == date(2026, 4, 2)
    assert expected_publication(berlin(date(2026, 1, 1), 18)) == date(2025, 12, 31)


@pytest.mark.parametrize(
    ("day", "closed"),
    [
        (date(2024, 3, 29), True),
        (date(2024, 4, 1), True),
        (date(2025, 4, 18), True),
        (date(2025, 4, 21), True),
        (date(2025, 5, 1), True),
        (date(2025, 12, 26), True),
        (date(2025, 12, 24), False),
        (date(2025, 4, 22), False),
    ],
)
def test_target_holidays(day: date, closed: bool) -> None:
    assert is_target_holiday(day) is closed
