"""Request bodies of /v1/custom-fields."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import StrictModel

DecimalString = Annotated[str, StringConstraints(max_length=40, pattern=r"^-?\d+(\.\d+)?$")]
Option = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CustomFieldCreate(StrictModel):
    entity_type: Literal["customer", "subscription", "invoice", "product", "plan"]
    key: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    type: Literal["text", "number", "boolean", "date", "enum", "entity_ref"]
    required: bool = False
    options: Annotated[list[Option], Field(max_length=100)] | None = None
    ref_entity_type: Literal["customer", "subscription", "invoice", "product", "plan"] | None = None
    min_value: DecimalString | None = None
    max_value: DecimalString | None = None
    max_length: Annotated[int, Field(ge=1, le=2000)] | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class CustomFieldUpdate(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    required: bool | None = None
    options: Annotated[list[Option], Field(max_length=100)] | None = None


class ApiKeyCreate(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
