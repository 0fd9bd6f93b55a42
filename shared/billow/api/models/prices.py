"""Request bodies of /v1/prices. The pricing terms (amount, tiers, …) are checked by the
pricing engine, which names every problem with its pointer; here they are only collected."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

Model = Literal["flat", "per_unit", "graduated", "volume", "staircase", "package", "percentage", "formula"]
Nickname = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PriceTermsFields(StrictModel):
    """The terms of a price, per model (docs/pricing.md). Typed loosely so that the pricing
    engine, not the model layer, reports each problem with its pointer."""

    amount: Any = None
    unit_amount: Any = None
    tiers: Any = None
    package_size: Any = None
    free_units: Any = None
    rounding: Any = None
    rate: Any = None
    fixed_amount: Any = None
    free_events: Any = None
    free_amount: Any = None
    min_amount: Any = None
    max_amount: Any = None
    expression: Any = None
    variables: Any = None


Currency = Annotated[str, StringConstraints(min_length=3, max_length=3)]


class PriceCreate(PriceTermsFields):
    product_id: Id
    currency: Currency = Field(description="ISO 4217")
    model: Model
    billing_timing: Literal["in_advance", "in_arrears"] | None = Field(
        default=None, description="default in_advance; usage prices are always in_arrears"
    )
    effective_from: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="date or RFC 3339 timestamp from which the price applies"
    )
    country: Annotated[str, StringConstraints(min_length=2, max_length=2)] | None = None
    meter_id: Id | None = None
    meter_group: (
        Annotated[
            dict[
                Annotated[str, StringConstraints(min_length=1, max_length=64)],
                Annotated[str, StringConstraints(max_length=100)],
            ],
            Field(min_length=1, max_length=3),
        ]
        | None
    ) = Field(default=None, description='bill only this group of the meter, e.g. {"region": "eu"}')
    nickname: Nickname | None = None
    metadata: Metadata = Field(default_factory=dict)


class PriceOverrideCreate(PriceTermsFields):
    customer_id: Id
    product_id: Id
    currency: Currency = Field(description="ISO 4217")
    model: Model
    metadata: Metadata = Field(default_factory=dict)


class PriceUpdate(StrictModel):
    """Only labels change; the economics of a price are fixed (create a new price instead)."""

    nickname: Nickname | None = None
    metadata: Metadata | None = None


class PriceComputeRequest(StrictModel):
    quantity: Any = Field(default="0", description='a decimal string, e.g. "21"')
    event_values: Annotated[list[Any], Field(max_length=10_000)] | None = None
    variables: dict[str, Any] | None = None
