"""Request bodies of /v1/meters."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Metadata, StrictModel

Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MeterName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Property = Annotated[str, StringConstraints(min_length=1, max_length=64)]
FilterValue = Annotated[str, StringConstraints(max_length=100)]
LatePolicy = Literal["reject", "bill_next_period"]


class MeterFilterIn(StrictModel):
    """An event counts when its property is (in) or is not (not_in) one of the values."""

    property: Property
    operator: Literal["in", "not_in"] = "in"
    values: Annotated[list[FilterValue], Field(min_length=1, max_length=100)]


class MeterCreate(StrictModel):
    code: Code = Field(description="What usage events name, unique per tenant, e.g. api_calls")
    name: MeterName
    description: Description | None = None
    aggregation: Literal["sum", "count", "unique_count", "max", "latest", "weighted_sum"]
    value_property: Property | None = Field(
        default=None, description="The event property carrying the value (all but count)"
    )
    filters: Annotated[list[MeterFilterIn], Field(max_length=10)] = Field(default_factory=list)
    group_by: Annotated[list[Property], Field(max_length=3)] = Field(
        default_factory=list, description="Properties splitting the usage into separately priced groups"
    )
    late_event_policy: LatePolicy = "reject"
    weighted_unit: Literal["period", "day", "hour"] = Field(
        default="period", description="weighted_sum only: average level (period) or level x time"
    )
    metadata: Metadata = Field(default_factory=dict)


class MeterUpdate(StrictModel):
    """The code, aggregation, value property, filters and groups are fixed once created."""

    name: MeterName | None = None
    description: Description | None = None
    late_event_policy: LatePolicy | None = None
    metadata: Metadata | None = None


NOT_NULLABLE = frozenset({"name", "late_event_policy", "metadata"})
