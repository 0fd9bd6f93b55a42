"""Proration by day: API.md's worked examples, rounding once per line, and the net as a sum of lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.money import Money, minor_units
from billow.domain.periods import BillingCycle, cycle_for
from billow.domain.proration import (
    ProrationFraction,
    ProrationLines,
    prorate,
    proration_fraction,
    proration_lines,
)

D = Decimal


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


# --- API.md worked examples ---------------------------------------------------------------------


def test_mid_period_upgrade_worked_example() -> None:
    """Period Mar 1 - Apr 1, change on Mar 15 from 10.00 to 20.00: 17/31, -5.48 + 10.97 = 5.49."""
    cycle = BillingCycle("month", 1, 1)
    end = date(2026, 4, 1)
    fraction = proration_fraction(date(2026, 3, 15), end, cycle.days_in_period(end))
    assert fraction == ProrationFraction(days_remaining=17, days_in_period=31)
    lines = proration_lines(eur("10.00"), eur("20.00"), fraction)
    assert lines == ProrationLines(credit=eur("-5.48"), charge=eur("10.97"))
    assert lines.net == eur("5.49")
    assert str(lines.net.amount) == "5.49"


def test_trial_then_anchor_worked_example() -> None:
    """Monthly 50.00, anchor day 1, 5-day trial from April 1: the first invoice is 50.00 * 25/30."""
    cycle = cycle_for("month", 1, date(2026, 4, 1), 1)
    paid_from = date(2026, 4, 6)
    end = cycle.first_period_end(paid_from, day_of_month_anchor=True)
    fraction = proration_fraction(paid_from, end, cycle.days_in_period(end))
    assert (fraction.days_remaining, fraction.days_in_period) == (25, 30)
    assert prorate(eur("50.00"), fraction) == eur("41.67")


# --- fraction -----------------------------------------------------------------------------------


def test_fraction_is_clamped_to_the_period() -> None:
    assert proration_fraction(date(2026, 2, 1), date(2026, 4, 1), 31).days_remaining == 31
    assert proration_fraction(date(2026, 4, 1), date(2026, 4, 1), 31).days_remaining == 0
    assert proration_fraction(date(2026, 4, 9), date(2026, 4, 1), 31).days_remaining == 0
    assert proration_fraction(date(2026, 3, 1), date(2026, 4, 1), 31).days_remaining == 31


def test_fraction_needs_a_positive_period() -> None:
    with pytest.raises(ValueError, match="positive"):
        proration_fraction(date(2026, 3, 1), date(2026, 4, 1), 0)
    with pytest.raises(ValueError, match="positive"):
        ProrationFraction(days_remaining=0, days_in_period=-1)
    with pytest.raises(ValueError, match="between"):
        ProrationFraction(days_remaining=32, days_in_period=31)


def test_ratio_is_for_display() -> None:
    assert ProrationFraction(17, 31).ratio == D(17) / D(31)
    assert ProrationFraction(15, 30).ratio == D("0.5")
    assert isinstance(ProrationFraction(1, 3).ratio, Decimal)


# --- prorate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "remaining", "days", "expected"),
    [
        ("1000", "JPY", 17, 31, "548"),  # 548.387...
        ("1500", "JPY", 1, 2, "750"),
        ("15", "JPY", 1, 2, "8"),  # 7.5 rounds half up
        ("10.000", "KWD", 17, 31, "5.484"),  # 5.48387...
        ("1.001", "KWD", 1, 2, "0.501"),  # 0.5005 rounds half up
        ("0.01", "EUR", 1, 2, "0.01"),  # 0.005 rounds half up
        ("-0.01", "EUR", 1, 2, "-0.01"),  # and away from zero when negative
        ("-10.00", "EUR", 17, 31, "-5.48"),
        ("0.00", "EUR", 17, 31, "0.00"),
        ("29.99", "EUR", 0, 31, "0.00"),
        ("29.99", "EUR", 31, 31, "29.99"),
        ("0.123456789012", "EUR", 1, 1, "0.12"),  # unit-price precision in, minor units out
    ],
)
def test_prorate_rounds_once_to_the_minor_unit(
    amount: str, currency: str, remaining: int, days: int, expected: str
) -> None:
    result = prorate(Money.of(amount, currency), ProrationFraction(remaining, days))
    assert result == Money.of(expected, currency)
    assert str(result.amount) == expected  # exactly the currency's minor digits, no -0.00


def test_prorate_multiplies_before_dividing() -> None:
    """0.015 * 1/3 is exactly the tie 0.005. Dividing first would round 1/3 down to 0.333...3 and
    land just below the tie, at 0.00."""
    assert prorate(eur("0.015"), ProrationFraction(1, 3)) == eur("0.01")
    assert prorate(eur("-0.015"), ProrationFraction(1, 3)) == eur("-0.01")
    assert prorate(eur("100.00"), ProrationFraction(1, 3)) == eur("33.33")
    assert prorate(eur("100.00"), ProrationFraction(2, 3)) == eur("66.67")


def test_prorate_handles_the_largest_amounts() -> None:
    huge = Money.of("999999999999999999.999999999999", "EUR")
    assert prorate(huge, ProrationFraction(366, 366)) == Money.of("1000000000000000000.00", "EUR")
    assert prorate(huge, ProrationFraction(1, 3)) == Money.of("333333333333333333.33", "EUR")


CURRENCIES = st.sampled_from(["EUR", "JPY", "KWD", "USD", "BHD", "CLP"])
AMOUNTS = st.decimals(
    min_value=D("-1e12"), max_value=D("1e12"), places=6, allow_nan=False, allow_infinity=False
)


@st.composite
def fractions_(draw: st.DrawFn) -> ProrationFraction:
    days = draw(st.integers(1, 3700))
    return ProrationFraction(draw(st.integers(0, days)), days)


@given(amount=AMOUNTS, currency=CURRENCIES, fraction=fractions_())
def test_prorate_is_within_half_a_minor_unit_of_the_exact_value(
    amount: Decimal, currency: str, fraction: ProrationFraction
) -> None:
    result = prorate(Money(amount, currency), fraction)
    exact = Fraction(amount) * fraction.days_remaining / fraction.days_in_period
    half_unit = Fraction(1, 2 * 10 ** minor_units(currency))
    error = Fraction(result.amount) - exact
    assert abs(error) <= half_unit
    if abs(error) == half_unit:  # a tie went away from zero
        assert abs(Fraction(result.amount)) > abs(exact)
    assert result.amount.as_tuple().exponent == -minor_units(currency)


@given(amount=AMOUNTS, currency=CURRENCIES, fraction=fractions_())
def test_prorate_preserves_sign_symmetrically(
    amount: Decimal, currency: str, fraction: ProrationFraction
) -> None:
    positive = prorate(Money(amount, currency), fraction)
    negative = prorate(Money(-amount, currency), fraction)
    assert negative.amount == -positive.amount
    assert (positive.amount >= 0) == (amount >= 0) or positive.amount == 0


# --- lines --------------------------------------------------------------------------------------


def test_downgrade_nets_negative() -> None:
    """From 30.00 to 12.00 with 10 of 30 days left: credit 10.00, charge 4.00, net -6.00."""
    lines = proration_lines(eur("30.00"), eur("12.00"), ProrationFraction(10, 30))
    assert lines.credit == eur("-10.00")
    assert lines.charge == eur("4.00")
    assert lines.net == eur("-6.00")


def test_upgrade_with_rounding_on_both_lines() -> None:
    """9.99 -> 24.99 with 11 of 31 days left: -3.544... and 8.867... round separately."""
    lines = proration_lines(eur("9.99"), eur("24.99"), ProrationFraction(11, 31))
    assert lines.credit == eur("-3.54")
    assert lines.charge == eur("8.87")
    assert lines.net == eur("5.33")  # not round(15.00 * 11/31) = 5.32


def test_change_on_the_last_day_or_at_the_start() -> None:
    nothing_left = proration_lines(eur("10.00"), eur("20.00"), ProrationFraction(0, 31))
    assert nothing_left == ProrationLines(credit=eur("0.00"), charge=eur("0.00"))
    assert str(nothing_left.credit.amount) == "0.00"  # no negative zero
    whole = proration_lines(eur("10.00"), eur("20.00"), ProrationFraction(31, 31))
    assert whole.net == eur("10.00")


def test_lines_in_zero_and_three_decimal_currencies() -> None:
    yen = proration_lines(Money.of("1000", "JPY"), Money.of("3000", "JPY"), ProrationFraction(17, 31))
    assert (yen.credit, yen.charge, yen.net) == (
        Money.of("-548", "JPY"),
        Money.of("1645", "JPY"),
        Money.of("1097", "JPY"),
    )
    dinar = proration_lines(Money.of("10.000", "KWD"), Money.of("20.000", "KWD"), ProrationFraction(17, 31))
    assert (dinar.credit, dinar.charge) == (Money.of("-5.484", "KWD"), Money.of("10.968", "KWD"))
    assert dinar.net == Money.of("5.484", "KWD")


def test_lines_need_one_currency() -> None:
    with pytest.raises(ValueError, match="EUR against USD"):
        proration_lines(eur("10.00"), Money.of("20.00", "USD"), ProrationFraction(1, 2))


@given(old=AMOUNTS.map(abs), new=AMOUNTS.map(abs), currency=CURRENCIES, fraction=fractions_())
def test_net_is_the_sum_of_the_rounded_lines(
    old: Decimal, new: Decimal, currency: str, fraction: ProrationFraction
) -> None:
    lines = proration_lines(Money(old, currency), Money(new, currency), fraction)
    assert lines.credit == -prorate(Money(old, currency), fraction)
    assert lines.credit.amount <= 0
    assert lines.charge == prorate(Money(new, currency), fraction)
    assert lines.net == lines.credit + lines.charge
    assert lines.net.amount.as_tuple().exponent == -minor_units(currency)
    # Each line is within half a unit, so the net is within one unit of the exact difference.
    exact = (Fraction(new) - Fraction(old)) * fraction.days_remaining / fraction.days_in_period
    assert abs(Fraction(lines.net.amount) - exact) <= Fraction(1, 10 ** minor_units(currency))
