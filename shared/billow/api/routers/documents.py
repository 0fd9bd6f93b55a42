"""Invoice and credit-note documents: PDF and XRechnung (UBL or CII) as short-lived links
(services/documents.py, docs/documents.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from billow.api.container import container
from billow.api.request import current_request
from billow.api.responses import single
from billow.ports.documents import DocumentFormat, DocumentSource

router = Router()
SourceId = Annotated[str, Path(description="The invoice's or credit note's id", max_length=64)]
Syntax = Annotated[
    Literal["ubl", "cii"], Query(description="XRechnung 3.0 as UBL 2.1 (default) or UN/CEFACT CII")
]


def _link(source: DocumentSource, source_id: str, format_: DocumentFormat) -> Response[str]:
    link = container().documents.link(current_request().require_scope(), source, source_id, format_)
    return single(link.to_dict())


@router.get(
    "/invoices/<invoice_id>/pdf",
    tags=["Invoices"],
    summary="A link to the invoice's PDF (rendered once, kept in S3; drafts render as previews)",
)
def invoice_pdf(invoice_id: SourceId) -> Response[str]:
    return _link("invoice", invoice_id, "pdf")


@router.get(
    "/invoices/<invoice_id>/e-invoice",
    tags=["Invoices"],
    summary="A link to the finalized invoice as XRechnung 3.0 (EN 16931), UBL or CII",
)
def invoice_einvoice(invoice_id: SourceId, syntax: Syntax = "ubl") -> Response[str]:
    return _link("invoice", invoice_id, syntax)


@router.get("/credit-notes/<note_id>/pdf", tags=["Credit notes"], summary="A link to the credit note's PDF")
def credit_note_pdf(note_id: SourceId) -> Response[str]:
    return _link("credit_note", note_id, "pdf")


@router.get(
    "/credit-notes/<note_id>/e-invoice",
    tags=["Credit notes"],
    summary="A link to the credit note as XRechnung 3.0 (EN 16931, type 381), UBL or CII",
)
def credit_note_einvoice(note_id: SourceId, syntax: Syntax = "ubl") -> Response[str]:
    return _link("credit_note", note_id, syntax)
