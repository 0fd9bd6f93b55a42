"""/v1/price-overrides: customer-specific prices."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.prices import PriceComputeRequest, PriceOverrideCreate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.price_override import override_to_dict

router = Router()
TAGS = ["Price overrides"]
OverrideId = Annotated[str, Path(description="The override's id", max_length=64)]


@router.post(
    "/price-overrides",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Override a price for a customer",
)
def create_price_override(override: Annotated[PriceOverrideCreate, Body(embed=False)]) -> Response[str]:
    created = container().price_overrides.create(
        current_request().require_scope(), override.model_dump(exclude_unset=True)
    )
    return single(
        override_to_dict(created), status=201, headers={"Location": f"/v1/price-overrides/{created.id}"}
    )


@router.get("/price-overrides", tags=TAGS, summary="List price overrides, newest first")
def list_price_overrides(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    product_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Literal["active", "archived"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().price_overrides.list(
        current_request().require_scope(), customer_id, product_id, status, page
    )
    return listing(
        [override_to_dict(o) for o in result.items], next_cursor(fingerprint, result.next_position)
    )


@router.get("/price-overrides/<override_id>", tags=TAGS, summary="Get a price override")
def get_price_override(override_id: OverrideId) -> Response[str]:
    return single(
        override_to_dict(container().price_overrides.get(current_request().require_scope(), override_id))
    )


@router.post(
    "/price-overrides/<override_id>/archive",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="End an override",
)
def archive_price_override(override_id: OverrideId) -> Response[str]:
    archived = container().price_overrides.archive(current_request().require_scope(), override_id, if_match())
    return single(override_to_dict(archived))


@router.post("/price-overrides/<override_id>/compute", tags=TAGS, summary="Compute the overridden amount")
def compute_price_override(
    override_id: OverrideId, request: Annotated[PriceComputeRequest, Body(embed=False)]
) -> Response[str]:
    result = container().price_overrides.compute(
        current_request().require_scope(), override_id, request.model_dump(exclude_unset=True)
    )
    return single(result.to_dict())
