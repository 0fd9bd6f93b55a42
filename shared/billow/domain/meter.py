"""Meters: how raw usage events become a billable quantity (docs/usage.md).

A meter names an aggregation over the events sent with its ``code``: which property carries
the value, which events count (``filters``), and which properties split the usage into groups
that are priced separately (``group_by``). Like a price's economics, a meter's aggregation
never changes once created: invoices that used it must stay explainable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from billow.domain.errors import FieldError, InvalidStateTransition, ValidationFailed

Aggregation = Literal["sum", "count", "unique_count", "max", "latest", "weighted_sum"]
AGGREGATIONS: tuple[Aggregation, ...] = ("sum", "count", "unique_count", "max", "latest", "weighted_sum")
# Aggregations over a number; unique_count counts distinct values of any scalar.
NUMERIC = frozenset({"sum", "max", "latest", "weighted_sum"})
LatePolicy = Literal["reject", "bill_next_period"]
WeightedUnit = Literal["period", "day", "hour"]
WEIGHTED_UNIT_SECONDS = {"day": 86_400, "hour": 3_600}

CODE = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")
PROPERTY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
MAX_FILTERS = 10
MAX_FILTER_VALUES = 100
MAX_GROUP_BY = 3
MAX_GROUP_VALUE_LENGTH = 100
# Quantities are Decimals with at most 38 significant digits (what DynamoDB stores exactly).
MAX_VALUE_DIGITS = 20
MUTABLE_FIELDS = frozenset({"name", "description", "late_event_policy", "metadata"})


@dataclass(frozen=True)
class MeterFilter:
    """An event counts when its property is (``in``) or is not (``not_in``) one of the values."""

    property: str
    operator: Literal["in", "not_in"]
    values: tuple[str, ...]

    def matches(self, properties: Mapping[str, Any]) -> bool:
        value = scalar_text(properties.get(self.property))
        inside = value is not None and value in self.values
        return inside if self.operator == "in" else not inside

    def to_dict(self) -> dict[str, Any]:
        return {"property": self.property, "operator": self.operator, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeterFilter:
        return cls(
            property=data["property"],
            operator=data.get("operator", "in"),
            values=tuple(str(v) for v in data["values"]),
        )


@dataclass(frozen=True)
class Meter:
    id: str
    livemode: bool
    code: str
    name: str
    aggregation: Aggregation
    created_at: str
    updated_at: str
    value_property: str | None = None
    filters: tuple[MeterFilter, ...] = ()
    group_by: tuple[str, ...] = ()
    late_event_policy: LatePolicy = "reject"
    # weighted_sum only: "period" bills the average level over the period (seats); "hour" and
    # "day" bill level x time (GB-hours).
    weighted_unit: WeightedUnit = "period"
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: Literal["active", "archived"] = "active"
    version: int = 1

    @property
    def is_numeric(self) -> bool:
        return self.aggregation in NUMERIC

    def counts(self, properties: Mapping[str, Any]) -> bool:
        return all(f.matches(properties) for f in self.filters)

    def group_of(self, properties: Mapping[str, Any]) -> tuple[tuple[str, str | None], ...]:
        """The event's group: one (dimension, value) pair per ``group_by`` property; a missing
        property is its own group (value None)."""
        return tuple((name, scalar_text(properties.get(name))) for name in self.group_by)

    def with_changes(self, changes: Mapping[str, Any], now: str) -> Meter:
        unknown = set(changes) - MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable: {sorted(unknown)}")
        return replace(self, **changes, updated_at=now, version=self.version + 1)

    def archive(self, now: str) -> Meter:
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"meter {self.id} is already archived")
        return replace(self, status="archived", updated_at=now, version=self.version + 1)

    def unarchive(self, now: str) -> Meter:
        if self.status == "active":
            raise InvalidStateTransition(detail=f"meter {self.id} is not archived")
        return replace(self, status="active", updated_at=now, version=self.version + 1)


def scalar_text(value: Any) -> str | None:
    """A property value as the text groups, filters and distinct counts compare: strings as
    sent, integers and decimals without exponent, booleans lower-case; None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(str(value))
        if not number.is_finite():
            return None
        return "0" if number == 0 else f"{number.normalize():f}"
    return None


def numeric_value(value: Any) -> Decimal | None:
    """A usage value: a JSON number or a plain decimal string, finite, at most 20 significant
    digits, between 1e-20 and 1e20 in size (what DynamoDB and the pricing engine hold exactly)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
        if "_" in text:  # Decimal() would read "1_000" as 1000
            return None
    else:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    digits = number.normalize().as_tuple().digits
    if len(digits) > MAX_VALUE_DIGITS:
        return None
    if number != 0 and not -MAX_VALUE_DIGITS <= number.adjusted() < MAX_VALUE_DIGITS:
        return None
    return number


def check_meter_fields(fields: Mapping[str, Any]) -> None:
    """Whole-meter rules pydantic cannot express (the edge checks shapes and lengths)."""
    errors: list[FieldError] = []
    aggregation = fields.get("aggregation")
    value_property = fields.get("value_property")
    code = fields.get("code")
    if code is not None and not CODE.fullmatch(code):
        errors.append(FieldError("/code", "must match ^[a-z0-9][a-z0-9_.-]{0,63}$, e.g. api_calls"))
    if aggregation == "count":
        if value_property is not None:
            errors.append(FieldError("/value_property", "count counts events; it takes no value_property"))
    elif aggregation is not None and value_property is None:
        errors.append(FieldError("/value_property", f"{aggregation} needs the property carrying the value"))
    if value_property is not None and not PROPERTY.fullmatch(value_property):
        errors.append(FieldError("/value_property", "must be a property name (letters, digits, _ . -)"))
    if fields.get("weighted_unit", "period") != "period" and aggregation != "weighted_sum":
        errors.append(FieldError("/weighted_unit", "only weighted_sum meters have a weighted_unit"))
    errors.extend(_filter_errors(fields.get("filters") or ()))
    errors.extend(_group_errors(fields.get("group_by") or (), value_property))
    if errors:
        raise ValidationFailed(detail="the meter is invalid", errors=errors)


def _filter_errors(filters: Sequence[MeterFilter]) -> list[FieldError]:
    errors = []
    if len(filters) > MAX_FILTERS:
        errors.append(FieldError("/filters", f"at most {MAX_FILTERS} filters"))
    seen: set[str] = set()
    for i, f in enumerate(filters):
        if not PROPERTY.fullmatch(f.property):
            errors.append(FieldError(f"/filters/{i}/property", "must be a property name"))
        if f.property in seen:
            errors.append(FieldError(f"/filters/{i}/property", f"{f.property} is filtered twice"))
        seen.add(f.property)
        if not f.values or len(f.values) > MAX_FILTER_VALUES:
            errors.append(FieldError(f"/filters/{i}/values", f"give 1 to {MAX_FILTER_VALUES} values"))
    return errors


def _group_errors(group_by: Sequence[str], value_property: str | None) -> list[FieldError]:
    errors = []
    if len(group_by) > MAX_GROUP_BY:
        errors.append(FieldError("/group_by", f"at most {MAX_GROUP_BY} dimensions"))
    if len(set(group_by)) != len(group_by):
        errors.append(FieldError("/group_by", "lists a property twice"))
    for i, name in enumerate(group_by):
        if not PROPERTY.fullmatch(name):
            errors.append(FieldError(f"/group_by/{i}", "must be a property name"))
        elif name == value_property:
            errors.append(FieldError(f"/group_by/{i}", "the value property cannot also be a dimension"))
    return errors


def meter_to_dict(meter: Meter) -> dict[str, Any]:
    return {
        "id": meter.id,
        "object": "meter",
        "livemode": meter.livemode,
        "code": meter.code,
        "name": meter.name,
        "description": meter.description,
        "aggregation": meter.aggregation,
        "value_property": meter.value_property,
        "filters": [f.to_dict() for f in meter.filters],
        "group_by": list(meter.group_by),
        "late_event_policy": meter.late_event_policy,
        "weighted_unit": meter.weighted_unit if meter.aggregation == "weighted_sum" else None,
        "metadata": dict(meter.metadata),
        "status": meter.status,
        "created_at": meter.created_at,
        "updated_at": meter.updated_at,
        "version": meter.version,
    }


def meter_from_dict(data: Mapping[str, Any]) -> Meter:
    return Meter(
        id=data["id"],
        livemode=bool(data["livemode"]),
        code=data["code"],
        name=data["name"],
        description=data.get("description"),
        aggregation=data["aggregation"],
        value_property=data.get("value_property"),
        filters=tuple(MeterFilter.from_dict(f) for f in data.get("filters") or ()),
        group_by=tuple(data.get("group_by") or ()),
        late_event_policy=data.get("late_event_policy") or "reject",
        weighted_unit=data.get("weighted_unit") or "period",
        metadata=dict(data.get("metadata") or {}),
        status=data.get("status", "active"),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=int(data.get("version", 1)),
    )
