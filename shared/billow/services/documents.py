"""Invoice and credit-note documents: PDF, XRechnung UBL and CII (docs/documents.md).

Two use cases share one assembly step:

* ``DocumentRenderingService`` (the documents function) builds the document, renders it with
  the renderers it is given (fpdf2 and lxml live only in that function) and stores it.
* ``DocumentLinkService`` (the API) builds the same document, which is cheap, to learn its
  key; a stored document is linked at once, otherwise rendering is asked for first.

A document's key ends in a digest of everything it states, so a re-render of an unchanged
invoice finds the stored file and a changed seller address gives a new one: a stored file is
never overwritten with different bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from billow.domain.billing_document import BillingDocument, Branding
from billow.domain.billing_document_builder import DRAFT_NUMBER, credit_note_document, invoice_document
from billow.domain.errors import EInvoiceIncomplete, FieldError, InvalidStateTransition, NotFound
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.documents import (
    CONTENT_TYPES,
    DocumentFormat,
    DocumentRendering,
    DocumentRequest,
    DocumentSource,
    DocumentStore,
    StoredDocument,
)

if TYPE_CHECKING:
    from billow.domain.credit_note import CreditNote
    from billow.domain.customer import Customer
    from billow.domain.invoice import Invoice
    from billow.domain.tax_profile import SellerTaxProfile

# Bump when a renderer's output changes, so documents stored before are rendered again.
RENDERER_VERSION = "1"
LINK_SECONDS = 15 * 60
PREVIEW_PREFIX = "previews/"
EXTENSIONS = {"pdf": "pdf", "ubl": "xml", "cii": "xml"}
Renderer = Callable[[BillingDocument], bytes]


class DocumentSources(Protocol):
    def get(self, scope: Scope, invoice_id: str) -> Invoice | None: ...

    def get_credit_note(self, scope: Scope, note_id: str) -> CreditNote | None: ...


class CustomerSource(Protocol):
    def get(self, scope: Scope, customer_id: str) -> Customer | None: ...


class TaxProfileSource(Protocol):
    def get(self, scope: Scope) -> SellerTaxProfile | None: ...


@dataclass(frozen=True)
class DocumentSettings:
    branding: Branding
    embed_einvoice_in_pdf: bool = False


@dataclass(frozen=True)
class DocumentLink:
    document: StoredDocument
    url: str
    expires_at: str
    source: str
    source_id: str
    format: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "document",
            "source": self.source,
            "source_id": self.source_id,
            "format": self.format,
            "url": self.url,
            "expires_at": self.expires_at,
            "file_name": self.document.file_name,
            "content_type": self.document.content_type,
            "size": self.document.size,
            "sha256": self.document.sha256,
        }


def missing_terms_problem(document: BillingDocument) -> EInvoiceIncomplete | None:
    from billow.domain.einvoice_requirements import missing_business_terms

    missing = missing_business_terms(document)
    if not missing:
        return None
    names = ", ".join(f"{m.term} ({m.name})" for m in missing)
    return EInvoiceIncomplete(
        detail=f"an XRechnung needs what this {document.kind.replace('_', ' ')} lacks: {names}",
        errors=[FieldError(f"/business_terms/{m.term}", f"{m.name}: {m.hint}") for m in missing],
    )


@dataclass
class DocumentAssembler:
    """Loads what a document states and builds it; no rendering library is imported here."""

    sources: DocumentSources
    customers: CustomerSource
    profiles: TaxProfileSource
    settings: Callable[[Scope], DocumentSettings]

    def assemble(self, request: DocumentRequest) -> BillingDocument:
        scope = request.scope
        profile = self.profiles.get(scope)
        if request.source == "invoice":
            invoice = self._invoice(scope, request.source_id)
            self._require_issued(invoice, request.format)
            customer = self._customer(scope, invoice.customer_id)
            seller = self._profile(profile)
            return invoice_document(invoice, customer, seller, branding=self.settings(scope).branding)
        note = self.sources.get_credit_note(scope, request.source_id)
        if note is None:
            raise NotFound(detail=f"no credit note with id {request.source_id}")
        invoice = self._invoice(scope, note.invoice_id)
        customer = self._customer(scope, note.customer_id)
        seller = self._profile(profile)
        return credit_note_document(note, invoice, customer, seller, branding=self.settings(scope).branding)

    def key(self, request: DocumentRequest, document: BillingDocument) -> StoredDocument:
        """Where the document lives; the digest covers every value it states."""
        digest = hashlib.sha256(f"{RENDERER_VERSION}|{request.format}|{document!r}".encode()).hexdigest()
        extension = EXTENSIONS[request.format]
        suffix = "" if request.format == "pdf" else f"-{request.format}"
        scope = request.scope
        mode = "live" if scope.livemode else "test"
        # A draft's preview changes with every edit: previews live under their own prefix,
        # which the bucket's lifecycle rule empties after a day (template.yaml).
        prefix = PREVIEW_PREFIX if document.number == DRAFT_NUMBER else ""
        return StoredDocument(
            key=f"{prefix}{scope.tenant_id}/{mode}/{request.source}/{request.source_id}/{digest[:32]}.{extension}",
            file_name=f"{document.number}{suffix}.{extension}",
            content_type=CONTENT_TYPES[request.format],
            size=0,
            sha256="",
        )

    def _invoice(self, scope: Scope, invoice_id: str) -> Invoice:
        invoice = self.sources.get(scope, invoice_id)
        if invoice is None:
            raise NotFound(detail=f"no invoice with id {invoice_id}")
        return invoice

    def _customer(self, scope: Scope, customer_id: str) -> Customer:
        customer = self.customers.get(scope, customer_id)
        if customer is None:  # pragma: no cover - an invoice's customer is archived, never deleted
            raise NotFound(detail=f"no customer with id {customer_id}")
        return customer

    @staticmethod
    def _require_issued(invoice: Invoice, format_: str) -> None:
        if invoice.status == "draft" and format_ != "pdf":
            raise InvalidStateTransition(
                detail=f"invoice {invoice.id} is a draft: an e-invoice is issued only for a finalized invoice"
            )

    @staticmethod
    def _profile(profile: SellerTaxProfile | None) -> SellerTaxProfile:
        if profile is None:
            raise EInvoiceIncomplete(
                detail="the seller's tax profile is not set: PUT /v1/tax/profile names the seller "
                "(legal name, address, VAT ID, contact) that every invoice document states",
                errors=[FieldError("/business_terms/BG-4", "Seller: set the tax profile")],
            )
        return profile


@dataclass
class DocumentRenderingService:
    """The documents function's use case: render once, store, answer where it is."""

    assembler: DocumentAssembler
    store: DocumentStore
    renderers: Mapping[str, Renderer]
    pdf_with_xml: Callable[[BillingDocument, bytes], bytes]

    def render(self, request: DocumentRequest) -> StoredDocument:
        document = self.assembler.assemble(request)
        if request.format != "pdf":
            problem = missing_terms_problem(document)
            if problem is not None:
                raise problem
        place = self.assembler.key(request, document)
        stored = self.store.find(place.key)
        if stored is not None:
            return stored
        body = self._bytes(request, document)
        stored = StoredDocument(
            key=place.key,
            file_name=place.file_name,
            content_type=place.content_type,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
        )
        self.store.put(stored, body)
        return stored

    def _bytes(self, request: DocumentRequest, document: BillingDocument) -> bytes:
        # ZUGFeRD / Factur-X: the CII rides inside a PDF/A-3b, when the invoice can be one.
        if (
            request.format == "pdf"
            and self.assembler.settings(request.scope).embed_einvoice_in_pdf
            and document.kind == "invoice"
            and document.number != DRAFT_NUMBER
            and not missing_terms_problem(document)
        ):
            return self.pdf_with_xml(document, self.renderers["cii"](document))
        return self.renderers[request.format](document)


@dataclass
class DocumentLinkService:
    """The API's use case: a short-lived link to the stored document, rendering it first when
    it is not stored yet."""

    assembler: DocumentAssembler
    store: DocumentStore
    rendering: DocumentRendering
    clock: Clock
    link_seconds: int = LINK_SECONDS

    def link(
        self, scope: Scope, source: DocumentSource, source_id: str, format_: DocumentFormat
    ) -> DocumentLink:
        request = DocumentRequest(scope, source, source_id, format_)
        document = self.assembler.assemble(request)
        if format_ != "pdf":
            problem = missing_terms_problem(document)
            if problem is not None:
                raise problem
        stored = self.store.find(self.assembler.key(request, document).key)
        if stored is None:
            stored = self.rendering.render(request)
        # Presigned URLs expire by the wall clock whatever a test clock says.
        expires = self.clock.now() + timedelta(seconds=self.link_seconds)
        return DocumentLink(
            document=stored,
            url=self.store.link(stored, self.link_seconds),
            expires_at=rfc3339(expires),
            source=source,
            source_id=source_id,
            format=format_,
        )
