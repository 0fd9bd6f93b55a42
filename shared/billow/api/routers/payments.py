"""/v1/payments, /v1/refunds, /v1/test-payment-simulations, an invoice's ``pay`` and manual
``payments`` actions, and the inbound gateway webhooks (docs/payments.md)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_required
from billow.api.models.payments import InvoicePay, ManualPaymentCreate, PaymentSimulationCreate, RefundCreate
from billow.api.request import current_request
from billow.api.responses import JSON, listing, single
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.payment import payment_to_dict, refund_to_dict
from billow.domain.tenancy import Scope

router = Router()
TAGS = ["Payments"]
Id = Annotated[str, Path(description="The object's id", max_length=64)]
PaymentStatusFilter = Literal[
    "pending", "processing", "requires_action", "succeeded", "failed", "charged_back"
]


def _scope() -> Scope:
    return current_request().require_scope()


# --- charging an invoice ----------------------------------------------------------------------


@router.post(
    "/invoices/<invoice_id>/pay",
    middlewares=[idempotency_required],
    tags=["Invoices", *TAGS],
    summary="Charge the invoice now through its customer's payment method",
)
def pay_invoice(
    invoice_id: Id, body: Annotated[InvoicePay | None, Body(embed=False)] = None
) -> Response[str]:
    payment = container().payments.pay(_scope(), invoice_id, body.payment_method_id if body else None)
    return single(payment_to_dict(payment), status=201, headers={"Location": f"/v1/payments/{payment.id}"})


@router.post(
    "/invoices/<invoice_id>/payments",
    middlewares=[idempotency_required],
    tags=["Invoices", *TAGS],
    summary="Record a payment received outside any gateway (bank transfer, cash, check)",
)
def record_manual_payment(
    invoice_id: Id, body: Annotated[ManualPaymentCreate, Body(embed=False)]
) -> Response[str]:
    payment = container().payments.record_manual(_scope(), invoice_id, body.model_dump())
    return single(payment_to_dict(payment), status=201, headers={"Location": f"/v1/payments/{payment.id}"})


# --- payments -------------------------------------------------------------------------------------


@router.get("/payments", tags=TAGS, summary="List payments, newest first")
def list_payments(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    invoice_id: Annotated[str | None, Query(max_length=64)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[PaymentStatusFilter | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().payments.list(
        _scope(), page, invoice_id=invoice_id, customer_id=customer_id, status=status
    )
    return listing([payment_to_dict(p) for p in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/payments/<payment_id>", tags=TAGS, summary="Get a payment")
def get_payment(payment_id: Id) -> Response[str]:
    return single(payment_to_dict(container().payments.get(_scope(), payment_id)))


# --- refunds ------------------------------------------------------------------------------------


@router.post(
    "/refunds",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Refund a payment (full or partial) through its gateway, with a credit note",
)
def create_refund(body: Annotated[RefundCreate, Body(embed=False)]) -> Response[str]:
    refund = container().refunds.create(_scope(), body.model_dump())
    return single(refund_to_dict(refund), status=201, headers={"Location": f"/v1/refunds/{refund.id}"})


@router.get("/refunds", tags=TAGS, summary="List refunds, newest first")
def list_refunds(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    payment_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Literal["pending", "succeeded", "failed"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().refunds.list(_scope(), page, payment_id=payment_id, status=status)
    return listing([refund_to_dict(r) for r in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/refunds/<refund_id>", tags=TAGS, summary="Get a refund")
def get_refund(refund_id: Id) -> Response[str]:
    return single(refund_to_dict(container().refunds.get(_scope(), refund_id)))


@router.post(
    "/refunds/<refund_id>/retry",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Send a pending refund to its gateway again (same idempotency key)",
)
def retry_refund(refund_id: Id) -> Response[str]:
    return single(refund_to_dict(container().refunds.retry(_scope(), refund_id)))


# --- sandbox simulations ------------------------------------------------------------------------


@router.post(
    "/test-payment-simulations",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Sandbox: force the next charge of a payment method, or report an outcome of a payment now",
)
def simulate_payment(body: Annotated[PaymentSimulationCreate, Body(embed=False)]) -> Response[str]:
    simulation = container().payment_simulations.simulate(_scope(), body.model_dump())
    return single(simulation, status=201)


# --- inbound gateway webhooks ---------------------------------------------------------------------


@router.post(
    "/gateway-webhooks/<provider>/<gateway_id>",
    tags=TAGS,
    summary="Receive a gateway's webhook (signed by the gateway; no API key)",
)
def receive_gateway_webhook(
    provider: Literal["stripe", "gocardless", "sandbox"], gateway_id: Id
) -> Response[str]:
    request = current_request()
    body = (request.body or "").encode()
    receipt = container().gateway_webhooks.receive(provider, gateway_id, body, request.headers)
    answer = {"received": receipt.received, "applied": receipt.applied}
    return Response(status_code=200, content_type=JSON, body=json.dumps(answer))
