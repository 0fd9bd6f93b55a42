"""Money: Decimal amounts in an ISO 4217 currency, rounded half-up to its minor unit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from billow.domain.errors import validation_failed

MAX_UNIT_DECIMALS = 12


@lru_cache(maxsize=1)
def _active_currencies() -> frozenset[str]:
    # babel is imported lazily: it is only needed once money is actually parsed.
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (JPY 0, EUR 2, KWD 3)."""
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(currency))


def is_currency(code: str) -> bool:
    return len(code) == 3 and code.isupper() and code in _active_currencies()


def parse_currency(code: str, pointer: str = "/currency") -> str:
    if not isinstance(code, str) or not is_currency(code):
        raise validation_failed(pointer, f"'{code}' is not an ISO 4217 currency code")
    return code


def parse_decimal(value: object, pointer: str, *, max_decimals: int = MAX_UNIT_DECIMALS) -> Decimal:
    """Parse a money-like decimal string. JSON numbers are refused: floats lose cents."""
    if not isinstance(value, str):
        raise validation_failed(pointer, 'must be a decimal string such as "29.00", not a JSON number')
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise validation_failed(pointer, f"'{value}' is not a decimal number") from None
    if not amount.is_finite():
        raise validation_failed(pointer, "must be a finite decimal number")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > max_decimals:
        raise validation_failed(pointer, f"at most {max_decimals} decimal places are allowed")
    return amount


@dataclass(frozen=True, order=False)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        return cls(Decimal(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def rounded(self) -> Money:
        """Round once, half-up, to the currency's minor unit."""
        quantum = Decimal(1).scaleb(-minor_units(self.currency))
        return Money(self.amount.quantize(quantum, rounding=ROUND_HALF_UP), self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def times(self, factor: Decimal) -> Money:
        return Money(self.amount * factor, self.currency)

    def as_dict(self) -> dict[str, str]:
        """Wire form: the amount with exactly the currency's minor digits."""
        return {"amount": str(self.rounded().amount), "currency": self.currency}
