"""Request bodies of /v1/invoices, /v1/credit-notes and /v1/settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

Text = Annotated[str, StringConstraints(max_length=500)]
Currency = Annotated[str, StringConstraints(min_length=3, max_length=3)]
CollectionMethod = Literal["charge_automatically", "send_invoice"]


class LinePeriod(StrictModel):
    start: Annotated[str, StringConstraints(min_length=10, max_length=40)] | None = None
    end: Annotated[str, StringConstraints(min_length=10, max_length=40)] | None = None


class InvoiceLineIn(StrictModel):
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    unit_amount: Any = Field(description='a decimal string such as "29.00"; negative takes money off')
    quantity: Any = Field(default="1", description="a decimal string, more than 0")
    reason: Text | None = Field(default=None, description="required when the line takes money off")
    product_id: Id | None = None
    period: LinePeriod | None = None


class InvoiceLinePatch(StrictModel):
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    unit_amount: Any = None
    quantity: Any = None
    reason: Text | None = None


class InvoiceCreate(StrictModel):
    customer_id: Id
    currency: Currency | None = Field(default=None, description="default: the customer's currency")
    lines: Annotated[list[InvoiceLineIn], Field(max_length=500)] = Field(default_factory=list)
    collection_method: CollectionMethod | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    auto_advance: bool = Field(default=False, description="finalize on its own after the grace period")
    buyer_reference: Text | None = None
    memo: Text | None = None
    metadata: Metadata = Field(default_factory=dict)


class InvoiceUpdate(StrictModel):
    collection_method: CollectionMethod | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    auto_advance: bool | None = None
    buyer_reference: Text | None = None
    memo: Text | None = None
    metadata: Metadata | None = None


class CreditNoteLineIn(StrictModel):
    invoice_line_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    amount: Any = Field(
        default=None, description="net amount to credit; default: all that is left of the line"
    )


class CreditNoteCreate(StrictModel):
    invoice_id: Id
    reason: Literal["duplicate", "fraudulent", "order_change", "product_unsatisfactory", "other"]
    outcome: Literal["credit", "refund", "offset"] | None = Field(
        default=None, description="default: offset while something is owed, else credit"
    )
    lines: Annotated[list[CreditNoteLineIn], Field(min_length=1, max_length=500)] | None = None
    amount: Any = Field(default=None, description="a gross amount to credit, instead of lines")
    memo: Text | None = None
    metadata: Metadata = Field(default_factory=dict)


class BrandingIn(StrictModel):
    primary_color: Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")] | None = None
    accent_color: Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")] | None = None
    footer_text: Annotated[str, StringConstraints(max_length=300)] | None = None
    logo_png: Annotated[str, StringConstraints(max_length=140_000)] | None = Field(
        default=None, description="a PNG logo, base64, at most 100 KB; null removes it"
    )


class SettingsUpdate(StrictModel):
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    default_currency: Currency | None = None
    invoice_number_format: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    credit_note_number_format: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    invoice_grace_period_days: Annotated[int, Field(ge=0, le=30)] | None = None
    branding: BrandingIn | None = None
    embed_einvoice_in_pdf: bool | None = Field(
        default=None, description="invoice PDFs as PDF/A-3b with their CII XML inside (ZUGFeRD / Factur-X)"
    )
