"""Money: Decimal amounts in an ISO 4217 currency, rounded half-up to its minor unit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billow.domain.currencies import MINOR_UNITS
from billow.domain.errors import validation_failed

MAX_UNIT_DECIMALS = 12
MAX_INTEGER_DIGITS = 18  # a quadrillion in any currency is far beyond any real amount
_DECIMAL_STRING = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def minor_units(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (JPY 0, EUR 2, KWD 3)."""
    return MINOR_UNITS[currency]


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def parse_currency(code: str, pointer: str = "/currency") -> str:
    if not isinstance(code, str) or not is_currency(code):
        raise validation_failed(pointer, f"'{code}' is not an ISO 4217 currency code")
    return code


def parse_decimal(value: object, pointer: str, *, max_decimals: int = MAX_UNIT_DECIMALS) -> Decimal:
    """Parse a money-like decimal string such as "29.00" or "-0.5".

    JSON numbers are refused (a float has already lost cents); so are exponents, underscores,
    non-ASCII digits and amounts of more than 18 integer digits.
    """
    if not isinstance(value, str):
        raise validation_failed(pointer, 'must be a decimal string such as "29.00", not a JSON number')
    text = value.strip()
    if not _DECIMAL_STRING.fullmatch(text):
        raise validation_failed(pointer, f"'{value}' is not a decimal string such as \"29.00\"")
    integer, _, fraction = text.lstrip("-").partition(".")
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise validation_failed(pointer, f"at most {MAX_INTEGER_DIGITS} digits before the decimal point")
    if len(fraction) > max_decimals:
        raise validation_failed(pointer, f"at most {max_decimals} decimal places are allowed")
    return Decimal(text)


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
        amount = self.amount.quantize(quantum, rounding=ROUND_HALF_UP)
        # -0.004 rounds to -0.00; money has no negative zero.
        return Money(amount if amount != 0 else abs(amount), self.currency)

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
