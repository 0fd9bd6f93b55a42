"""An invoice or credit note as a legal document: everything a PDF or an EN 16931 e-invoice
states, already decided and rounded, in one immutable value (docs/documents.md).

Renderers (adapters/documents/) only lay this out; they never compute tax or look anything
up, so the PDF and the XML of one document always say the same thing, and re-rendering a
finalized invoice years later gives the same amounts. The business-term numbers (BT-…) name
the EN 16931 field each value fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from billow.domain.address import Address

DocumentKind = Literal["invoice", "credit_note"]

# EN 16931 document type codes (UNTDID 1001): commercial invoice and credit note.
TYPE_CODES: dict[str, str] = {"invoice": "380", "credit_note": "381"}


@dataclass(frozen=True)
class Contact:
    """BG-6 (seller contact) / BG-9 (buyer contact)."""

    name: str | None = None  # BT-41 / BT-56
    phone: str | None = None  # BT-42 / BT-57
    email: str | None = None  # BT-43 / BT-58


@dataclass(frozen=True)
class Party:
    """BG-4 seller or BG-7 buyer."""

    name: str  # BT-27 / BT-44
    address: Address  # BG-5 / BG-8 (country is BT-40 / BT-55)
    vat_id: str | None = None  # BT-31 / BT-48, with its country prefix ("DE123456789")
    tax_number: str | None = None  # BT-32: the seller's national tax number (Steuernummer)
    legal_registration: str | None = None  # BT-30 (e.g. HRB 12345)
    trading_name: str | None = None  # BT-28 / BT-45
    electronic_address: str | None = None  # BT-34 / BT-49, an e-mail address (scheme EM)
    contact: Contact = Contact()


@dataclass(frozen=True)
class DocumentLine:
    """BG-25. ``net_amount`` = quantity x ``unit_price`` for ordinary lines, already rounded;
    a line that takes money off has a negative quantity and a positive price (BR-27)."""

    id: str  # BT-126
    name: str  # BT-153
    quantity: Decimal  # BT-129
    unit_price: Decimal  # BT-146, net, >= 0, up to the price's own precision
    net_amount: Decimal  # BT-131, rounded to the currency's minor unit
    vat_category: str  # BT-151: S, Z, E, AE, K, G, O
    vat_rate: Decimal  # BT-152 (0 for AE, E, G, K, Z; absent for O)
    unit_code: str = "C62"  # BT-130, UN/ECE Rec 20 ("one")
    description: str | None = None  # BT-154
    period_start: date | None = None  # BT-134
    period_end: date | None = None  # BT-135 (inclusive: the last day billed)
    product_id: str | None = None  # BT-155 (seller's item identifier)


@dataclass(frozen=True)
class VatGroup:
    """BG-23: one VAT category and rate with its taxable base and tax."""

    category: str  # BT-118
    rate: Decimal  # BT-119
    taxable_amount: Decimal  # BT-116
    tax_amount: Decimal  # BT-117
    exemption_reason: str | None = None  # BT-120 (required for AE, E, G, K, O)
    exemption_reason_code: str | None = None  # BT-121, e.g. VATEX-EU-AE, VATEX-EU-G, VATEX-EU-IC


@dataclass(frozen=True)
class OtherTax:
    """A tax that is not VAT (US sales tax, a compound provincial tax). Shown on the PDF; an
    EN 16931 e-invoice cannot carry it, so a document with one has no e-invoice."""

    name: str  # e.g. "Sales tax (US-CA)"
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal
    compound: bool = False


@dataclass(frozen=True)
class Totals:
    """BG-22. All in the document's currency and rounded."""

    line_total: Decimal  # BT-106: sum of line net amounts
    tax_exclusive: Decimal  # BT-109
    tax_total: Decimal  # BT-110: VAT plus other taxes
    tax_inclusive: Decimal  # BT-112
    prepaid: Decimal  # BT-113: credit balance applied and payments already received
    payable: Decimal  # BT-115
    allowance_total: Decimal = Decimal(0)  # BT-107 (document-level allowances; unused so far)
    # BT-111: the VAT total in ``tax_currency`` when the document states its VAT in a second
    # currency (an invoice in USD that must state German VAT in EUR).
    tax_total_in_tax_currency: Decimal | None = None


@dataclass(frozen=True)
class PaymentInstructions:
    """BG-16 payment instructions and BT-20 terms."""

    # BT-81: 58 SEPA credit transfer, 59 SEPA direct debit, 30 credit transfer, 48 card, 1 not defined
    means_code: str
    means_text: str | None = None  # BT-82, e.g. "SEPA credit transfer"
    remittance_information: str | None = None  # BT-83, usually the document number
    iban: str | None = None  # BT-84
    bic: str | None = None  # BT-86
    account_name: str | None = None  # BT-85
    card_last4: str | None = None  # BT-87
    mandate_reference: str | None = None  # BT-89
    creditor_identifier: str | None = None  # BT-90
    debited_account: str | None = None  # BT-91 (IBAN of the payer, direct debit)
    terms: str | None = None  # BT-20, e.g. "Payable within 14 days"


@dataclass(frozen=True)
class FxNote:
    """The pinned conversion an invoice used (informative on the PDF)."""

    source_currency: str
    target_currency: str
    rate: Decimal
    rate_date: date
    source: str  # "ecb", "override"
    markup_percent: Decimal = Decimal(0)


@dataclass(frozen=True)
class Branding:
    """From the tenant's settings; only the PDF uses it."""

    primary_color: str = "#1F2937"  # hex RGB
    accent_color: str = "#2563EB"
    logo_png: bytes | None = None
    footer_text: str | None = None


@dataclass(frozen=True)
class BillingDocument:
    kind: DocumentKind
    number: str  # BT-1
    issue_date: date  # BT-2
    currency: str  # BT-5
    seller: Party
    buyer: Party
    lines: tuple[DocumentLine, ...]
    vat_groups: tuple[VatGroup, ...]
    totals: Totals
    due_date: date | None = None  # BT-9
    tax_currency: str | None = None  # BT-6
    tax_point_date: date | None = None  # BT-7
    buyer_reference: str | None = None  # BT-10 (the Leitweg-ID for German public buyers)
    order_reference: str | None = None  # BT-13
    period_start: date | None = None  # BT-73
    period_end: date | None = None  # BT-74 (inclusive)
    # Credit notes: the invoice they correct (BG-3).
    preceding_invoice_number: str | None = None  # BT-25
    preceding_invoice_date: date | None = None  # BT-26
    notes: tuple[str, ...] = ()  # BT-22, e.g. "Reverse charge: VAT to be accounted for by the recipient"
    other_taxes: tuple[OtherTax, ...] = ()
    payment: PaymentInstructions | None = None
    fx: FxNote | None = None
    locale: str = "en"  # babel locale for the PDF's words, numbers and dates
    branding: Branding = field(default_factory=Branding)
    # Where the document came from (for file names and logs, not printed).
    source_id: str | None = None

    @property
    def type_code(self) -> str:
        return TYPE_CODES[self.kind]
