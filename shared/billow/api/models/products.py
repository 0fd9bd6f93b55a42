"""Request bodies of /v1/products."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel
from billow.api.models.customers import ExternalId

ProductName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Description = Annotated[str, StringConstraints(max_length=2000)]
TaxCategory = Annotated[str, StringConstraints(min_length=1, max_length=40)]
UnitLabel = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class ProductCreate(StrictModel):
    name: ProductName
    type: Literal["recurring", "usage", "one_time", "seat"]
    external_id: ExternalId | None = None
    description: Description | None = None
    tax_category: TaxCategory = Field(
        default="standard", description="matched by tax rules, e.g. standard, reduced"
    )
    requires_product_ids: Annotated[list[Id], Field(max_length=20)] = Field(default_factory=list)
    unit_label: UnitLabel | None = Field(default=None, description="e.g. seat, GB, API call")
    metadata: Metadata = Field(default_factory=dict)


class ProductUpdate(StrictModel):
    """The type is fixed once created: prices and plans were built for it."""

    name: ProductName | None = None
    external_id: ExternalId | None = None
    description: Description | None = None
    tax_category: TaxCategory | None = None
    requires_product_ids: Annotated[list[Id], Field(max_length=20)] | None = None
    unit_label: UnitLabel | None = None
    metadata: Metadata | None = None


NOT_NULLABLE = frozenset({"name", "tax_category", "requires_product_ids", "metadata"})
