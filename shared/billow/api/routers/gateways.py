"""/v1/payment-gateways"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_required
from billow.api.models.gateways import NOT_NULLABLE, GatewayCreate, GatewayUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.gateway import gateway_to_dict

router = Router()
TAGS = ["Payment gateways"]
GatewayId = Annotated[str, Path(description="The payment gateway's id", max_length=64)]


@router.post(
    "/payment-gateways", middlewares=[idempotency_required], tags=TAGS, summary="Configure a payment gateway"
)
def create_gateway(gateway: Annotated[GatewayCreate, Body(embed=False)]) -> Response[str]:
    created = container().gateways.create(current_request().require_scope(), gateway.model_dump())
    return single(
        gateway_to_dict(created), status=201, headers={"Location": f"/v1/payment-gateways/{created.id}"}
    )


@router.get("/payment-gateways", tags=TAGS, summary="List payment gateways, newest first")
def list_gateways(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    provider: Annotated[Literal["stripe", "gocardless", "sandbox"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().gateways.list(current_request().require_scope(), page, provider)
    return listing([gateway_to_dict(g) for g in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/payment-gateways/<gateway_id>", tags=TAGS, summary="Get a payment gateway")
def get_gateway(gateway_id: GatewayId) -> Response[str]:
    return single(gateway_to_dict(container().gateways.get(current_request().require_scope(), gateway_id)))


@router.patch(
    "/payment-gateways/<gateway_id>",
    tags=TAGS,
    summary="Update a payment gateway: name, credentials, capabilities, default, status (If-Match honoured)",
)
def update_gateway(
    gateway_id: GatewayId, gateway: Annotated[GatewayUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(gateway, NOT_NULLABLE)
    updated = container().gateways.update(current_request().require_scope(), gateway_id, changes, if_match())
    return single(gateway_to_dict(updated))
