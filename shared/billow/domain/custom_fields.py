"""Typed custom fields a tenant defines per entity type, and validation of their values."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from billow.domain.errors import FieldError, InvalidStateTransition, ValidationFailed

FieldType = Literal["text", "number", "boolean", "date", "enum", "entity_ref"]
ENTITY_TYPES = ("customer", "subscription", "invoice", "product", "plan")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NUMBER_PATTERN = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,12})?")
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_TEXT_LENGTH = 2000


@dataclass(frozen=True)
class CustomFieldDefinition:
    id: str
    livemode: bool
    entity_type: str
    key: str
    name: str
    type: FieldType
    required: bool
    options: tuple[str, ...]
    ref_entity_type: str | None
    min_value: Decimal | None
    max_value: Decimal | None
    max_length: int | None
    description: str | None
    status: Literal["active", "archived"]
    created_at: str
    updated_at: str
    version: int

    def archive(self, now: str) -> CustomFieldDefinition:
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"custom field {self.key} is already archived")
        return replace(self, status="archived", updated_at=now, version=self.version + 1)


@dataclass(frozen=True)
class EntityRef:
    """A value that names another object; the service checks that it exists."""

    entity_type: str
    entity_id: str
    pointer: str


def check_definition(definition: CustomFieldDefinition) -> None:
    errors: list[FieldError] = []
    if definition.entity_type not in ENTITY_TYPES:
        errors.append(FieldError("/entity_type", f"must be one of {', '.join(ENTITY_TYPES)}"))
    if not KEY_PATTERN.match(definition.key):
        errors.append(FieldError("/key", "must match ^[a-z][a-z0-9_]{0,39}$"))
    if definition.type == "enum":
        if not definition.options:
            errors.append(FieldError("/options", "an enum field needs at least one option"))
        if len(set(definition.options)) != len(definition.options):
            errors.append(FieldError("/options", "options must be unique"))
    elif definition.options:
        errors.append(FieldError("/options", "options are only allowed on enum fields"))
    if definition.type == "entity_ref":
        if definition.ref_entity_type not in ENTITY_TYPES:
            errors.append(FieldError("/ref_entity_type", f"must be one of {', '.join(ENTITY_TYPES)}"))
    elif definition.ref_entity_type is not None:
        errors.append(FieldError("/ref_entity_type", "only allowed on entity_ref fields"))
    if (definition.min_value is not None or definition.max_value is not None) and definition.type != "number":
        errors.append(FieldError("/min_value", "min_value and max_value are only allowed on number fields"))
    if (
        definition.min_value is not None
        and definition.max_value is not None
        and definition.min_value > definition.max_value
    ):
        errors.append(FieldError("/min_value", "must not be greater than max_value"))
    if definition.max_length is not None and definition.type != "text":
        errors.append(FieldError("/max_length", "only allowed on text fields"))
    if errors:
        raise ValidationFailed(detail="the custom field definition is invalid", errors=errors)


def _check_value(
    definition: CustomFieldDefinition, value: Any, pointer: str, refs: list[EntityRef]
) -> tuple[Any, str | None]:
    """Return the normalised value, or an error message."""
    kind = definition.type
    if kind == "text":
        if not isinstance(value, str):
            return None, "must be a string"
        limit = definition.max_length or MAX_TEXT_LENGTH
        if len(value) > limit:
            return None, f"must be at most {limit} characters"
        return value, None
    if kind == "number":
        # Integers or decimal strings: a JSON float would already have lost digits.
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None, "must be an integer or a decimal string"
        if isinstance(value, str) and not NUMBER_PATTERN.fullmatch(value):
            return None, f"'{value}' is not a decimal string such as \"12.5\""
        number = Decimal(value)
        if definition.min_value is not None and number < definition.min_value:
            return None, f"must be at least {definition.min_value}"
        if definition.max_value is not None and number > definition.max_value:
            return None, f"must be at most {definition.max_value}"
        return format(number, "f"), None  # plain notation: str() would give 1E-7
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, "must be true or false"
        return value, None
    if kind == "date":
        # fromisoformat alone would also take week dates such as 2026-W05-6.
        if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
            return None, "must be a date YYYY-MM-DD"
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return None, "must be a date YYYY-MM-DD"
        return parsed.isoformat(), None
    if kind == "enum":
        if value not in definition.options:
            return None, f"must be one of {', '.join(definition.options)}"
        return value, None
    # entity_ref
    if not isinstance(value, str) or not UUID_PATTERN.match(value):
        return None, "must be the id of an existing object"
    refs.append(EntityRef(definition.ref_entity_type or "", value, pointer))
    return value, None


def validate_values(
    definitions: list[CustomFieldDefinition],
    current: dict[str, Any],
    changes: dict[str, Any],
    *,
    creating: bool,
    pointer: str = "/custom_fields",
) -> tuple[dict[str, Any], list[EntityRef]]:
    """Merge ``changes`` into ``current`` (null removes a value) and check every field.

    Unknown keys, values of the wrong type and missing required fields are errors. Archived
    definitions accept no new values, but values already stored under them are kept.
    Required fields are enforced when an object is created; a field made required later does
    not block updates of older objects, it only cannot be removed from them.
    """
    by_key = {d.key: d for d in definitions}
    errors: list[FieldError] = []
    refs: list[EntityRef] = []
    merged = dict(current)
    for key, value in changes.items():
        field_pointer = f"{pointer}/{key}"
        definition = by_key.get(key)
        if definition is None:
            errors.append(FieldError(field_pointer, f"no custom field '{key}' is defined for this entity"))
            continue
        if value is None:
            if definition.required and definition.status == "active":
                errors.append(FieldError(field_pointer, "is required and cannot be removed"))
            merged.pop(key, None)
            continue
        if definition.status == "archived":
            errors.append(FieldError(field_pointer, f"custom field '{key}' is archived"))
            continue
        normalised, message = _check_value(definition, value, field_pointer, refs)
        if message:
            errors.append(FieldError(field_pointer, message))
        else:
            merged[key] = normalised
    for definition in definitions if creating else ():
        if definition.required and definition.status == "active" and definition.key not in merged:
            errors.append(FieldError(f"{pointer}/{definition.key}", "is required"))
    if errors:
        raise ValidationFailed(detail="custom field values are invalid", errors=errors)
    return merged, refs
