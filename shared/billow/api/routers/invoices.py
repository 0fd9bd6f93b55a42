"""/v1/invoices (read) and a customer's credit balance."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from billow.api.container import container
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.errors import NotFound
from billow.domain.tenancy import Scope

router = Router()
TAGS = ["Invoices"]


def _scope() -> Scope:
    return current_request().require_scope()


@router.get("/invoices", tags=TAGS, summary="List invoices, newest first")
def list_invoices(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    subscription_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    from billow.domain.invoice import invoice_to_dict

    page, fingerprint = page_from(limit, cursor)
    result = container().invoices.list(_scope(), customer_id, subscription_id, page)
    return listing([invoice_to_dict(i) for i in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/invoices/<invoice_id>", tags=TAGS, summary="Get an invoice")
def get_invoice(invoice_id: Annotated[str, Path(max_length=64)]) -> Response[str]:
    from billow.domain.invoice import invoice_to_dict

    invoice = container().invoices.get(_scope(), invoice_id)
    if invoice is None:
        raise NotFound(detail=f"no invoice with id {invoice_id}")
    return single(invoice_to_dict(invoice))


@router.get(
    "/customers/<customer_id>/credit-balance",
    tags=["Customers"],
    summary="The customer's credit balance per currency and its latest movements",
)
def get_credit_balance(
    customer_id: Annotated[str, Path(max_length=64)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[str]:
    scope = _scope()
    container().customers.get(scope, customer_id)  # 404 for an unknown customer
    page, fingerprint = page_from(limit, cursor)
    balances = container().credit_balances.balances(scope, customer_id)
    entries = container().credit_balances.entries(scope, customer_id, page)
    return single(
        {
            "object": "credit_balance",
            "customer_id": customer_id,
            "balances": [b.as_dict() for b in balances],
            "transactions": [
                {
                    "id": e.id,
                    "amount": e.amount.as_dict(),
                    "reason": e.reason,
                    "subscription_id": e.subscription_id,
                    "invoice_id": e.invoice_id,
                    "created_at": e.created_at,
                }
                for e in entries.items
            ],
            "next_cursor": next_cursor(fingerprint, entries.next_position),
        }
    )
