"""/v1/events: the event log, the same envelopes webhooks carry, for polling and replay."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import Field

from billow.api.container import container
from billow.api.idempotency import idempotency_optional
from billow.api.models.common import StrictModel
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._paging import next_cursor, page_from

router = Router()


@router.get("/events", tags=["Events"], summary="List events, newest first (sort=asc: oldest first)")
def list_events(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    type: Annotated[str | None, Query(max_length=100)] = None,
    aggregate_id: Annotated[str | None, Query(max_length=64)] = None,
    sort: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().event_log.list(
        current_request().require_scope(),
        page,
        event_type=type,
        aggregate_id=aggregate_id,
        oldest_first=sort == "asc",
    )
    # The envelope's sequence numbers are the order within one aggregate.
    return listing(list(result.items), next_cursor(fingerprint, result.next_position))


EventId = Annotated[str, Path(description="The event's id", max_length=64)]


class EventResend(StrictModel):
    endpoint_id: str | None = Field(
        default=None, max_length=64, description="only this endpoint; default: every endpoint that wants it"
    )


@router.get("/events/<event_id>", tags=["Events"], summary="Get one event of the log")
def get_event(event_id: EventId) -> Response[str]:
    from billow.domain.errors import NotFound

    envelope = container().webhook_deliveries.event_envelope(current_request().require_scope(), event_id)
    if envelope is None:
        raise NotFound(detail=f"no event with id {event_id} (events are kept 30 days)")
    return single(envelope)


@router.post(
    "/events/<event_id>/resend",
    middlewares=[idempotency_optional],
    tags=["Events"],
    summary="Deliver an event again to the webhook endpoints that want it (same webhook-id)",
)
def resend_event(
    event_id: EventId, body: Annotated[EventResend | None, Body(embed=False)] = None
) -> Response[str]:
    from billow.domain.webhook_delivery import delivery_to_dict

    deliveries = container().webhook_fanout.resend(
        current_request().require_scope(), event_id, body.endpoint_id if body else None
    )
    return listing([delivery_to_dict(d) for d in deliveries], None)
