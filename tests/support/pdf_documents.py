"""Billing documents for the PDF renderer's tests and benchmark, built in code.

``make_document`` gives a plausible invoice (German seller, French buyer, 19 % VAT, SEPA
payment) whose totals add up; keyword arguments switch on the parts a test is about.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Literal

from PIL import Image, ImageDraw

from billow.domain.address import Address
from billow.domain.billing_document import (
    BillingDocument,
    Branding,
    Contact,
    DocumentKind,
    DocumentLine,
    FxNote,
    OtherTax,
    Party,
    PaymentInstructions,
)
from tests.support import document_cases as cases

NUMBER = "INV-2025-000042"
SELLER_NAME = "Acme Cloud GmbH"
BUYER_NAME = "Müller & Söhne Logistique SARL"
IBAN = "DE89370400440532013000"
IBAN_PRINTED = "DE89 3704 0044 0532 0130 00"
REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient (Article 196 Directive 2006/112/EC)."
)
FOOTER = "Acme Cloud GmbH · Managing director: Jane Doe · Register court Berlin HRB 12345 B"

Payment = Literal["transfer", "direct_debit", "none"]


def line_name(index: int) -> str:
    """A name that occurs once per document, so that tests can count the rows printed."""
    return f"Item {index:04d} API requests"


def make_document(
    *,
    lines: int = 20,
    amounts: Sequence[Decimal] | None = None,
    locale: str = "en",
    kind: DocumentKind = "invoice",
    currency: str = "EUR",
    first_line_name: str | None = None,
    reverse_charge: bool = False,
    other_tax: bool = False,
    tax_currency: str | None = None,
    fx: bool = False,
    prepaid: Decimal = Decimal(0),
    payment: Payment = "transfer",
    logo_png: bytes | None = None,
    footer_text: str | None = FOOTER,
) -> BillingDocument:
    """An invoice with ``lines`` lines (or one line per entry of ``amounts``, in cents)."""
    document_lines = _lines(lines, amounts, first_line_name, "AE" if reverse_charge else "S")
    vat_groups = cases.vat_groups(document_lines)
    other_taxes: tuple[OtherTax, ...] = ()
    if other_tax:
        line_total = sum((line.net_amount for line in document_lines), Decimal(0))
        other_taxes = (
            OtherTax(
                "Sales tax (US-CA)",
                Decimal("7.25"),
                line_total,
                cases.round_half_up(line_total * Decimal("0.0725")),
            ),
        )
    totals = replace(
        cases.totals(document_lines, vat_groups, prepaid, other_taxes),
        tax_total_in_tax_currency=(
            (vat_groups[0].tax_amount * Decimal("0.92")).quantize(cases.CENT) if tax_currency else None
        ),
    )
    return BillingDocument(
        kind=kind,
        number=NUMBER,
        issue_date=cases.ISSUED,
        currency=currency,
        seller=Party(
            name=SELLER_NAME,
            address=Address(line1="Hauptstraße 1", city="Berlin", postal_code="10115", country="DE"),
            vat_id="DE123456789",
            tax_number="27/123/45678",
            legal_registration="HRB 12345 B",
            contact=Contact(email="billing@acme.example", phone="+49 30 1234567"),
        ),
        buyer=Party(
            name=BUYER_NAME,
            address=Address(line1="5 rue de Rivoli", city="Paris", postal_code="75001", country="FR"),
            vat_id="FR12345678901",
            contact=Contact(name="Claire Martin", email="compta@muller.example"),
        ),
        lines=document_lines,
        vat_groups=vat_groups,
        totals=totals,
        due_date=date(2025, 4, 15),
        tax_currency=tax_currency,
        buyer_reference="04011000-12345-67",
        order_reference="PO-7781",
        period_start=cases.PERIOD_START,
        period_end=cases.PERIOD_END,
        preceding_invoice_number="INV-2025-000017" if kind == "credit_note" else None,
        preceding_invoice_date=date(2025, 3, 1) if kind == "credit_note" else None,
        notes=(REVERSE_CHARGE_NOTE,) if reverse_charge else (),
        other_taxes=other_taxes,
        payment=_payment(payment),
        fx=FxNote("USD", currency, Decimal("0.912345"), date(2025, 3, 31), "ecb", Decimal("1.5"))
        if fx
        else None,
        locale=locale,
        branding=Branding(
            primary_color="#1F2937", accent_color="#2563EB", logo_png=logo_png, footer_text=footer_text
        ),
        source_id="inv_test",
    )


def _lines(
    count: int, amounts: Sequence[Decimal] | None, first_name: str | None, category: str
) -> tuple[DocumentLine, ...]:
    if amounts is not None:
        specs = [(Decimal(1), amount) for amount in amounts]
    else:
        specs = [(Decimal(1000 + 37 * index), Decimal("0.0015")) for index in range(count)]
    return tuple(
        cases.line(
            str(index + 1),
            first_name if index == 0 and first_name else line_name(index),
            quantity,
            unit_price,
            category=category,
            rate=0 if category == "AE" else 19,
            description="Metered usage, billed in arrears" if index % 3 == 0 else None,
        )
        for index, (quantity, unit_price) in enumerate(specs)
    )


def _payment(kind: Payment) -> PaymentInstructions | None:
    if kind == "transfer":
        return PaymentInstructions(
            means_code="58",
            remittance_information=NUMBER,
            iban=IBAN,
            bic="COBADEFFXXX",
            account_name=SELLER_NAME,
            terms="Payable within 14 days without deduction.",
        )
    if kind == "direct_debit":
        return PaymentInstructions(
            means_code="59",
            mandate_reference="MANDATE-0815",
            creditor_identifier="DE98ZZZ09999999999",
            debited_account="FR7630006000011234567890189",
            terms="Collected on or after the due date.",
        )
    return None


def logo_png(width: int = 240, height: int = 80) -> bytes:
    """A PNG logo with an alpha channel (a transparent background), as tenants upload them."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 4, height - 4, height - 4), fill=(37, 99, 235, 255))
    draw.rectangle((height + 8, height // 3, width - 8, 2 * height // 3), fill=(31, 41, 55, 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
