"""Decimal contexts, bounds on engine inputs, and the wire form of decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation, Overflow

from billow.domain.money import MAX_INTEGER_DIGITS, MAX_UNIT_DECIMALS

ZERO = Decimal(0)
HUNDRED = Decimal(100)

# Inputs are bounded to 18 integer digits and 12 decimals (30 significant digits), so a product
# of two inputs has at most 60 and a sum of products a few more: 80 digits keep every tier,
# package and percentage computation exact. Inexact is trapped so that a silent rounding would
# surface as an error instead of a wrong amount.
EXACT = Context(
    prec=80,
    rounding=ROUND_HALF_UP,
    Emax=999,
    Emin=-999,
    traps=[InvalidOperation, Overflow, Inexact],
)

_QUANTA = {digits: Decimal(1).scaleb(-digits) for digits in range(13)}
_LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS


def input_problem(value: object, *, allow_negative: bool = False) -> str | None:
    """Why a number handed to the engine (quantity, event value, variable) is refused, if it is."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        return "must be a decimal number"
    number = Decimal(value) if isinstance(value, int) else value
    if not number.is_finite():
        return "must be a finite number"
    if number < 0 and not allow_negative:
        return "must not be negative"
    if not number:
        return None  # 0E-40 is just 0
    if number.adjusted() >= MAX_INTEGER_DIGITS:
        return f"at most {MAX_INTEGER_DIGITS} digits before the decimal point"
    if _decimal_places(number) > MAX_UNIT_DECIMALS:
        return f"at most {MAX_UNIT_DECIMALS} decimal places are allowed"
    return None


def _decimal_places(number: Decimal) -> int:
    """Decimal places without trailing zeros ("1.500" has 1), for a finite non-zero number.

    Counted on the digits rather than with normalize(), which would round a number of more
    significant digits than a context holds."""
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    if exponent >= 0:
        return 0
    zeros = 0
    while digits[len(digits) - 1 - zeros] == 0:
        zeros += 1
    return max(0, -exponent - zeros)


def _exponent(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # only NaN and infinities have a letter here
    return exponent


def as_decimal(value: Decimal | int) -> Decimal:
    """An accepted input as a Decimal without a negative zero."""
    number = Decimal(value) if isinstance(value, int) else value
    return number if number else abs(number)  # Decimal("-0") is falsy


def too_large(amount: Decimal) -> bool:
    return abs(amount) >= _LIMIT


def plain(value: Decimal) -> str:
    """The canonical decimal string: no exponent, no trailing zeros ("6.50" -> "6.5", "1E+2" -> "100")."""
    if not value:
        return "0"
    return format(value.normalize(EXACT), "f")


def amount_text(value: Decimal, digits: int) -> str:
    """A line amount with at least the currency's minor digits, and more only when it has them.

    "102" in EUR is "102.00"; "0.125" stays "0.125" so that the lines still add up exactly to the
    unrounded total.
    """
    normalized = value.normalize(EXACT) if value else ZERO
    if _exponent(normalized) >= -digits:
        return format(value.quantize(_QUANTA[digits], context=EXACT), "f")
    return format(normalized, "f")
