"""/v1/invoices, /v1/credit-notes, /v1/settings and a customer's credit balance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.invoices import (
    CreditNoteCreate,
    InvoiceCreate,
    InvoiceLineIn,
    InvoiceLinePatch,
    InvoiceUpdate,
    SettingsUpdate,
)
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.tenancy import Scope

if TYPE_CHECKING:
    from billow.domain.invoice import Invoice

router = Router()
TAGS = ["Invoices"]
InvoiceId = Annotated[str, Path(description="The invoice's id", max_length=64)]
Status = Literal["draft", "finalized", "paid", "void", "uncollectible"]


def _scope() -> Scope:
    return current_request().require_scope()


def _invoice(invoice: Invoice, status: int = 200) -> Response[str]:
    from billow.domain.invoice import invoice_to_dict

    return single(invoice_to_dict(invoice), status=status)


@router.post(
    "/invoices", middlewares=[idempotency_required], tags=TAGS, summary="Create a one-off draft invoice"
)
def create_invoice(invoice: Annotated[InvoiceCreate, Body(embed=False)]) -> Response[str]:
    raw = invoice.model_dump(exclude_unset=True)
    raw["lines"] = [line.model_dump(exclude_unset=True) for line in invoice.lines]
    created = container().invoicing.create(_scope(), raw)
    response = _invoice(created, 201)
    response.headers["Location"] = f"/v1/invoices/{created.id}"
    return response


@router.get("/invoices", tags=TAGS, summary="List invoices, newest first")
def list_invoices(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    subscription_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Status | None, Query()] = None,
    type: Annotated[Literal["subscription", "proration", "one_off"] | None, Query()] = None,
) -> Response[str]:
    from billow.domain.invoice import invoice_to_dict
    from billow.ports.queries import InvoiceFilter

    page, fingerprint = page_from(limit, cursor)
    filters = InvoiceFilter(
        customer_id=customer_id, subscription_id=subscription_id, status=status, type=type
    )
    result = container().invoicing.list(_scope(), filters, page)
    return listing([invoice_to_dict(i) for i in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/invoices/<invoice_id>", tags=TAGS, summary="Get an invoice")
def get_invoice(invoice_id: InvoiceId) -> Response[str]:
    return _invoice(container().invoicing.get(_scope(), invoice_id))


@router.patch(
    "/invoices/<invoice_id>", tags=TAGS, summary="Change a draft (or a finalized invoice's metadata)"
)
def update_invoice(
    invoice_id: InvoiceId, invoice: Annotated[InvoiceUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(invoice, ("collection_method", "payment_terms_days", "auto_advance", "metadata"))
    return _invoice(container().invoicing.update(_scope(), invoice_id, changes, if_match()))


@router.post(
    "/invoices/<invoice_id>/lines",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Add a line to a draft",
)
def add_invoice_line(
    invoice_id: InvoiceId, line: Annotated[InvoiceLineIn, Body(embed=False)]
) -> Response[str]:
    raw = line.model_dump(exclude_unset=True)
    return _invoice(container().invoicing.add_line(_scope(), invoice_id, raw, if_match()))


@router.patch("/invoices/<invoice_id>/lines/<line_id>", tags=TAGS, summary="Change a line of a draft")
def update_invoice_line(
    invoice_id: InvoiceId,
    line_id: Annotated[str, Path(max_length=64)],
    line: Annotated[InvoiceLinePatch, Body(embed=False)],
) -> Response[str]:
    raw = line.model_dump(exclude_unset=True)
    return _invoice(container().invoicing.update_line(_scope(), invoice_id, line_id, raw, if_match()))


@router.delete("/invoices/<invoice_id>/lines/<line_id>", tags=TAGS, summary="Remove a line from a draft")
def delete_invoice_line(invoice_id: InvoiceId, line_id: Annotated[str, Path(max_length=64)]) -> Response[str]:
    return _invoice(container().invoicing.delete_line(_scope(), invoice_id, line_id, if_match()))


@router.post(
    "/invoices/<invoice_id>/refresh",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Recompute a draft's tax",
)
def refresh_invoice(invoice_id: InvoiceId) -> Response[str]:
    return _invoice(container().invoicing.refresh(_scope(), invoice_id, if_match()))


@router.post(
    "/invoices/<invoice_id>/finalize",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Finalize a draft: number it, pin tax and FX, apply the credit balance",
)
def finalize_invoice(invoice_id: InvoiceId) -> Response[str]:
    return _invoice(container().invoicing.finalize(_scope(), invoice_id, if_match()))


@router.post(
    "/invoices/<invoice_id>/void", middlewares=[idempotency_optional], tags=TAGS, summary="Void an invoice"
)
def void_invoice(invoice_id: InvoiceId) -> Response[str]:
    return _invoice(container().invoicing.void(_scope(), invoice_id, if_match()))


@router.post(
    "/invoices/<invoice_id>/mark_uncollectible",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Mark a finalized invoice uncollectible",
)
def mark_invoice_uncollectible(invoice_id: InvoiceId) -> Response[str]:
    return _invoice(container().invoicing.mark_uncollectible(_scope(), invoice_id, if_match()))


# --- credit notes -------------------------------------------------------------------------------


def _note(note: Any, status: int = 200) -> Response[str]:
    from billow.domain.credit_note import credit_note_to_dict

    data = credit_note_to_dict(note)
    data.pop("sequence", None)
    return single(data, status=status)


@router.post(
    "/credit-notes",
    middlewares=[idempotency_required],
    tags=["Credit notes"],
    summary="Credit a finalized invoice",
)
def create_credit_note(note: Annotated[CreditNoteCreate, Body(embed=False)]) -> Response[str]:
    raw = note.model_dump(exclude_unset=True)
    if note.lines is not None:
        raw["lines"] = [line.model_dump(exclude_unset=True) for line in note.lines]
    issued = container().credit_notes.issue(_scope(), raw)
    response = _note(issued, 201)
    response.headers["Location"] = f"/v1/credit-notes/{issued.id}"
    return response


@router.post(
    "/credit-notes/preview",
    tags=["Credit notes"],
    summary="What a credit note would credit, without issuing it",
)
def preview_credit_note(note: Annotated[CreditNoteCreate, Body(embed=False)]) -> Response[str]:
    from billow.services.credit_notes import plan_to_dict

    raw = note.model_dump(exclude_unset=True)
    if note.lines is not None:
        raw["lines"] = [line.model_dump(exclude_unset=True) for line in note.lines]
    invoice = container().invoicing.get(_scope(), note.invoice_id)
    return single(plan_to_dict(container().credit_notes.preview(_scope(), raw), invoice.currency))


@router.get("/credit-notes", tags=["Credit notes"], summary="List credit notes, newest first")
def list_credit_notes(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    invoice_id: Annotated[str | None, Query(max_length=64)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    from billow.domain.credit_note import credit_note_to_dict

    page, fingerprint = page_from(limit, cursor)
    result = container().credit_notes.list(_scope(), invoice_id, customer_id, page)
    items = [{k: v for k, v in credit_note_to_dict(n).items() if k != "sequence"} for n in result.items]
    return listing(items, next_cursor(fingerprint, result.next_position))


@router.get("/credit-notes/<note_id>", tags=["Credit notes"], summary="Get a credit note")
def get_credit_note(note_id: Annotated[str, Path(max_length=64)]) -> Response[str]:
    return _note(container().credit_notes.get(_scope(), note_id))


# --- settings and credit balance ------------------------------------------------------------------


@router.get("/settings", tags=["Settings"], summary="The tenant's settings")
def get_settings_route() -> Response[str]:
    from billow.services.settings import settings_to_dict

    return single(settings_to_dict(container().settings.get(_scope())))


@router.patch(
    "/settings",
    tags=["Settings"],
    summary="Change invoice numbering, payment terms, grace period, document branding",
)
def update_settings(settings: Annotated[SettingsUpdate, Body(embed=False)]) -> Response[str]:
    from billow.services.settings import settings_to_dict

    changes = sent_fields(
        settings,
        (
            "timezone",
            "invoice_number_format",
            "credit_note_number_format",
            "payment_terms_days",
            "invoice_grace_period_days",
            "embed_einvoice_in_pdf",
        ),
    )
    if settings.branding is not None:
        changes["branding"] = settings.branding.model_dump(exclude_unset=True)
    return single(settings_to_dict(container().settings.update(_scope(), changes, if_match())))


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
