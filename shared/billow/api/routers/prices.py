"""/v1/prices"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.prices import Model, PriceComputeRequest, PriceCreate, PriceUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.price import price_to_dict
from billow.ports.queries import PriceFilter

router = Router()
TAGS = ["Prices"]
PriceId = Annotated[str, Path(description="The price's id", max_length=64)]


@router.post("/prices", middlewares=[idempotency_required], tags=TAGS, summary="Create a price")
def create_price(price: Annotated[PriceCreate, Body(embed=False)]) -> Response[str]:
    raw = price.model_dump(exclude_unset=True)
    created = container().prices.create(current_request().require_scope(), raw)
    return single(price_to_dict(created), status=201, headers={"Location": f"/v1/prices/{created.id}"})


@router.get("/prices", tags=TAGS, summary="List prices, newest first")
def list_prices(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    product_id: Annotated[str | None, Query(max_length=64)] = None,
    currency: Annotated[str | None, Query(min_length=3, max_length=3)] = None,
    model: Annotated[Model | None, Query()] = None,
    status: Annotated[str | None, Query(pattern="^(active|archived)$")] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    filters = PriceFilter(product_id=product_id, currency=currency, model=model, status=status)
    result = container().prices.list(current_request().require_scope(), filters, page)
    return listing([price_to_dict(p) for p in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/prices/<price_id>", tags=TAGS, summary="Get a price")
def get_price(price_id: PriceId) -> Response[str]:
    return single(price_to_dict(container().prices.get(current_request().require_scope(), price_id)))


@router.patch("/prices/<price_id>", tags=TAGS, summary="Rename a price or change its metadata")
def update_price(price_id: PriceId, price: Annotated[PriceUpdate, Body(embed=False)]) -> Response[str]:
    changes = sent_fields(price, ("metadata",))
    updated = container().prices.update(current_request().require_scope(), price_id, changes, if_match())
    return single(price_to_dict(updated))


@router.post("/prices/<price_id>/archive", middlewares=[idempotency_optional], tags=TAGS, summary="Archive")
def archive_price(price_id: PriceId) -> Response[str]:
    return single(
        price_to_dict(container().prices.archive(current_request().require_scope(), price_id, if_match()))
    )


@router.post("/prices/<price_id>/compute", tags=TAGS, summary="Compute the amount for a quantity")
def compute_price(
    price_id: PriceId, request: Annotated[PriceComputeRequest, Body(embed=False)]
) -> Response[str]:
    result = container().prices.compute(
        current_request().require_scope(), price_id, request.model_dump(exclude_unset=True)
    )
    return single(result.to_dict())
