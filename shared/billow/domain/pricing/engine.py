"""compute_price: a quantity (and event values or variables) through price terms to money."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from billow.domain.errors import FieldError, ValidationFailed, validation_failed
from billow.domain.money import MAX_INTEGER_DIGITS, Money, is_currency, minor_units, parse_decimal
from billow.domain.pricing._numbers import EXACT, as_decimal, input_problem, too_large
from billow.domain.pricing.results import PriceComputation
from billow.domain.pricing.terms import (
    FormulaTerms,
    PercentageTerms,
    PriceTerms,
    VariableValue,
    escape,
)

_ROUNDING = Context(prec=80, rounding=ROUND_HALF_UP, traps=[InvalidOperation])
_QUANTA = {digits: Decimal(1).scaleb(-digits) for digits in range(4)}


def compute_price(
    terms: PriceTerms,
    currency: str,
    quantity: Decimal,
    *,
    event_values: Sequence[Decimal] = (),
    variables: Mapping[str, VariableValue] | None = None,
) -> PriceComputation:
    """Price ``quantity`` under ``terms`` in ``currency``.

    The breakdown's amounts are exact; the total is their sum rounded once, half-up, to the
    currency's minor unit. ``event_values`` are for percentage prices, ``variables`` for formula
    prices; giving either to another model is an error. Raises ValidationFailed with pointers
    into the compute request (``/quantity``, ``/event_values/3``, ``/variables/seats``,
    ``/currency``) or ``/expression`` for a formula that cannot be evaluated with these inputs.
    """
    errors: list[FieldError] = []
    if not is_currency(currency):
        errors.append(FieldError("/currency", f"'{currency}' is not an ISO 4217 currency code"))
    problem = input_problem(quantity)
    if problem:
        errors.append(FieldError("/quantity", problem))
    if event_values and not isinstance(terms, PercentageTerms):
        errors.append(
            FieldError("/event_values", f"only percentage prices take event values, not {terms.model}")
        )
    if variables and not isinstance(terms, FormulaTerms):
        errors.append(FieldError("/variables", f"only formula prices take variables, not {terms.model}"))
    if errors:
        raise ValidationFailed(detail="the price cannot be computed for this input", errors=errors)
    with localcontext(EXACT):
        unrounded, lines = terms.price(as_decimal(quantity), currency, event_values, variables or {})
    if too_large(unrounded):
        raise validation_failed(
            "/quantity", f"the amount for this quantity has more than {MAX_INTEGER_DIGITS} digits"
        )
    # Money.rounded()'s rule (half-up at the minor unit), in a context wide enough for any input.
    rounded = unrounded.quantize(_QUANTA[minor_units(currency)], rounding=ROUND_HALF_UP, context=_ROUNDING)
    return PriceComputation(Money(rounded, currency), unrounded, lines)


def parse_variable_values(
    terms: PriceTerms, raw: object, pointer: str = "/variables"
) -> dict[str, VariableValue]:
    """The ``variables`` of a compute request from JSON: decimal variables as decimal strings
    ("2.5"; JSON numbers are refused like money), integer variables as JSON integers or digit
    strings, boolean variables as true/false. Unknown names are refused."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise validation_failed(pointer, "must be an object of variable values")
    types = (
        {variable.name: variable.type for variable in terms.variables}
        if isinstance(terms, FormulaTerms)
        else {}
    )
    errors: list[FieldError] = []
    values: dict[str, VariableValue] = {}
    for name, value in raw.items():
        at = f"{pointer}/{escape(str(name))}"
        kind = types.get(name)
        if kind is None:
            errors.append(FieldError(at, f"is not a variable of this {terms.model} price"))
        elif kind == "boolean":
            if isinstance(value, bool):
                values[name] = value
            else:
                errors.append(FieldError(at, "must be true or false"))
        elif kind == "integer":
            number = _json_integer(value)
            if number is None:
                errors.append(FieldError(at, "must be an integer"))
            else:
                values[name] = number
        else:
            try:
                values[name] = parse_decimal(value, at)
            except ValidationFailed as failure:
                errors.extend(failure.errors)
    if errors:
        raise ValidationFailed(detail="the variables are invalid", errors=errors)
    return values


def _json_integer(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 10**MAX_INTEGER_DIGITS:
        return None
    return value
