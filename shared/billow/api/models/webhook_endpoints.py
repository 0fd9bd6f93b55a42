"""Request bodies of /v1/webhook-endpoints. Types and lengths are checked here; which URLs and
event types are acceptable is the domain's rule (``check_endpoint_url``, ``check_event_types``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Metadata, StrictModel

EndpointUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048),
    Field(description="https (http and loopback only in sandbox); no credentials, fragment or private host"),
]
Description = Annotated[str, StringConstraints(max_length=500)]
EventTypeFilter = Annotated[str, StringConstraints(min_length=1, max_length=100)]
EventTypes = Annotated[
    list[EventTypeFilter],
    Field(
        min_length=1,
        max_length=100,
        description='event types ("invoice.paid"), a resource\'s wildcard ("invoice.*"), or ["*"] for all',
    ),
]


class WebhookEndpointCreate(StrictModel):
    url: EndpointUrl
    description: Description | None = None
    event_types: EventTypes
    metadata: Metadata = Field(default_factory=dict)


class WebhookEndpointUpdate(StrictModel):
    url: EndpointUrl | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    status: Literal["enabled", "disabled"] | None = Field(
        default=None, description="enabling clears disabled_reason and failing_since"
    )
    metadata: Metadata | None = None


class SecretRotation(StrictModel):
    expire_previous_in_seconds: int = Field(
        default=86_400,
        ge=0,
        le=604_800,
        description="how long the previous secrets keep signing (both are sent meanwhile); 0 ends them now",
    )


NOT_NULLABLE = frozenset({"url", "event_types", "status", "metadata"})
