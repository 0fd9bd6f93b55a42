"""From a finalized invoice or an issued credit note to the document it is (domain/
billing_document.py): the pinned amounts as they are, the seller from the tenant's tax profile,
the buyer from the customer.

Nothing here computes tax: groups and totals are the invoice's own, so the PDF, the UBL and
the CII of one invoice always agree with its API representation.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from billow.domain.address import Address
from billow.domain.billing_document import (
    BillingDocument,
    Branding,
    Contact,
    DocumentLine,
    FxNote,
    OtherTax,
    Party,
    PaymentInstructions,
    Totals,
    VatGroup,
)
from billow.domain.money import Money, minor_units
from billow.domain.tax import TaxAmount

if TYPE_CHECKING:
    from billow.domain.credit_note import CreditNote
    from billow.domain.customer import Customer
    from billow.domain.invoice import Invoice, InvoiceLine
    from billow.domain.tax_profile import SellerTaxProfile

# Unit prices are written with up to this many decimals; a line whose quantity times such a
# price is not exactly its amount (tiers, proration) is stated as one unit at its amount.
PRICE_DECIMALS = 6
DRAFT_NUMBER = "DRAFT"
# What happens to a credit note's amount (its payment terms, BT-20: XRechnung wants terms or a
# due date whenever an amount is stated as due).
CREDIT_TERMS = {
    "credit": "Credited to the customer's balance; used for the next invoices.",
    "refund": "Refunded to the original payment method.",
    "offset": "Deducted from the amount due of the invoice it corrects.",
}


def _day(stamp: str | None) -> date | None:
    return date.fromisoformat(stamp[:10]) if stamp else None


def _period_end(stamp: str | None) -> date | None:
    """Periods are half-open ([start, end)); documents name the last day billed."""
    end = _day(stamp)
    return end - timedelta(days=1) if end is not None else None


def seller_party(profile: SellerTaxProfile) -> Party:
    return Party(
        name=profile.legal_name,
        trading_name=profile.trading_name,
        address=profile.address,
        vat_id=profile.vat_id,
        tax_number=profile.tax_number,
        legal_registration=profile.legal_registration,
        electronic_address=profile.electronic_address or profile.contact_email,
        contact=Contact(name=profile.contact_name, phone=profile.contact_phone, email=profile.contact_email),
    )


def buyer_party(customer: Customer) -> Party:
    vat_ids = [t.value for t in customer.tax_ids if t.type in ("eu_vat", "gb_vat", "ch_vat", "no_vat")]
    return Party(
        name=customer.name,
        address=customer.billing_address or Address(),
        vat_id=vat_ids[0] if vat_ids else None,
        electronic_address=customer.email,
        contact=Contact(email=customer.email, phone=customer.phone),
    )


def _quantity_and_price(quantity: Decimal, net: Decimal, unit: Decimal | None) -> tuple[Decimal, Decimal]:
    """A quantity and a non-negative net unit price whose product is exactly the net amount
    (EN 16931 BR-27 and Peppol's line check); the sign of a credit is carried by the quantity."""
    sign = Decimal(-1) if net < 0 else Decimal(1)
    magnitude = abs(net)
    if quantity != 0 and unit is not None:
        derived = (magnitude / abs(quantity)).quantize(Decimal(1).scaleb(-PRICE_DECIMALS))
        for price in (abs(unit), derived):
            if abs(quantity) * price == magnitude:
                return sign * abs(quantity), price
    if net == 0:
        return quantity, abs(unit) if unit is not None else Decimal(0)
    return sign, magnitude


def _line_name(line: InvoiceLine, quantity: Decimal) -> str:
    if quantity == line.quantity or line.quantity in (0, 1):
        return line.description
    # The quantity billed stays readable when the line is stated as one unit.
    return f"{line.description} ({line.quantity.normalize():f} units)"


def _vat_of(line: InvoiceLine) -> tuple[str, Decimal]:
    rate = line.tax_rate
    if rate is None:
        return "O", Decimal(0)
    return rate.category, rate.rate


def document_lines(invoice: Invoice) -> tuple[DocumentLine, ...]:
    lines = []
    for number, line in enumerate(invoice.lines, start=1):
        net = line.net.amount
        quantity, price = _quantity_and_price(line.quantity, net, line.unit_amount)
        category, rate = _vat_of(line)
        lines.append(
            DocumentLine(
                id=str(number),
                name=_line_name(line, quantity),
                quantity=quantity,
                unit_price=price,
                net_amount=net,
                vat_category=category,
                vat_rate=rate,
                period_start=_day(line.period_start),
                period_end=_period_end(line.period_end),
                product_id=line.product_id,
            )
        )
    return tuple(lines)


def _groups(groups: tuple[TaxAmount, ...]) -> tuple[tuple[VatGroup, ...], tuple[OtherTax, ...]]:
    vat: list[VatGroup] = []
    other: list[OtherTax] = []
    for group in groups:
        if group.tax_type == "vat":
            vat.append(
                VatGroup(
                    category=group.category,
                    rate=group.rate,
                    taxable_amount=group.taxable_amount.amount,
                    tax_amount=group.amount.amount,
                    exemption_reason=group.exemption_reason,
                    exemption_reason_code=group.exemption_reason_code,
                )
            )
        else:
            name = group.name or group.tax_type
            jurisdiction = group.jurisdiction
            other.append(
                OtherTax(
                    name=f"{name} ({jurisdiction})" if jurisdiction else name,
                    rate=group.rate,
                    taxable_amount=group.taxable_amount.amount,
                    tax_amount=group.amount.amount,
                    compound=group.compound,
                )
            )
    return tuple(vat), tuple(other)


def _fx_note(fx: dict[str, str] | None) -> FxNote | None:
    if not fx or fx.get("source") in (None, "same_currency"):
        return None
    return FxNote(
        source_currency=fx["base_currency"],
        target_currency=fx["quote_currency"],
        rate=Decimal(fx["rate"]),
        rate_date=date.fromisoformat(fx["date"]),
        source=fx["source"],
        markup_percent=Decimal(fx.get("markup_percent") or "0"),
    )


def _tax_currency(fx: dict[str, str] | None, currency: str) -> tuple[str | None, Decimal | None]:
    """The VAT total in the seller's accounting currency, pinned at finalization."""
    if not fx or not fx.get("tax_currency") or fx["tax_currency"] == currency:
        return None, None
    return fx["tax_currency"], Decimal(fx["tax_total_in_tax_currency"])


def payment_instructions(profile: SellerTaxProfile, reference: str, terms: str | None) -> PaymentInstructions:
    if profile.iban:
        return PaymentInstructions(
            means_code="58",
            means_text="SEPA credit transfer",
            remittance_information=reference,
            iban=profile.iban,
            bic=profile.bic,
            account_name=profile.account_name or profile.legal_name,
            terms=terms,
        )
    return PaymentInstructions(
        means_code="1", means_text="As agreed", remittance_information=reference, terms=terms
    )


def _terms(invoice: Invoice) -> str:
    if invoice.collection_method == "charge_automatically":
        return "Charged to the payment method on file."
    if invoice.payment_terms_days:
        return f"Payable within {invoice.payment_terms_days} days."
    return "Payable on receipt."


def invoice_document(
    invoice: Invoice,
    customer: Customer,
    profile: SellerTaxProfile,
    *,
    branding: Branding | None = None,
    locale: str | None = None,
) -> BillingDocument:
    vat_groups, other_taxes = _groups(invoice.tax_breakdown)
    tax_currency, tax_in_tax_currency = _tax_currency(invoice.fx, invoice.currency)
    currency = invoice.currency
    prepaid = Money(invoice.credit_applied, currency).rounded().amount
    number = invoice.number or DRAFT_NUMBER
    issued = _day(invoice.finalized_at) or _day(invoice.updated_at) or _day(invoice.created_at)
    assert issued is not None
    return BillingDocument(
        kind="invoice",
        number=number,
        issue_date=issued,
        currency=currency,
        seller=seller_party(profile),
        buyer=buyer_party(customer),
        lines=document_lines(invoice),
        vat_groups=vat_groups,
        other_taxes=other_taxes,
        totals=Totals(
            line_total=invoice.subtotal.amount,
            tax_exclusive=invoice.subtotal.amount,
            tax_total=invoice.tax_total.amount,
            tax_inclusive=invoice.total.amount,
            prepaid=prepaid,
            payable=invoice.amount_due.amount,
            tax_total_in_tax_currency=tax_in_tax_currency,
        ),
        due_date=date.fromisoformat(invoice.due_date) if invoice.due_date else None,
        tax_currency=tax_currency,
        buyer_reference=invoice.buyer_reference,
        period_start=_day(invoice.period_start),
        period_end=_period_end(invoice.period_end),
        notes=invoice.tax_notes + ((invoice.memo,) if invoice.memo else ()),
        payment=payment_instructions(profile, number, _terms(invoice)),
        fx=_fx_note(invoice.fx),
        locale=locale or customer.locale or "en",
        branding=branding or Branding(),
        source_id=invoice.id,
    )


def credit_note_document(
    note: CreditNote,
    invoice: Invoice,
    customer: Customer,
    profile: SellerTaxProfile,
    *,
    branding: Branding | None = None,
    locale: str | None = None,
) -> BillingDocument:
    vat_groups, other_taxes = _groups(note.tax_breakdown)
    lines = []
    for number, line in enumerate(note.lines, start=1):
        net = line.amount.rounded().amount
        lines.append(
            DocumentLine(
                id=str(number),
                name=line.description,
                quantity=Decimal(1),
                unit_price=net,
                net_amount=net,
                vat_category=line.tax_rate.category,
                vat_rate=line.tax_rate.rate,
            )
        )
    issued = _day(note.created_at)
    assert issued is not None
    tax_currency, _ = _tax_currency(invoice.fx, invoice.currency)
    tax_in_tax_currency = None
    if tax_currency is not None and invoice.fx and invoice.fx.get("tax_rate"):
        quantum = Decimal(1).scaleb(-minor_units(tax_currency))
        tax_in_tax_currency = (note.tax_total.amount * Decimal(invoice.fx["tax_rate"])).quantize(
            quantum, rounding=ROUND_HALF_UP
        )
    return BillingDocument(
        kind="credit_note",
        number=note.number,
        issue_date=issued,
        currency=note.currency,
        seller=seller_party(profile),
        buyer=buyer_party(customer),
        lines=tuple(lines),
        vat_groups=vat_groups,
        other_taxes=other_taxes,
        totals=Totals(
            line_total=note.subtotal.amount,
            tax_exclusive=note.subtotal.amount,
            tax_total=note.tax_total.amount,
            tax_inclusive=note.total.amount,
            prepaid=Decimal(0),
            payable=note.total.amount,
            tax_total_in_tax_currency=tax_in_tax_currency,
        ),
        tax_currency=tax_currency if tax_in_tax_currency is not None else None,
        buyer_reference=invoice.buyer_reference,
        preceding_invoice_number=invoice.number,
        preceding_invoice_date=_day(invoice.finalized_at),
        notes=(f"Credit note for invoice {invoice.number}: {note.reason}.",)
        + tuple(note.tax_notes)
        + ((note.memo,) if note.memo else ()),
        payment=payment_instructions(profile, note.number, CREDIT_TERMS.get(note.outcome)),
        locale=locale or customer.locale or "en",
        branding=branding or Branding(),
        source_id=note.id,
    )
