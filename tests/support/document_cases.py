"""Realistic billing documents (domain/billing_document.py) for every kind Billow produces.

Used by the e-invoice tests, the PDF tests and the rendering benchmarks. Names, addresses and
identifiers are fictional; IBANs carry valid check digits. Amounts are computed the way the
invoicing domain computes them: line net = round_half_up(quantity * price), one VAT group per
(category, rate) with tax = round_half_up(taxable * rate / 100), totals the sums.

Each case is a function returning a fresh ``BillingDocument``; ``CASES`` names them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from billow.domain.address import Address
from billow.domain.billing_document import (
    BillingDocument,
    Contact,
    DocumentKind,
    DocumentLine,
    FxNote,
    OtherTax,
    Party,
    PaymentInstructions,
    Totals,
    VatGroup,
)

CENT = Decimal("0.01")
HUNDRED = Decimal(100)

ISSUED = date(2025, 4, 1)
PERIOD_START = date(2025, 3, 1)
PERIOD_END = date(2025, 3, 31)


def round_half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def iban(country: str, bban: str) -> str:
    """An IBAN with correct ISO 7064 mod 97-10 check digits for ``bban``."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def iban_is_valid(value: str) -> bool:
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# --- parties -----------------------------------------------------------------------------

SELLER = Party(
    name="Kranichfeld Software GmbH",
    trading_name="Kranichfeld Cloud",
    address=Address(line1="Elbchaussee 112", city="Hamburg", postal_code="22763", country="DE"),
    vat_id="DE298765431",
    tax_number="41/723/01592",
    legal_registration="HRB 167342",
    electronic_address="rechnungen@kranichfeld-cloud.example",
    contact=Contact(
        name="Jana Vogt", phone="+49 40 8890 2210", email="buchhaltung@kranichfeld-cloud.example"
    ),
)

GERMAN_BUSINESS = Party(
    name="Weserblick Logistik AG",
    address=Address(line1="Am Speicher 7", line2="Haus B", city="Bremen", postal_code="28217", country="DE"),
    vat_id="DE314159265",
    legal_registration="HRB 40211",
    electronic_address="eingangsrechnungen@weserblick-logistik.example",
    contact=Contact(name="Tobias Brandt", email="t.brandt@weserblick-logistik.example"),
)

FRENCH_BUSINESS = Party(
    name="Atelier Dumont SARL",
    address=Address(line1="14 rue des Tanneurs", city="Lyon", postal_code="69002", country="FR"),
    vat_id="FR61502943817",
    electronic_address="factures@atelier-dumont.example",
)

US_BUSINESS = Party(
    name="Redwood Analytics Inc.",
    address=Address(
        line1="500 Howard Street",
        line2="Suite 900",
        city="San Francisco",
        postal_code="94105",
        state="CA",
        country="US",
    ),
    electronic_address="ap@redwood-analytics.example",
)

FRENCH_CONSUMER = Party(
    name="Camille Laurent",
    address=Address(line1="8 cours de l'Intendance", city="Bordeaux", postal_code="33000", country="FR"),
    electronic_address="camille.laurent@courriel.example",
)

# --- payment -----------------------------------------------------------------------------

SELLER_IBAN = iban("DE", "20050550" + "1234567890")
CUSTOMER_IBAN = iban("DE", "29050101" + "0082736451")
CREDITOR_ID = "DE98ZZZ09999999999"


def sepa_credit_transfer(
    number: str, terms: str = "Payable within 14 days without deduction."
) -> PaymentInstructions:
    return PaymentInstructions(
        means_code="58",
        means_text="SEPA credit transfer",
        remittance_information=number,
        iban=SELLER_IBAN,
        bic="HASPDEHHXXX",
        account_name="Kranichfeld Software GmbH",
        terms=terms,
    )


def sepa_direct_debit(number: str) -> PaymentInstructions:
    return PaymentInstructions(
        means_code="59",
        means_text="SEPA direct debit",
        remittance_information=number,
        mandate_reference="KFC-MANDATE-000417",
        creditor_identifier=CREDITOR_ID,
        debited_account=CUSTOMER_IBAN,
        terms="The amount will be debited from your account on or after the due date.",
    )


# --- lines and documents -----------------------------------------------------------------


def line(
    line_id: str,
    name: str,
    quantity: str | int | Decimal,
    unit_price: str | Decimal,
    *,
    category: str = "S",
    rate: str | int = 19,
    period: tuple[date, date] | None = (PERIOD_START, PERIOD_END),
    description: str | None = None,
    product_id: str | None = None,
    unit_code: str = "C62",
) -> DocumentLine:
    qty, price = Decimal(quantity), Decimal(unit_price)
    return DocumentLine(
        id=line_id,
        name=name,
        quantity=qty,
        unit_price=price,
        net_amount=round_half_up(qty * price),
        vat_category=category,
        vat_rate=Decimal(rate),
        unit_code=unit_code,
        description=description,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        product_id=product_id,
    )


# Exemption reasons by VAT category (BT-120, BT-121); S and Z take none.
EXEMPTIONS: dict[str, tuple[str, str]] = {
    "AE": ("Reverse charge", "VATEX-EU-AE"),
    "G": ("Export outside the EU", "VATEX-EU-G"),
    "K": ("Intra-community supply", "VATEX-EU-IC"),
    "O": ("Not subject to VAT", "VATEX-EU-O"),
}


def vat_groups(lines: Iterable[DocumentLine]) -> tuple[VatGroup, ...]:
    taxable: dict[tuple[str, Decimal], Decimal] = {}
    for item in lines:
        key = (item.vat_category, item.vat_rate)
        taxable[key] = taxable.get(key, Decimal(0)) + item.net_amount
    groups = []
    for (category, rate), base in sorted(taxable.items()):
        reason, code = EXEMPTIONS.get(category, (None, None))
        groups.append(
            VatGroup(
                category=category,
                rate=rate,
                taxable_amount=base,
                tax_amount=round_half_up(base * rate / HUNDRED),
                exemption_reason=reason,
                exemption_reason_code=code,
            )
        )
    return tuple(groups)


def totals(
    lines: Iterable[DocumentLine],
    groups: Iterable[VatGroup],
    prepaid: Decimal = Decimal(0),
    other_taxes: Iterable[OtherTax] = (),
) -> Totals:
    line_total = sum((item.net_amount for item in lines), Decimal(0))
    tax = sum((group.tax_amount for group in groups), Decimal(0))
    tax += sum((other.tax_amount for other in other_taxes), Decimal(0))
    return Totals(
        line_total=line_total,
        tax_exclusive=line_total,
        tax_total=tax,
        tax_inclusive=line_total + tax,
        prepaid=prepaid,
        payable=line_total + tax - prepaid,
    )


def document(
    number: str,
    buyer: Party,
    lines: tuple[DocumentLine, ...],
    *,
    kind: DocumentKind = "invoice",
    currency: str = "EUR",
    prepaid: Decimal = Decimal(0),
    buyer_reference: str = "04011000-12345-67",
    **fields: object,
) -> BillingDocument:
    """An invoice issued 1 April 2025 for March 2025, paid by SEPA credit transfer within 14
    days, with groups and totals computed from ``lines``; ``fields`` override anything."""
    groups = vat_groups(lines)
    doc = BillingDocument(
        kind=kind,
        number=number,
        issue_date=ISSUED,
        currency=currency,
        seller=SELLER,
        buyer=buyer,
        lines=lines,
        vat_groups=groups,
        totals=totals(lines, groups, prepaid),
        due_date=ISSUED + timedelta(days=14),
        buyer_reference=buyer_reference,
        order_reference="PO-2025-0042",
        period_start=PERIOD_START,
        period_end=PERIOD_END,
        payment=sepa_credit_transfer(number),
        locale="de",
        source_id=f"inv_{number.lower()}",
    )
    return replace(doc, **fields)  # type: ignore[arg-type]


# --- the cases ---------------------------------------------------------------------------


def domestic_standard() -> BillingDocument:
    """(1) German seller to a German business, standard VAT 19 %."""
    return document(
        "RE-2025-0101",
        GERMAN_BUSINESS,
        (
            line("1", "Team plan", 1, "249.00", product_id="plan_team", description="Monthly subscription"),
            line("2", "Additional seats", 7, "12.50", product_id="seat"),
            line("3", "API calls (per 1,000)", "1843", "0.0425", product_id="api_calls"),
        ),
    )


def domestic_direct_debit() -> BillingDocument:
    """(1) paid by SEPA direct debit instead of a transfer."""
    doc = domestic_standard()
    return replace(doc, number="RE-2025-0102", payment=sepa_direct_debit("RE-2025-0102"))


def mixed_rates() -> BillingDocument:
    """(2) Two rates on one invoice: software at 19 %, an e-book at the reduced 7 %."""
    return document(
        "RE-2025-0103",
        GERMAN_BUSINESS,
        (
            line("1", "Business plan", 1, "499.00"),
            line("2", "Handbook: Billing in practice (e-book)", 3, "24.90", rate=7, period=None),
            line("3", "Onboarding workshop", "2.5", "180.00", unit_code="HUR", period=None),
        ),
    )


def reverse_charge_eu() -> BillingDocument:
    """(3) German seller to a French business with a VAT id: reverse charge (AE, 0 %)."""
    return document(
        "RE-2025-0104",
        FRENCH_BUSINESS,
        (
            line("1", "Team plan", 1, "249.00", category="AE", rate=0),
            line("2", "Additional seats", 4, "12.50", category="AE", rate=0),
        ),
        buyer_reference="BC-LYON-7731",
        notes=("Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC).",),
    )


def export_outside_eu() -> BillingDocument:
    """(4) Zero-rated export to a US business (G, VATEX-EU-G)."""
    return document(
        "RE-2025-0105",
        US_BUSINESS,
        (
            line("1", "Enterprise plan", 1, "1490.00", category="G", rate=0),
            line("2", "Priority support", 1, "300.00", category="G", rate=0),
        ),
        buyer_reference="PO 88-1024",
        notes=("Export of services outside the EU; not subject to German VAT.",),
    )


def credit_note() -> BillingDocument:
    """(5) A credit note (381) for part of invoice RE-2025-0101."""
    return document(
        "GS-2025-0007",
        GERMAN_BUSINESS,
        (line("1", "Additional seats (cancelled)", 2, "12.50", product_id="seat"),),
        kind="credit_note",
        issue_date=date(2025, 4, 9),
        preceding_invoice_number="RE-2025-0101",
        preceding_invoice_date=ISSUED,
        notes=("Two seats were removed on 1 March 2025.",),
        due_date=None,
        payment=sepa_credit_transfer(
            "GS-2025-0007", terms="The amount will be refunded to your account within 7 days."
        ),
    )


def discounts_and_credit() -> BillingDocument:
    """(6) Discount and proration-credit lines (negative quantity, positive price: BR-27), and
    a customer credit balance applied as prepaid (BT-113)."""
    return document(
        "RE-2025-0106",
        GERMAN_BUSINESS,
        (
            line("1", "Business plan", 1, "499.00"),
            line("2", "Discount: annual commitment 10 %", -1, "49.90", description="Coupon ANNUAL10"),
            line(
                "3",
                "Unused time on Team plan",
                -1,
                "112.45",
                description="Proration credit for 14 unused days",
                period=(date(2025, 3, 18), PERIOD_END),
            ),
            line("4", "Additional seats", 3, "12.50"),
        ),
        prepaid=Decimal("50.00"),
    )


EUR_PER_USD = Decimal("0.9241")


def usd_with_eur_vat() -> BillingDocument:
    """(7) An invoice in USD to a German business; the German VAT is also stated in EUR."""
    doc = document(
        "RE-2025-0107",
        GERMAN_BUSINESS,
        (
            line("1", "Enterprise plan (USD)", 1, "1990.00"),
            line("2", "Additional workspaces", 3, "149.00"),
        ),
        currency="USD",
        tax_currency="EUR",
        fx=FxNote(
            source_currency="USD",
            target_currency="EUR",
            rate=EUR_PER_USD,
            rate_date=date(2025, 3, 31),
            source="ecb",
        ),
        notes=("VAT in EUR at the ECB reference rate of 31 March 2025: 1 USD = 0.9241 EUR.",),
    )
    in_eur = round_half_up(doc.totals.tax_total * EUR_PER_USD)
    return replace(doc, totals=replace(doc.totals, tax_total_in_tax_currency=in_eur))


def oss_b2c_france() -> BillingDocument:
    """(8) Intra-EU sale to a French consumer: French VAT 20 % charged by the German seller
    (destination principle, declared through the One-Stop-Shop)."""
    return document(
        "RE-2025-0108",
        FRENCH_CONSUMER,
        (
            line("1", "Personal plan", 1, "9.99", rate=20),
            line("2", "Extra storage 100 GB", 2, "1.99", rate=20),
        ),
        buyer_reference="cus_8Fq2LmZ",
        notes=("French VAT charged under the One-Stop-Shop scheme (OSS).",),
    )


def not_subject_to_vat() -> BillingDocument:
    """A charge outside the scope of VAT (O): a contractual late-payment penalty."""
    return document(
        "RE-2025-0109",
        GERMAN_BUSINESS,
        (line("1", "Late-payment penalty for RE-2025-0031", 1, "40.00", category="O", rate=0, period=None),),
        notes=("Penalty under § 288 (5) BGB; not a supply, so not subject to VAT.",),
    )


def with_sales_tax() -> BillingDocument:
    """A US invoice that also charges California sales tax: the PDF states it, an e-invoice
    cannot (EN 16931 carries VAT only), so this one is not in ``CASES``."""
    doc = export_outside_eu()
    taxable = doc.totals.tax_exclusive
    rate = Decimal("8.625")
    tax = OtherTax(
        name="Sales tax (US-CA)",
        rate=rate,
        taxable_amount=taxable,
        tax_amount=round_half_up(taxable * rate / HUNDRED),
    )
    doc_totals = totals(doc.lines, doc.vat_groups, doc.totals.prepaid, (tax,))
    return replace(doc, number="RE-2025-0111", other_taxes=(tax,), totals=doc_totals)


def lines(n: int) -> BillingDocument:
    """An invoice of ``n`` lines (benchmarks use 20 and 500), alternating 19 % and 7 %."""
    items = tuple(
        line(
            str(i),
            f"Usage meter {i:04d}",
            str(1 + i % 17),
            f"{1 + (i * 37) % 400}.{i % 100:02d}",
            rate=19 if i % 3 else 7,
            product_id=f"meter_{i:04d}",
            description=f"Metered usage of resource {i:04d} in March 2025",
        )
        for i in range(1, n + 1)
    )
    return document(f"RE-2025-L{n:04d}", GERMAN_BUSINESS, items)


CASES: dict[str, Callable[[], BillingDocument]] = {
    "domestic_standard": domestic_standard,
    "domestic_direct_debit": domestic_direct_debit,
    "mixed_rates": mixed_rates,
    "reverse_charge_eu": reverse_charge_eu,
    "export_outside_eu": export_outside_eu,
    "credit_note": credit_note,
    "discounts_and_credit": discounts_and_credit,
    "usd_with_eur_vat": usd_with_eur_vat,
    "oss_b2c_france": oss_b2c_france,
    "not_subject_to_vat": not_subject_to_vat,
    "lines_20": lambda: lines(20),
}

# Documents that have a PDF but no e-invoice (missing_business_terms is not empty).
PDF_ONLY_CASES: dict[str, Callable[[], BillingDocument]] = {
    "with_sales_tax": with_sales_tax,
}
