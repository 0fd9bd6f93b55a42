"""Reference rates: cross rates through the base currency, their precision, and which
publication applies on a date (weekends and TARGET holidays take the previous one)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billow.domain.errors import NotFound, ValidationFailed
from billow.domain.reference_rates import (
    CROSS_RATE_DIGITS,
    NoRatesForDate,
    ReferenceRates,
    UnknownCurrency,
    rates_on,
)

# The ECB's publication of Friday 28 June 2024 (a few of its rates).
JUNE_28 = ReferenceRates(
    source="ecb",
    rate_date=date(2024, 6, 28),
    base="EUR",
    rates={"USD": Decimal("1.0705"), "JPY": Decimal("171.94"), "GBP": Decimal("0.84638")},
)


def publication(day: date, usd: str = "1.07") -> ReferenceRates:
    return ReferenceRates("ecb", day, "EUR", {"USD": Decimal(usd)})


# -- cross rates ----------------------------------------------------------------------------


def test_from_the_base_a_rate_is_the_published_quote_unrounded() -> None:
    assert JUNE_28.rate("EUR", "USD") == Decimal("1.0705")
    assert JUNE_28.rate("EUR", "JPY") == Decimal("171.94")
    assert str(JUNE_28.rate("EUR", "GBP")) == "0.84638"


def test_into_the_base_a_rate_is_the_inverse_to_ten_significant_digits() -> None:
    # 1 / 1.0705 = 0.934142923867…
    assert JUNE_28.rate("USD", "EUR") == Decimal("0.9341429239")


def test_between_two_quoted_currencies_a_rate_goes_through_the_base() -> None:
    # USD → GBP = 0.84638 / 1.0705 = 0.790639887902…
    assert JUNE_28.rate("USD", "GBP") == Decimal("0.7906398879")
    # GBP → JPY = 171.94 / 0.84638 = 203.147522389…
    assert JUNE_28.rate("GBP", "JPY") == Decimal("203.1475224")


def test_a_computed_rate_carries_exactly_ten_significant_digits() -> None:
    thirds = ReferenceRates("ecb", date(2024, 6, 28), "EUR", {"XXA": Decimal(3)})
    assert CROSS_RATE_DIGITS == 10
    assert thirds.rate("XXA", "EUR") == Decimal("0.3333333333")
    assert len(thirds.rate("XXA", "EUR").as_tuple().digits) == 10


def test_computed_rates_round_half_to_even() -> None:
    # BBB → ... : 2.000000001 / 2 = 1.0000000005 exactly, a tie at the 11th digit.
    tie = ReferenceRates("ecb", date(2024, 6, 28), "EUR", {"AAA": Decimal(2), "BBB": Decimal("2.000000001")})
    assert tie.rate("AAA", "BBB") == Decimal("1.000000000")  # half-up would give 1.000000001
    odd = ReferenceRates("ecb", date(2024, 6, 28), "EUR", {"AAA": Decimal(2), "BBB": Decimal("2.000000003")})
    assert odd.rate("AAA", "BBB") == Decimal("1.000000002")  # 1.0000000015 → even neighbour


def test_a_currency_to_itself_is_one() -> None:
    assert JUNE_28.rate("EUR", "EUR") == 1
    assert JUNE_28.rate("USD", "USD") == 1


def test_a_rate_and_its_inverse_multiply_to_one_within_the_precision() -> None:
    product = JUNE_28.rate("EUR", "USD") * JUNE_28.rate("USD", "EUR")
    assert abs(product - 1) < Decimal("1e-9")


def test_an_unknown_currency_is_a_clear_domain_error() -> None:
    with pytest.raises(UnknownCurrency) as raised:
        JUNE_28.rate("EUR", "XYZ")
    assert isinstance(raised.value, ValidationFailed)
    assert raised.value.code == "validation_failed"
    assert "XYZ" in raised.value.detail
    assert "2024-06-28" in raised.value.detail
    with pytest.raises(UnknownCurrency):
        JUNE_28.rate("XYZ", "EUR")
    with pytest.raises(UnknownCurrency):
        JUNE_28.rate("XYZ", "XYZ")  # even to itself: the publication does not know it


def test_the_currencies_include_the_base() -> None:
    assert JUNE_28.currencies == {"EUR", "USD", "JPY", "GBP"}


# -- what a publication may hold -------------------------------------------------------------


@pytest.mark.parametrize(
    "rates",
    [
        {"USD": Decimal(0)},
        {"USD": Decimal(-1)},
        {"USD": Decimal("NaN")},
        {"USD": Decimal("Infinity")},
        {"USD": 1.07},
        {"usd": Decimal("1.07")},
        {"EUR": Decimal(1)},
    ],
)
def test_a_publication_refuses_rates_that_are_not_positive_decimals_of_other_currencies(
    rates: dict[str, object],
) -> None:
    with pytest.raises(ValueError, match=r"rate|currency|base"):
        ReferenceRates("ecb", date(2024, 6, 28), "EUR", rates)  # type: ignore[arg-type]


def test_a_publication_needs_a_source_and_a_proper_base() -> None:
    with pytest.raises(ValueError, match="source"):
        ReferenceRates("", date(2024, 6, 28), "EUR", {})
    with pytest.raises(ValueError, match="base"):
        ReferenceRates("ecb", date(2024, 6, 28), "euro", {})


def test_the_rates_of_a_publication_cannot_be_changed() -> None:
    source = {"USD": Decimal("1.0705")}
    published = ReferenceRates("ecb", date(2024, 6, 28), "EUR", source)
    source["USD"] = Decimal(2)
    assert published.rate("EUR", "USD") == Decimal("1.0705")
    with pytest.raises(TypeError):
        published.rates["USD"] = Decimal(2)  # type: ignore[index]


# -- which publication applies ----------------------------------------------------------------

# Thursday 28 March 2024, then Good Friday and Easter Monday (TARGET holidays), then Tuesday.
EASTER = [
    publication(date(2024, 3, 27), "1.0830"),
    publication(date(2024, 3, 28), "1.0811"),
    publication(date(2024, 4, 2), "1.0745"),
]


def test_a_publication_day_takes_its_own_rates() -> None:
    assert rates_on(EASTER, date(2024, 3, 27)).rate_date == date(2024, 3, 27)
    assert rates_on(EASTER, date(2024, 4, 2)).rate_date == date(2024, 4, 2)


def test_a_weekend_takes_the_fridays_rates() -> None:
    week = [publication(date(2024, 6, 27)), publication(date(2024, 6, 28)), publication(date(2024, 7, 1))]
    assert rates_on(week, date(2024, 6, 29)).rate_date == date(2024, 6, 28)
    assert rates_on(week, date(2024, 6, 30)).rate_date == date(2024, 6, 28)


def test_target_holidays_take_the_previous_publication() -> None:
    for holiday in (date(2024, 3, 29), date(2024, 3, 30), date(2024, 3, 31), date(2024, 4, 1)):
        assert rates_on(EASTER, holiday).rate_date == date(2024, 3, 28), holiday


def test_the_order_of_the_publications_does_not_matter() -> None:
    assert rates_on(reversed(EASTER), date(2024, 4, 1)).rate_date == date(2024, 3, 28)


def test_a_date_older_than_the_oldest_held_is_refused() -> None:
    with pytest.raises(NoRatesForDate) as raised:
        rates_on(EASTER, date(2024, 3, 26))
    assert isinstance(raised.value, NotFound)
    assert "2024-03-27" in raised.value.detail


def test_no_publications_at_all_is_refused() -> None:
    with pytest.raises(NoRatesForDate):
        rates_on([], date(2024, 3, 28))


def test_a_date_far_past_the_newest_is_refused_when_a_max_age_is_given() -> None:
    assert rates_on(EASTER, date(2024, 5, 1)).rate_date == date(2024, 4, 2)  # no limit by default
    assert rates_on(EASTER, date(2024, 4, 1), max_age=timedelta(days=4)).rate_date == date(2024, 3, 28)
    with pytest.raises(NoRatesForDate, match="more than 4 days"):
        rates_on(EASTER, date(2024, 4, 7), max_age=timedelta(days=4))
