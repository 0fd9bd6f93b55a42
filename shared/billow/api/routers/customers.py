"""/v1/customers"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.customers import (
    NOT_NULLABLE,
    CustomerCreate,
    CustomerMerge,
    CustomerUpdate,
    CustomerUpsert,
)
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.customer import customer_to_dict
from billow.ports.queries import CustomerFilter

router = Router()
TAGS = ["Customers"]
CustomerId = Annotated[str, Path(description="The customer's id", max_length=64)]


@router.post("/customers", middlewares=[idempotency_required], tags=TAGS, summary="Create a customer")
def create_customer(customer: Annotated[CustomerCreate, Body(embed=False)]) -> Response[str]:
    changes = sent_fields(customer, NOT_NULLABLE)
    created = container().customers.create(current_request().require_scope(), changes)
    return single(customer_to_dict(created), status=201, headers={"Location": f"/v1/customers/{created.id}"})


@router.get("/customers", tags=TAGS, summary="List customers, newest first")
def list_customers(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[Literal["active", "disabled", "archived"] | None, Query()] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    external_id: Annotated[str | None, Query(max_length=128)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[Literal["individual", "company"] | None, Query()] = None,
    currency: Annotated[str | None, Query(min_length=3, max_length=3)] = None,
    created_after: Annotated[str | None, Query(description="RFC 3339, inclusive")] = None,
    created_before: Annotated[str | None, Query(description="RFC 3339, exclusive")] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    filters = CustomerFilter(
        status=status,
        email=email,
        tag=tag,
        type=type,
        currency=currency,
        created_after=created_after,
        created_before=created_before,
    )
    result = container().customers.list(current_request().require_scope(), filters, page, external_id)
    return listing(
        [customer_to_dict(c) for c in result.items], next_cursor(fingerprint, result.next_position)
    )


@router.get("/customers/<customer_id>", tags=TAGS, summary="Get a customer")
def get_customer(customer_id: CustomerId) -> Response[str]:
    return single(customer_to_dict(container().customers.get(current_request().require_scope(), customer_id)))


@router.patch("/customers/<customer_id>", tags=TAGS, summary="Update a customer (If-Match honoured)")
def update_customer(
    customer_id: CustomerId, customer: Annotated[CustomerUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(customer, NOT_NULLABLE)
    updated = container().customers.update(
        current_request().require_scope(), customer_id, changes, if_match()
    )
    return single(customer_to_dict(updated))


@router.get("/customers/by-external-id/<external_id>", tags=TAGS, summary="Get a customer by external id")
def get_customer_by_external_id(external_id: Annotated[str, Path(max_length=128)]) -> Response[str]:
    found = container().customers.get_by_external_id(current_request().require_scope(), external_id)
    return single(customer_to_dict(found))


@router.put("/customers/by-external-id/<external_id>", tags=TAGS, summary="Create or update by external id")
def upsert_customer(
    external_id: Annotated[str, Path(max_length=128, pattern=r"^[A-Za-z0-9._:@+=-]+$")],
    customer: Annotated[CustomerUpsert, Body(embed=False)],
) -> Response[str]:
    changes = sent_fields(customer, NOT_NULLABLE)
    result, created = container().customers.upsert_by_external_id(
        current_request().require_scope(), external_id, changes
    )
    return single(customer_to_dict(result), status=201 if created else 200)


@router.post(
    "/customers/<customer_id>/disable", middlewares=[idempotency_optional], tags=TAGS, summary="Disable"
)
def disable_customer(customer_id: CustomerId) -> Response[str]:
    return single(
        customer_to_dict(
            container().customers.disable(current_request().require_scope(), customer_id, if_match())
        )
    )


@router.post(
    "/customers/<customer_id>/enable", middlewares=[idempotency_optional], tags=TAGS, summary="Enable"
)
def enable_customer(customer_id: CustomerId) -> Response[str]:
    return single(
        customer_to_dict(
            container().customers.enable(current_request().require_scope(), customer_id, if_match())
        )
    )


@router.post(
    "/customers/<customer_id>/merge",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Merge another customer into this one",
)
def merge_customer(
    customer_id: CustomerId, merge: Annotated[CustomerMerge, Body(embed=False)]
) -> Response[str]:
    merged = container().customers.merge(
        current_request().require_scope(), customer_id, merge.from_customer_id, if_match()
    )
    return single(customer_to_dict(merged))
