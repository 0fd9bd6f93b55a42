"""Request bodies of /v1/usage-alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

AlertName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Threshold = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class UsageAlertCreate(StrictModel):
    subscription_id: Id
    meter_id: Id
    metric: Literal["units", "amount"] = Field(
        default="units", description="units of the meter, or the amount they bill (subscription currency)"
    )
    thresholds: Annotated[list[Threshold], Field(min_length=1, max_length=10)] = Field(
        description='decimal strings, e.g. ["800", "1000"]; each fires usage.threshold_reached once a period'
    )
    action: Literal["notify", "block"] = Field(
        default="notify", description="block: ingest refuses the meter's events once a threshold is reached"
    )
    name: AlertName | None = None
    metadata: Metadata = Field(default_factory=dict)


class UsageAlertUpdate(StrictModel):
    name: AlertName | None = None
    metadata: Metadata | None = None


NOT_NULLABLE = frozenset({"metadata"})
