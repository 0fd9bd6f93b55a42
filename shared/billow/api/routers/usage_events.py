"""/v1/usage/events: the ingest route, served by its own function (functions/ingest) so a flood
of usage never starves the rest of the API."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from billow.api.container import container
from billow.api.request import current_request
from billow.api.responses import JSON, single, to_json
from billow.domain.errors import FieldError, NotFound, ValidationFailed

router = Router()
TAGS = ["Usage"]
MAX_BATCH = 1_000


def _events_of(body: Any) -> list[Any]:
    """One event, or ``{"events": [...]}`` with 1 to 1,000 of them. Only the envelope can fail
    the whole request; each event is checked on its own."""
    if not isinstance(body, dict):
        raise ValidationFailed(detail="the body must be a JSON object", errors=[FieldError("", "an object")])
    if "events" not in body:
        return [body]
    events = body["events"]
    errors = [FieldError(f"/{k}", "unknown field; send events only") for k in body if k != "events"]
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
        errors.append(FieldError("/events", f"a list of 1 to {MAX_BATCH} events"))
    if errors:
        raise ValidationFailed(detail="the batch is invalid", errors=errors)
    return list(events)


@router.post(
    "/usage/events",
    tags=TAGS,
    summary='Send usage events (one, or up to 1,000 in {"events": [...]})',
    description=(
        "Answers 202 with one result per event, in order: accepted (counted once), duplicate "
        "(its id was seen in the last 35 days) or rejected (with a code and detail). A bad event "
        "never drops the rest of the batch."
    ),
)
def send_usage_events() -> Response[str]:
    request = current_request()
    events = _events_of(json.loads(request.body or "{}"))
    batch_id, results = container().usage_ingest.ingest(request.require_scope(), events)
    counts = {
        status: sum(1 for r in results if r.status == status)
        for status in ("accepted", "duplicate", "rejected")
    }
    body = {
        "data": {
            "object": "usage_event_batch",
            "batch_id": batch_id,
            **counts,
            "results": [r.to_dict() for r in results],
        }
    }
    return Response(status_code=202, content_type=JSON, body=to_json(body))


@router.get("/usage/events/<event_id>", tags=TAGS, summary="Get what became of a usage event (35 days)")
def get_usage_event(event_id: Annotated[str, Path(max_length=128)]) -> Response[str]:
    found = container().usage_store.event(current_request().require_scope(), event_id)
    if found is None:
        raise NotFound(detail=f"no usage event with id {event_id} in the last 35 days")
    return single(found)
