"""Reference exchange rates as a central bank publishes them: one publication per date, every
rate quoted against one base currency.

The ECB's euro foreign exchange reference rates are the model: base EUR, each rate the units
of a currency per 1 EUR (``USD 1.0705`` means 1 EUR = 1.0705 USD), published around 16:00 CET
on TARGET working days only. There is no publication on weekends or on TARGET holidays (New
Year's Day, Good Friday, Easter Monday, 1 May, 25 and 26 December), so the rate *for* such a
day is the previous publication's (``rates_on``).

Cross rates (``ReferenceRates.rate``):

- base → X is ``rates[X]``, exactly as published (no rounding);
- X → base is ``1 / rates[X]``;
- X → Y is ``rates[Y] / rates[X]``;
- X → X is 1.

A computed rate (an inverse or a cross) is rounded once to ``CROSS_RATE_DIGITS`` (10)
significant digits, ROUND_HALF_EVEN. The ECB publishes five significant digits, so the rounding
adds nothing measurable to the source's own precision, and a rate never carries an unbounded
expansion (1/3 would otherwise be as long as the context allows). Rounding amounts converted
with a rate is the caller's business (Money's minor units).

Pure: no clock and no I/O; the adapters (``billow.adapters.fx``) fetch publications.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from types import MappingProxyType

from billow.domain.errors import NotFound, ValidationFailed

CROSS_RATE_DIGITS = 10
_CROSS_CONTEXT = Context(prec=CROSS_RATE_DIGITS, rounding=ROUND_HALF_EVEN)
_CURRENCY = re.compile(r"[A-Z]{3}")


class UnknownCurrency(ValidationFailed):
    """A rate was asked for a currency the publication does not quote (code ``validation_failed``)."""


class NoRatesForDate(NotFound):
    """No publication covers the date: it is older than the oldest held, or the newest held is
    too old for it (code ``not_found``)."""


def _check_currency(code: str, what: str) -> None:
    if not isinstance(code, str) or not _CURRENCY.fullmatch(code):
        raise ValueError(f"{what} must be an ISO 4217 code of three capital letters, not {code!r}")


@dataclass(frozen=True)
class ReferenceRates:
    """One publication: ``rates[X]`` is the units of X per 1 unit of ``base`` on ``rate_date``.

    The base currency itself is not a key of ``rates`` (its rate is 1 by definition). Every rate
    is a positive, finite Decimal. ``rates`` is stored read-only.
    """

    source: str
    rate_date: date
    base: str
    rates: Mapping[str, Decimal] = field(hash=False)

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("a publication needs its source (e.g. 'ecb')")
        _check_currency(self.base, "the base currency")
        checked: dict[str, Decimal] = {}
        for code, rate in self.rates.items():
            _check_currency(code, "a quoted currency")
            if code == self.base:
                raise ValueError(f"the base currency {code} is not quoted against itself")
            if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
                raise ValueError(f"the rate of {code} must be a positive finite Decimal, not {rate!r}")
            checked[code] = rate
        object.__setattr__(self, "rates", MappingProxyType(checked))

    @property
    def currencies(self) -> frozenset[str]:
        """Every currency this publication can convert between, the base included."""
        return frozenset(self.rates) | {self.base}

    def _quote(self, currency: str) -> Decimal:
        if currency == self.base:
            return Decimal(1)
        quote = self.rates.get(currency)
        if quote is None:
            raise UnknownCurrency(
                detail=f"the {self.source} reference rates of {self.rate_date.isoformat()} quote no rate "
                f"for {currency!r}; quoted: {', '.join(sorted(self.currencies))}"
            )
        return quote

    def rate(self, from_currency: str, to_currency: str) -> Decimal:
        """Units of ``to_currency`` for 1 unit of ``from_currency`` (see the module docstring)."""
        source, target = self._quote(from_currency), self._quote(to_currency)
        if from_currency == to_currency:
            return Decimal(1)
        if from_currency == self.base:
            return target
        return _CROSS_CONTEXT.divide(target, source)


def rates_on(
    publications: Iterable[ReferenceRates], on: date, *, max_age: timedelta | None = None
) -> ReferenceRates:
    """The publication that applies on ``on``: the latest one dated on or before it.

    Weekends and TARGET holidays have no publication of their own and take the previous one.
    A date older than the oldest publication held is refused (``NoRatesForDate``): the rate of
    that day is unknown, not the oldest one. With ``max_age``, a publication more than
    ``max_age`` older than ``on`` is refused too, so a date past the end of stale data is not
    priced at an old rate (the ECB's longest gap, Easter, is four days).
    """
    held = list(publications)
    if not held:
        raise NoRatesForDate(detail="no reference rates are held")
    applicable = [p for p in held if p.rate_date <= on]
    if not applicable:
        oldest = min(p.rate_date for p in held)
        raise NoRatesForDate(
            detail=f"no reference rates for {on.isoformat()}: the oldest held are of {oldest.isoformat()}"
        )
    chosen = max(applicable, key=lambda p: p.rate_date)
    if max_age is not None and on - chosen.rate_date > max_age:
        raise NoRatesForDate(
            detail=f"no reference rates for {on.isoformat()}: the newest held before it are of "
            f"{chosen.rate_date.isoformat()}, more than {max_age.days} days older"
        )
    return chosen
