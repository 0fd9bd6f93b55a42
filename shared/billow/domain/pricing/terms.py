"""Price terms: the validated, immutable definition of how a price turns a quantity into money.

One frozen class per model. Build them with :func:`parse_price_terms` (from the JSON of a request)
or :meth:`PriceTerms.from_dict` (from storage); both validate, so a ``PriceTerms`` is always
sound. Whatever computing needs is prepared when the terms are built (tier boundaries as
Decimals, the compiled formula), so pricing a quantity does no parsing.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, Literal, cast

from billow.domain.errors import FieldError, ValidationFailed, validation_failed
from billow.domain.money import MAX_INTEGER_DIGITS, is_currency, parse_decimal
from billow.domain.pricing._numbers import HUNDRED, ZERO, as_decimal, input_problem, plain
from billow.domain.pricing.formula import RESERVED, Formula, FormulaError, VariableType, compile_formula
from billow.domain.pricing.results import TierLine

MODELS = ("flat", "per_unit", "graduated", "volume", "staircase", "package", "percentage", "formula")
MODEL_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "flat": ("amount",),
        "per_unit": ("unit_amount",),
        "graduated": ("tiers",),
        "volume": ("tiers",),
        "staircase": ("tiers",),
        "package": ("amount", "package_size", "free_units", "rounding"),
        "percentage": ("rate", "fixed_amount", "free_events", "free_amount", "min_amount", "max_amount"),
        "formula": ("expression", "variables"),
    }
)
VARIABLE_TYPES: tuple[VariableType, ...] = ("decimal", "integer", "boolean")
MAX_TIERS = 100
MAX_VARIABLES = 50
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_WHOLE = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"-?[0-9]+")
_WHOLE_LIMIT = 10**MAX_INTEGER_DIGITS

VariableValue = Decimal | int | bool


def escape(key: str) -> str:
    """A JSON pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


# --- the terms --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceTerms:
    """Base of the per-model terms. ``model`` is the API's model name."""

    model: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form: ``model`` plus every field of the model, defaults filled in,
        decimals as normalised strings ("6.50" -> "6.5")."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceTerms:
        """Terms from their :meth:`to_dict` form (storage round trips); validates again."""
        errors: list[FieldError] = []
        if not isinstance(data, Mapping):
            raise validation_failed("", "stored price terms must be an object")
        fields = {key: value for key, value in data.items() if key != "model"}
        terms = _parse(data.get("model"), fields, "", errors)
        if errors or terms is None:
            raise ValidationFailed(detail="the stored price terms are invalid", errors=errors)
        return terms

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        """The exact amount and its lines, for inputs already checked by compute_price, in its
        exact Decimal context."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: Decimal | None  # inclusive; None on the last tier only
    unit_amount: Decimal
    flat_amount: Decimal

    def to_dict(self, *, per_unit: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"up_to": None if self.up_to is None else plain(self.up_to)}
        if per_unit:
            data["unit_amount"] = plain(self.unit_amount)
        data["flat_amount"] = plain(self.flat_amount)
        return data


@dataclass(frozen=True, slots=True)
class FlatTerms(PriceTerms):
    model: ClassVar[str] = "flat"
    amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "amount": plain(self.amount)}

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        return self.amount, [TierLine(None, quantity, ZERO, self.amount, self.amount, currency)]


@dataclass(frozen=True, slots=True)
class PerUnitTerms(PriceTerms):
    model: ClassVar[str] = "per_unit"
    unit_amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "unit_amount": plain(self.unit_amount)}

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        amount = quantity * self.unit_amount
        return amount, [TierLine(None, quantity, self.unit_amount, ZERO, amount, currency)]


@dataclass(frozen=True, slots=True)
class _TieredTerms(PriceTerms):
    tiers: tuple[Tier, ...]
    # Upper bounds of every tier but the last, for bisect: tier i holds q <= bounds[i].
    _bounds: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_bounds", tuple(cast(Decimal, tier.up_to) for tier in self.tiers[:-1]))

    def to_dict(self) -> dict[str, Any]:
        per_unit = self.model != "staircase"
        return {"model": self.model, "tiers": [tier.to_dict(per_unit=per_unit) for tier in self.tiers]}

    def tier_index(self, quantity: Decimal) -> int:
        """0-based index of the tier containing ``quantity`` (up_to is inclusive)."""
        return bisect_left(self._bounds, quantity)


@dataclass(frozen=True, slots=True)
class GraduatedTerms(_TieredTerms):
    model: ClassVar[str] = "graduated"
    # (tier number, lower bound, upper bound or None, unit amount, flat amount) per tier.
    _steps: tuple[tuple[int, Decimal, Decimal | None, Decimal, Decimal], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _TieredTerms.__post_init__(self)
        lowers = (ZERO, *self._bounds)
        steps = tuple(
            (number, lower, tier.up_to, tier.unit_amount, tier.flat_amount)
            for number, (lower, tier) in enumerate(zip(lowers, self.tiers, strict=True), start=1)
        )
        object.__setattr__(self, "_steps", steps)

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        lines: list[TierLine] = []
        total = ZERO
        for number, lower, upper, unit, flat in self._steps:
            # A tier is reached once q exceeds the tier below; the first is always reached, so
            # its flat amount is charged even at q = 0.
            if number > 1 and quantity <= lower:
                break
            units = (quantity if upper is None or quantity < upper else upper) - lower
            amount = units * unit + flat
            lines.append(TierLine(number, units, unit, flat, amount, currency))
            total += amount
        return total, lines


@dataclass(frozen=True, slots=True)
class VolumeTerms(_TieredTerms):
    model: ClassVar[str] = "volume"

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        index = self.tier_index(quantity)
        tier = self.tiers[index]
        amount = quantity * tier.unit_amount + tier.flat_amount
        return amount, [TierLine(index + 1, quantity, tier.unit_amount, tier.flat_amount, amount, currency)]


@dataclass(frozen=True, slots=True)
class StaircaseTerms(_TieredTerms):
    model: ClassVar[str] = "staircase"

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        index = self.tier_index(quantity)
        flat = self.tiers[index].flat_amount
        return flat, [TierLine(index + 1, quantity, ZERO, flat, flat, currency)]


@dataclass(frozen=True, slots=True)
class PackageTerms(PriceTerms):
    model: ClassVar[str] = "package"
    amount: Decimal
    package_size: int
    free_units: Decimal = ZERO
    rounding: Literal["up", "down"] = "up"
    _size: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_size", Decimal(self.package_size))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "amount": plain(self.amount),
            "package_size": self.package_size,
            "free_units": plain(self.free_units),
            "rounding": self.rounding,
        }

    def packages(self, quantity: Decimal) -> Decimal:
        billable = quantity - self.free_units
        if billable <= 0:
            return ZERO
        # Integer division and remainder stay exact where billable / size might not.
        whole, remainder = divmod(billable, self._size)
        return whole + 1 if remainder and self.rounding == "up" else whole

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        packages = self.packages(quantity)
        amount = packages * self.amount
        return amount, [TierLine(None, packages, self.amount, ZERO, amount, currency)]


@dataclass(frozen=True, slots=True)
class PercentageTerms(PriceTerms):
    model: ClassVar[str] = "percentage"
    rate: Decimal  # percent: "2.9" is 2.9 %
    fixed_amount: Decimal = ZERO
    free_events: int | None = None
    free_amount: Decimal | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    _fraction: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fraction", self.rate / HUNDRED)

    def to_dict(self) -> dict[str, Any]:
        def optional(value: Decimal | None) -> str | None:
            return None if value is None else plain(value)

        return {
            "model": self.model,
            "rate": plain(self.rate),
            "fixed_amount": plain(self.fixed_amount),
            "free_events": self.free_events,
            "free_amount": optional(self.free_amount),
            "min_amount": optional(self.min_amount),
            "max_amount": optional(self.max_amount),
        }

    def exemption(self, values: Sequence[Decimal]) -> Decimal:
        """min(sum of the first free_events values, free_amount); either alone when only one is set."""
        if self.free_events is None:
            return ZERO if self.free_amount is None else self.free_amount
        first = sum(values[: self.free_events], ZERO)
        return first if self.free_amount is None else min(first, self.free_amount)

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        values = _event_values(event_values)
        has_exemption = self.free_events is not None or self.free_amount is not None
        count_limit = len(values) if self.free_events is None else self.free_events
        remaining = self.exemption(values)
        chargeable_total = fees = ZERO
        charged = 0
        for index, value in enumerate(values):
            # The exemption is used up by the events in their order.
            covered = value if value <= remaining else remaining
            remaining -= covered
            if has_exemption and index < count_limit and covered == value:
                continue  # wholly inside the exemption: no fee, no fixed amount
            chargeable = value - covered
            fee = chargeable * self._fraction
            if self.min_amount is not None and fee < self.min_amount:
                fee = self.min_amount
            if self.max_amount is not None and fee > self.max_amount:
                fee = self.max_amount
            chargeable_total += chargeable
            fees += fee
            charged += 1
        events = Decimal(charged)
        fixed = events * self.fixed_amount
        return fees + fixed, [
            TierLine(None, chargeable_total, self._fraction, ZERO, fees, currency),
            TierLine(None, events, self.fixed_amount, ZERO, fixed, currency),
        ]


@dataclass(frozen=True, slots=True)
class FormulaVariable:
    name: str
    type: VariableType
    default: VariableValue | None = None  # Decimal, int or bool after its type; None: required

    def to_dict(self) -> dict[str, Any]:
        default = plain(self.default) if isinstance(self.default, Decimal) else self.default
        return {"name": self.name, "type": self.type, "default": default}


@dataclass(frozen=True, slots=True)
class FormulaTerms(PriceTerms):
    model: ClassVar[str] = "formula"
    expression: str
    variables: tuple[FormulaVariable, ...]
    formula: Formula = field(repr=False, compare=False)
    _types: dict[str, VariableType] = field(init=False, repr=False, compare=False)
    _defaults: dict[str, Decimal | bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_types", {variable.name: variable.type for variable in self.variables})
        defaults: dict[str, Decimal | bool] = {}
        for variable in self.variables:
            if variable.default is not None:
                defaults[variable.name] = _env_value(variable.default)
        object.__setattr__(self, "_defaults", defaults)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "expression": self.expression,
            "variables": [variable.to_dict() for variable in self.variables],
        }

    def price(
        self,
        quantity: Decimal,
        currency: str,
        event_values: Sequence[Decimal],
        variables: Mapping[str, VariableValue],
    ) -> tuple[Decimal, list[TierLine]]:
        env = dict(self._defaults)
        if variables or len(env) < len(self._types):
            env.update(self.check_variables(variables))
        env["quantity"] = quantity
        try:
            amount = self.formula.evaluate(env)
        except FormulaError as error:
            raise validation_failed("/expression", error.message) from None
        if amount < 0:
            raise validation_failed(
                "/expression",
                f"the formula gives a negative amount ({plain(amount)}); max(0, …) charges nothing instead",
            )
        return amount, [TierLine(None, quantity, ZERO, amount, amount, currency)]

    def check_variables(self, variables: Mapping[str, VariableValue]) -> dict[str, Decimal | bool]:
        """The given values, checked against the declarations; every variable without a default
        must be given."""
        errors: list[FieldError] = []
        values: dict[str, Decimal | bool] = {}
        for name, value in variables.items():
            pointer = f"/variables/{escape(str(name))}"
            kind = self._types.get(name)
            if kind is None:
                errors.append(FieldError(pointer, "is not a variable of this formula"))
                continue
            problem = _variable_problem(kind, value)
            if problem:
                errors.append(FieldError(pointer, problem))
            else:
                values[name] = _env_value(value)
        for name in self._types:
            if name not in values and name not in self._defaults and name not in variables:
                errors.append(FieldError(f"/variables/{escape(name)}", "is required (it has no default)"))
        if errors:
            raise ValidationFailed(detail="the formula's variables are invalid", errors=errors)
        return values


def _variable_problem(kind: VariableType, value: object) -> str | None:
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    problem = input_problem(value, allow_negative=True)
    if problem is not None:
        return "must be an integer" if kind == "integer" and problem.startswith("must be a") else problem
    if kind == "integer" and isinstance(value, Decimal) and value != value.to_integral_value():
        return "must be an integer"
    return None


def _env_value(value: VariableValue) -> Decimal | bool:
    return value if isinstance(value, bool) else as_decimal(value)


def _event_values(event_values: Sequence[Decimal]) -> list[Decimal]:
    errors: list[FieldError] = []
    values: list[Decimal] = []
    for index, value in enumerate(event_values):
        problem = input_problem(value)
        if problem:
            errors.append(FieldError(f"/event_values/{index}", problem))
        else:
            values.append(as_decimal(value))
    if errors:
        raise ValidationFailed(detail="the event values are invalid", errors=errors)
    return values


# --- validation of the JSON form --------------------------------------------------------------


def parse_price_terms(model: str, terms: Mapping[str, Any], currency: str, pointer: str = "") -> PriceTerms:
    """Validate the JSON-shaped definition of a price and build its terms.

    Raises ValidationFailed listing every problem, each with a JSON pointer prefixed by
    ``pointer`` (the place of the terms in the request body). ``terms`` may also carry a
    ``model`` key (as :meth:`PriceTerms.to_dict` writes it) if it names the same model.
    """
    errors: list[FieldError] = []
    if not isinstance(currency, str) or not is_currency(currency):
        errors.append(FieldError(f"{pointer}/currency", f"'{currency}' is not an ISO 4217 currency code"))
    if isinstance(terms, Mapping) and "model" in terms:
        if terms["model"] != model:
            errors.append(FieldError(f"{pointer}/model", f"does not match the price's model '{model}'"))
        terms = {key: value for key, value in terms.items() if key != "model"}
    parsed = _parse(model, terms, pointer, errors)
    if errors or parsed is None:
        raise ValidationFailed(detail="the price definition is invalid", errors=errors)
    return parsed


class _Reader:
    """Reads the fields of one model's terms, adding a FieldError for each problem found."""

    def __init__(self, model: str, terms: Mapping[str, Any], pointer: str, errors: list[FieldError]) -> None:
        self.model = model
        self.terms = terms
        self.base = pointer
        self.errors = errors

    def pointer(self, *parts: str | int) -> str:
        return self.base + "".join(f"/{escape(str(part))}" for part in parts)

    def error(self, pointer: str, message: str) -> None:
        self.errors.append(FieldError(pointer, message))

    def decimal(self, value: object, pointer: str, *, allow_negative: bool = False) -> Decimal | None:
        try:
            number = parse_decimal(value, pointer)
        except ValidationFailed as failure:
            self.errors.extend(failure.errors)
            return None
        if number < 0 and not allow_negative:
            self.error(pointer, "must not be negative")
            return None
        return number if number else abs(number)  # "-0" is 0

    def amount(self, key: str, *, required: bool = False) -> Decimal | None:
        """A non-negative decimal string field; None when absent (reported if required) or invalid."""
        value = self.terms.get(key)
        if value is None:
            if required:
                self.error(self.pointer(key), "is required")
            return None
        return self.decimal(value, self.pointer(key))

    def whole(self, key: str, *, minimum: int, required: bool = False) -> int | None:
        """A whole number, as a JSON integer or a string of digits."""
        value = self.terms.get(key)
        pointer = self.pointer(key)
        if value is None:
            if required:
                self.error(pointer, "is required")
            return None
        if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(pointer, "must be a whole number (an integer)")
            return None
        if value < minimum:
            self.error(pointer, f"must be at least {minimum}")
            return None
        if value >= _WHOLE_LIMIT:
            self.error(pointer, f"must have at most {MAX_INTEGER_DIGITS} digits")
            return None
        return value


def _parse(model: object, terms: object, pointer: str, errors: list[FieldError]) -> PriceTerms | None:
    if not isinstance(model, str) or model not in MODEL_FIELDS:
        errors.append(FieldError(f"{pointer}/model", f"must be one of {', '.join(MODELS)}"))
        return None
    if not isinstance(terms, Mapping):
        errors.append(FieldError(pointer, "must be an object"))
        return None
    known = MODEL_FIELDS[model]
    for key in terms:
        if key not in known:
            errors.append(
                FieldError(
                    f"{pointer}/{escape(str(key))}",
                    f"is not a field of {model} prices (they take {', '.join(known)})",
                )
            )
    reader = _Reader(model, terms, pointer, errors)
    before = len(errors)
    parsed = _PARSERS[model](reader)
    return parsed if len(errors) == before else None


def _flat(reader: _Reader) -> PriceTerms | None:
    amount = reader.amount("amount", required=True)
    return None if amount is None else FlatTerms(amount)


def _per_unit(reader: _Reader) -> PriceTerms | None:
    unit_amount = reader.amount("unit_amount", required=True)
    return None if unit_amount is None else PerUnitTerms(unit_amount)


def _tiers(reader: _Reader) -> tuple[Tier, ...] | None:
    raw = reader.terms.get("tiers")
    pointer = reader.pointer("tiers")
    if raw is None:
        reader.error(pointer, "is required")
        return None
    if not isinstance(raw, list):
        reader.error(pointer, "must be a list of tiers")
        return None
    if not raw:
        reader.error(pointer, "needs at least one tier (the last with up_to null)")
        return None
    if len(raw) > MAX_TIERS:
        reader.error(pointer, f"at most {MAX_TIERS} tiers are allowed")
        return None
    before = len(reader.errors)
    per_unit = reader.model != "staircase"
    allowed = ("up_to", "unit_amount", "flat_amount") if per_unit else ("up_to", "flat_amount")
    last = len(raw) - 1
    previous: Decimal | None = None
    tiers: list[Tier] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            reader.error(reader.pointer("tiers", index), "must be an object")
            continue
        for key in item:
            if key not in allowed:
                reader.error(
                    reader.pointer("tiers", index, str(key)),
                    f"is not a field of a {reader.model} tier (it takes {', '.join(allowed)})",
                )
        up_to_pointer = reader.pointer("tiers", index, "up_to")
        up_to: Decimal | None = None
        if "up_to" not in item:
            reader.error(up_to_pointer, "is required (null on the last tier)")
        elif item["up_to"] is None:
            if index != last:
                reader.error(up_to_pointer, "only the last tier may have up_to null")
        else:
            up_to = reader.decimal(item["up_to"], up_to_pointer)
            if index == last:
                reader.error(up_to_pointer, "the last tier must have up_to null, so every quantity is priced")
            if up_to is not None and previous is not None and up_to <= previous:
                reader.error(
                    up_to_pointer,
                    f"must be greater than the previous tier's up_to ({plain(previous)}): "
                    "tiers go in increasing order without overlap",
                )
            if up_to is not None:
                previous = up_to
        amounts: dict[str, Decimal] = {}
        for key in allowed[1:]:
            if item.get(key) is not None:
                value = reader.decimal(item[key], reader.pointer("tiers", index, key))
                if value is not None:
                    amounts[key] = value
        if per_unit and item.get("unit_amount") is None and item.get("flat_amount") is None:
            reader.error(reader.pointer("tiers", index), "needs a unit_amount, a flat_amount or both")
        if not per_unit and item.get("flat_amount") is None:
            reader.error(reader.pointer("tiers", index, "flat_amount"), "is required")
        tiers.append(Tier(up_to, amounts.get("unit_amount", ZERO), amounts.get("flat_amount", ZERO)))
    # Terms are only built from sound tiers (the tier classes rely on the order of up_to).
    return tuple(tiers) if len(reader.errors) == before else None


def _graduated(reader: _Reader) -> PriceTerms | None:
    tiers = _tiers(reader)
    return None if tiers is None else GraduatedTerms(tiers)


def _volume(reader: _Reader) -> PriceTerms | None:
    tiers = _tiers(reader)
    return None if tiers is None else VolumeTerms(tiers)


def _staircase(reader: _Reader) -> PriceTerms | None:
    tiers = _tiers(reader)
    return None if tiers is None else StaircaseTerms(tiers)


def _package(reader: _Reader) -> PriceTerms | None:
    amount = reader.amount("amount", required=True)
    size = reader.whole("package_size", minimum=1, required=True)
    free_units = reader.amount("free_units")
    rounding = reader.terms.get("rounding")
    if rounding is not None and rounding not in ("up", "down"):
        reader.error(reader.pointer("rounding"), "must be up or down")
        return None
    if amount is None or size is None:
        return None
    return PackageTerms(amount, size, free_units or ZERO, cast(Literal["up", "down"], rounding or "up"))


def _percentage(reader: _Reader) -> PriceTerms | None:
    rate = reader.amount("rate", required=True)
    if rate is not None and rate > HUNDRED:
        reader.error(reader.pointer("rate"), "is a percentage and must be at most 100")
    fixed_amount = reader.amount("fixed_amount")
    free_events = reader.whole("free_events", minimum=0)
    free_amount = reader.amount("free_amount")
    min_amount = reader.amount("min_amount")
    max_amount = reader.amount("max_amount")
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        reader.error(reader.pointer("max_amount"), f"must not be less than min_amount ({plain(min_amount)})")
    if rate is None:
        return None
    return PercentageTerms(rate, fixed_amount or ZERO, free_events, free_amount, min_amount, max_amount)


def _formula(reader: _Reader) -> PriceTerms | None:
    variables = _variables(reader)
    expression = reader.terms.get("expression")
    pointer = reader.pointer("expression")
    if expression is None:
        reader.error(pointer, "is required")
        return None
    if not isinstance(expression, str):
        reader.error(pointer, "must be a string")
        return None
    try:
        # Variables that failed validation are left out: using one reports it as unknown.
        formula = compile_formula(expression, {variable.name: variable.type for variable in variables})
    except FormulaError as error:
        reader.error(pointer, error.message)
        return None
    return FormulaTerms(expression, tuple(variables), formula)


def _variables(reader: _Reader) -> list[FormulaVariable]:
    raw = reader.terms.get("variables")
    if raw is None:
        return []
    if not isinstance(raw, list):
        reader.error(reader.pointer("variables"), "must be a list of variables")
        return []
    if len(raw) > MAX_VARIABLES:
        reader.error(reader.pointer("variables"), f"at most {MAX_VARIABLES} variables are allowed")
        return []
    declared: dict[str, int] = {}
    variables: list[FormulaVariable] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            reader.error(reader.pointer("variables", index), "must be an object")
            continue
        for key in item:
            if key not in ("name", "type", "default"):
                reader.error(
                    reader.pointer("variables", index, str(key)),
                    "is not a field of a variable (it takes name, type, default)",
                )
        name = _variable_name(reader, item.get("name"), index, declared)
        kind = item.get("type")
        if kind not in VARIABLE_TYPES:
            message = "is required" if kind is None else f"must be one of {', '.join(VARIABLE_TYPES)}"
            reader.error(reader.pointer("variables", index, "type"), message)
            continue
        kind = cast(VariableType, kind)
        default = _variable_default(reader, kind, item.get("default"), index)
        if name is not None and default is not _INVALID:
            variables.append(FormulaVariable(name, kind, cast(VariableValue | None, default)))
    return variables


_INVALID = object()


def _variable_name(reader: _Reader, name: object, index: int, declared: dict[str, int]) -> str | None:
    pointer = reader.pointer("variables", index, "name")
    if name is None:
        reader.error(pointer, "is required")
        return None
    if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name):
        reader.error(pointer, "must be 1 to 40 letters, digits or _, not starting with a digit")
        return None
    if name in RESERVED:
        reader.error(pointer, f"'{name}' is reserved")
        return None
    if name in declared:
        reader.error(pointer, f"duplicate variable '{name}' (first declared at /variables/{declared[name]})")
        return None
    declared[name] = index
    return name


def _variable_default(reader: _Reader, kind: VariableType, value: object, index: int) -> object:
    """The default after its type, None when there is none, _INVALID when it is wrong."""
    if value is None:
        return None
    pointer = reader.pointer("variables", index, "default")
    if kind == "decimal":
        number = reader.decimal(value, pointer, allow_negative=True)
        return _INVALID if number is None else number
    if kind == "integer":
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            reader.error(pointer, "must be an integer, as the variable's type is integer")
            return _INVALID
        if abs(value) >= _WHOLE_LIMIT:
            reader.error(pointer, f"must have at most {MAX_INTEGER_DIGITS} digits")
            return _INVALID
        return value
    if not isinstance(value, bool):
        reader.error(pointer, "must be true or false, as the variable's type is boolean")
        return _INVALID
    return value


_PARSERS = {
    "flat": _flat,
    "per_unit": _per_unit,
    "graduated": _graduated,
    "volume": _volume,
    "staircase": _staircase,
    "package": _package,
    "percentage": _percentage,
    "formula": _formula,
}
