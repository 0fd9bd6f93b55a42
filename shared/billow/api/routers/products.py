"""/v1/products"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.products import NOT_NULLABLE, ProductCreate, ProductUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.product import product_to_dict
from billow.ports.queries import ProductFilter

router = Router()
TAGS = ["Products"]
ProductId = Annotated[str, Path(description="The product's id", max_length=64)]


@router.post("/products", middlewares=[idempotency_required], tags=TAGS, summary="Create a product")
def create_product(product: Annotated[ProductCreate, Body(embed=False)]) -> Response[str]:
    created = container().products.create(current_request().require_scope(), product.model_dump())
    return single(product_to_dict(created), status=201, headers={"Location": f"/v1/products/{created.id}"})


@router.get("/products", tags=TAGS, summary="List products, newest first")
def list_products(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    type: Annotated[Literal["recurring", "usage", "one_time", "seat"] | None, Query()] = None,
    status: Annotated[Literal["active", "archived"] | None, Query()] = None,
    external_id: Annotated[str | None, Query(max_length=128)] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().products.list(
        current_request().require_scope(), ProductFilter(type=type, status=status), page, external_id
    )
    return listing([product_to_dict(p) for p in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/products/<product_id>", tags=TAGS, summary="Get a product")
def get_product(product_id: ProductId) -> Response[str]:
    return single(product_to_dict(container().products.get(current_request().require_scope(), product_id)))


@router.patch("/products/<product_id>", tags=TAGS, summary="Update a product (If-Match honoured)")
def update_product(
    product_id: ProductId, product: Annotated[ProductUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(product, NOT_NULLABLE)
    updated = container().products.update(current_request().require_scope(), product_id, changes, if_match())
    return single(product_to_dict(updated))


@router.post(
    "/products/<product_id>/archive", middlewares=[idempotency_optional], tags=TAGS, summary="Archive"
)
def archive_product(product_id: ProductId) -> Response[str]:
    archived = container().products.archive(current_request().require_scope(), product_id, if_match())
    return single(product_to_dict(archived))


@router.post(
    "/products/<product_id>/unarchive", middlewares=[idempotency_optional], tags=TAGS, summary="Unarchive"
)
def unarchive_product(product_id: ProductId) -> Response[str]:
    restored = container().products.unarchive(current_request().require_scope(), product_id, if_match())
    return single(product_to_dict(restored))
