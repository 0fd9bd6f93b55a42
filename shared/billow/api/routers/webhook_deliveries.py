"""/v1/webhook-endpoints/{id}/deliveries (the delivery log) and /v1/webhook-deliveries."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.errors import NotFound
from billow.domain.webhook_delivery import delivery_to_dict

router = Router()
TAGS = ["Webhook endpoints"]
Id = Annotated[str, Path(description="The object's id", max_length=64)]


@router.get(
    "/webhook-endpoints/<endpoint_id>/deliveries",
    tags=TAGS,
    summary="The endpoint's delivery log, newest first: every attempt with its status code, latency and "
    "a response excerpt",
)
def list_endpoint_deliveries(
    endpoint_id: Id,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[str]:
    scope = current_request().require_scope()
    container().webhook_endpoints.get(scope, endpoint_id)  # 404 for another tenant's endpoint
    page, fingerprint = page_from(limit, cursor)
    result = container().webhook_deliveries.of_endpoint(scope, endpoint_id, page)
    return listing(
        [delivery_to_dict(d) for d in result.items], next_cursor(fingerprint, result.next_position)
    )


@router.get("/webhook-deliveries/<delivery_id>", tags=TAGS, summary="Get a webhook delivery")
def get_webhook_delivery(delivery_id: Id) -> Response[str]:
    delivery = container().webhook_deliveries.get(current_request().require_scope(), delivery_id)
    if delivery is None:
        raise NotFound(detail=f"no webhook delivery with id {delivery_id}")
    return single(delivery_to_dict(delivery))


@router.post(
    "/webhook-deliveries/<delivery_id>/retry",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Send a delivered or failed delivery again now (same webhook-id)",
)
def retry_webhook_delivery(delivery_id: Id) -> Response[str]:
    retried = container().webhook_dispatcher.retry(current_request().require_scope(), delivery_id)
    return single(delivery_to_dict(retried))
