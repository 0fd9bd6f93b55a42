"""/v1/payment-methods"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.payment_methods import NOT_NULLABLE, PaymentMethodCreate, PaymentMethodUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.payment_method import payment_method_to_dict

router = Router()
TAGS = ["Payment methods"]
MethodId = Annotated[str, Path(description="The payment method's id", max_length=64)]


def _without_nulls(details: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (details or {}).items() if v is not None}


@router.post(
    "/payment-methods", middlewares=[idempotency_required], tags=TAGS, summary="Attach a payment method"
)
def attach_payment_method(method: Annotated[PaymentMethodCreate, Body(embed=False)]) -> Response[str]:
    raw = method.model_dump()
    raw["details"] = _without_nulls(raw["details"])
    attached = container().payment_methods.attach(current_request().require_scope(), raw)
    return single(
        payment_method_to_dict(attached),
        status=201,
        headers={"Location": f"/v1/payment-methods/{attached.id}"},
    )


@router.get("/payment-methods", tags=TAGS, summary="List payment methods, newest first")
def list_payment_methods(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Literal["active", "detached"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().payment_methods.list(current_request().require_scope(), page, customer_id, status)
    return listing(
        [payment_method_to_dict(m) for m in result.items], next_cursor(fingerprint, result.next_position)
    )


@router.get("/payment-methods/<method_id>", tags=TAGS, summary="Get a payment method")
def get_payment_method(method_id: MethodId) -> Response[str]:
    method = container().payment_methods.get(current_request().require_scope(), method_id)
    return single(payment_method_to_dict(method))


@router.patch(
    "/payment-methods/<method_id>",
    tags=TAGS,
    summary="Update details, metadata or make default (If-Match honoured)",
)
def update_payment_method(
    method_id: MethodId, method: Annotated[PaymentMethodUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(method, NOT_NULLABLE)
    if "details" in changes:
        changes["details"] = _without_nulls(changes["details"])
    updated = container().payment_methods.update(
        current_request().require_scope(), method_id, changes, if_match()
    )
    return single(payment_method_to_dict(updated))


@router.post(
    "/payment-methods/<method_id>/detach", middlewares=[idempotency_optional], tags=TAGS, summary="Detach"
)
def detach_payment_method(method_id: MethodId) -> Response[str]:
    detached = container().payment_methods.detach(current_request().require_scope(), method_id, if_match())
    return single(payment_method_to_dict(detached))
