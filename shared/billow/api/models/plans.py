"""Request bodies of /v1/plans."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

PlanName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Interval = Literal["day", "week", "month", "quarter", "year"]


class ComponentIn(StrictModel):
    price_id: Id
    product_id: Id | None = Field(default=None, description="optional; must be the price's product")
    included_quantity: Any = Field(default="0", description="a decimal string; units not charged")


class VersionFields(StrictModel):
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] | None = None
    interval: Interval | None = None
    interval_count: Annotated[int, Field(ge=1, le=36)] | None = None
    trial_days: Annotated[int, Field(ge=0, le=730)] | None = None
    components: Annotated[list[ComponentIn], Field(max_length=50)] | None = None


class PlanCreate(VersionFields):
    """A plan and its first (draft) version."""

    name: PlanName
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    metadata: Metadata = Field(default_factory=dict)


class PlanUpdate(StrictModel):
    name: PlanName | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    metadata: Metadata | None = None


class PlanPreview(StrictModel):
    version: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="default: the latest published version, else the draft"
    )
    quantities: dict[str, Any] | None = Field(
        default=None, description="component id or product id -> decimal string quantity"
    )
    customer_id: Id | None = Field(default=None, description="price for this customer: their overrides apply")


class PlanMigration(StrictModel):
    from_version: Annotated[int, Field(ge=1)]
    to_version: Annotated[int, Field(ge=1)]
    when: Literal["immediately", "next_period"] = "next_period"
    proration_behavior: Literal["create_prorations", "always_invoice", "none"] = "create_prorations"
