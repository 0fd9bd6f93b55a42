"""/v1/events: the event log, the same envelopes webhooks carry, for polling and replay."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from billow.api.container import container
from billow.api.request import current_request
from billow.api.responses import listing
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
