"""Proration by day: a change part-way through a period credits the old price and charges the new
one for the days left, each line rounded once to the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from billow.domain.money import Money

# Enough significant digits that rounding the 50-digit quotient equals rounding the exact one: with
# at most 12 decimals in the amount, a quotient that is not exactly on a rounding tie is at least
# 1 / (2e12 * days_in_period) away from one, far above what 50 digits of an 18-digit amount resolve.
_PRECISION = 50


@dataclass(frozen=True)
class ProrationFraction:
    """The share of a period left after a change: days_remaining / days_in_period."""

    days_remaining: int  # from the change date to the period end
    days_in_period: int  # of the full (nominal) period, even if the actual period is a short first one

    def __post_init__(self) -> None:
        if self.days_in_period <= 0:
            raise ValueError("days_in_period must be positive")
        if not 0 <= self.days_remaining <= self.days_in_period:
            raise ValueError("days_remaining must be between 0 and days_in_period")

    @property
    def ratio(self) -> Decimal:
        """For display only; money is prorated from the two day counts, never from this."""
        return Decimal(self.days_remaining) / Decimal(self.days_in_period)


def proration_fraction(change_day: date, period_end: date, days_in_period: int) -> ProrationFraction:
    """The days from `change_day` to `period_end`, clamped to [0, days_in_period], over the period."""
    if days_in_period <= 0:
        raise ValueError("days_in_period must be positive")
    remaining = min(max((period_end - change_day).days, 0), days_in_period)
    return ProrationFraction(days_remaining=remaining, days_in_period=days_in_period)


def prorate(amount: Money, fraction: ProrationFraction) -> Money:
    """amount * days_remaining / days_in_period, rounded once half-up to the minor unit.

    Multiplying before dividing keeps the only inexact step at 50 digits; half-up rounds ties away
    from zero, so prorate(-x) == -prorate(x).
    """
    with localcontext() as context:
        context.prec = _PRECISION
        exact = amount.amount * fraction.days_remaining / fraction.days_in_period
        return Money(exact, amount.currency).rounded()


@dataclass(frozen=True)
class ProrationLines:
    """The two invoice lines of a mid-period change; the net is their sum, not a re-rounded total."""

    credit: Money  # the unused part of the old amount, negative
    charge: Money  # the new amount for the rest of the period

    @property
    def net(self) -> Money:
        return self.credit + self.charge


def proration_lines(old: Money, new: Money, fraction: ProrationFraction) -> ProrationLines:
    """Credit the old amount and charge the new one for the remaining share of the period."""
    if old.currency != new.currency:
        raise ValueError(f"cannot prorate {old.currency} against {new.currency}")
    # Prorating the negated amount rounds like negating the prorated one (half-up is symmetric) and
    # gives a plain 0.00 rather than -0.00 when nothing is left.
    return ProrationLines(credit=prorate(-old, fraction), charge=prorate(new, fraction))
