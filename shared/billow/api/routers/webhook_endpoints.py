"""/v1/webhook-endpoints"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.webhook_endpoints import (
    NOT_NULLABLE,
    SecretRotation,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.webhook_endpoint import webhook_endpoint_to_dict

router = Router()
TAGS = ["Webhook endpoints"]
EndpointId = Annotated[str, Path(description="The webhook endpoint's id", max_length=64)]


@router.post(
    "/webhook-endpoints",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Create a webhook endpoint (its signing secret is shown in this answer only)",
)
def create_endpoint(endpoint: Annotated[WebhookEndpointCreate, Body(embed=False)]) -> Response[str]:
    issued = container().webhook_endpoints.create(current_request().require_scope(), endpoint.model_dump())
    return single(
        webhook_endpoint_to_dict(issued.endpoint, issued.secret),
        status=201,
        headers={"Location": f"/v1/webhook-endpoints/{issued.endpoint.id}"},
    )


@router.get("/webhook-endpoints", tags=TAGS, summary="List webhook endpoints, newest first")
def list_endpoints(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[Literal["enabled", "disabled"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().webhook_endpoints.list(current_request().require_scope(), page, status)
    return listing(
        [webhook_endpoint_to_dict(e) for e in result.items], next_cursor(fingerprint, result.next_position)
    )


@router.get("/webhook-endpoints/<endpoint_id>", tags=TAGS, summary="Get a webhook endpoint")
def get_endpoint(endpoint_id: EndpointId) -> Response[str]:
    endpoint = container().webhook_endpoints.get(current_request().require_scope(), endpoint_id)
    return single(webhook_endpoint_to_dict(endpoint))


@router.patch(
    "/webhook-endpoints/<endpoint_id>",
    tags=TAGS,
    summary="Update a webhook endpoint: url, description, event types, status, metadata (If-Match honoured)",
)
def update_endpoint(
    endpoint_id: EndpointId, endpoint: Annotated[WebhookEndpointUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(endpoint, NOT_NULLABLE)
    updated = container().webhook_endpoints.update(
        current_request().require_scope(), endpoint_id, changes, if_match()
    )
    return single(webhook_endpoint_to_dict(updated))


@router.post(
    "/webhook-endpoints/<endpoint_id>/rotate-secret",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Make a new signing secret (shown in this answer only); the old one signs for a grace period",
)
def rotate_secret(
    endpoint_id: EndpointId, body: Annotated[SecretRotation | None, Body(embed=False)] = None
) -> Response[str]:
    rotation = body or SecretRotation()
    issued = container().webhook_endpoints.rotate_secret(
        current_request().require_scope(), endpoint_id, rotation.expire_previous_in_seconds, if_match()
    )
    return single(webhook_endpoint_to_dict(issued.endpoint, issued.secret))
