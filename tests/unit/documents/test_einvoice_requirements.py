"""missing_business_terms names exactly what XRechnung needs and a document lacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest

from billow.adapters.documents.cii import render_cii
from billow.adapters.documents.ubl import render_ubl
from billow.domain.address import Address
from billow.domain.billing_document import BillingDocument, Contact, OtherTax, Party, PaymentInstructions
from billow.domain.einvoice_requirements import MissingTerm, missing_business_terms
from tests.support import document_cases as cases


def terms(doc: BillingDocument) -> list[str]:
    return [missing.term for missing in missing_business_terms(doc)]


@pytest.mark.parametrize("case", sorted(cases.CASES))
def test_the_sample_documents_lack_nothing(case: str) -> None:
    assert missing_business_terms(cases.CASES[case]()) == ()


def test_a_bare_document_lists_every_missing_term_once_in_order() -> None:
    bare_seller = Party(
        name="Kranichfeld Software GmbH", address=Address(line1="Elbchaussee 112", country="DE")
    )
    bare_buyer = Party(name="Weserblick Logistik AG", address=Address())
    doc = replace(
        cases.domestic_standard(),
        seller=bare_seller,
        buyer=bare_buyer,
        buyer_reference=None,
        payment=None,
        due_date=None,
    )

    assert terms(doc) == [
        "BT-10",
        "BT-34",
        "BT-37",
        "BT-38",
        "BT-41",
        "BT-42",
        "BT-43",
        "BT-31",
        "BT-49",
        "BT-52",
        "BT-53",
        "BT-55",
        "BT-81",
        "BT-9",
    ]


def test_each_term_has_a_name_and_a_hint() -> None:
    doc = replace(cases.domestic_standard(), buyer_reference="  ", payment=None)

    missing = missing_business_terms(doc)

    assert missing[0] == MissingTerm(term="BT-10", name="Buyer reference (Leitweg-ID)", hint=missing[0].hint)
    assert all(m.name and m.hint for m in missing)
    with pytest.raises(AttributeError):
        missing[0].term = "BT-11"  # type: ignore[misc]


def test_blank_strings_count_as_missing() -> None:
    doc = cases.domestic_standard()
    seller = replace(doc.seller, electronic_address=" ", contact=replace(doc.seller.contact, phone=""))

    assert terms(replace(doc, seller=seller)) == ["BT-34", "BT-42"]


def test_a_tax_number_stands_in_for_the_vat_id_only_with_a_registration() -> None:
    doc = cases.domestic_standard()
    tax_number_only = replace(doc.seller, vat_id=None, legal_registration=None)
    with_registration = replace(doc.seller, vat_id=None)

    assert terms(replace(doc, seller=tax_number_only)) == ["BT-30"]  # BR-CO-26
    assert terms(replace(doc, seller=with_registration)) == []


def test_an_export_needs_the_seller_vat_id_itself() -> None:
    doc = cases.export_outside_eu()

    assert terms(replace(doc, seller=replace(doc.seller, vat_id=None))) == ["BT-31"]


def test_reverse_charge_needs_the_buyer_vat_id() -> None:
    doc = cases.reverse_charge_eu()

    assert terms(replace(doc, buyer=replace(doc.buyer, vat_id=None))) == ["BT-48"]


def test_vat_ids_need_a_country_prefix() -> None:
    doc = cases.reverse_charge_eu()

    assert terms(replace(doc, buyer=replace(doc.buyer, vat_id="61502943817"))) == ["BT-48"]


def test_an_intra_community_supply_needs_a_delivery_country_we_cannot_state() -> None:
    doc = cases.reverse_charge_eu()
    lines = tuple(replace(line, vat_category="K") for line in doc.lines)
    groups = tuple(
        replace(group, category="K", exemption_reason_code="VATEX-EU-IC") for group in doc.vat_groups
    )

    assert terms(replace(doc, lines=lines, vat_groups=groups)) == ["BT-80"]


def test_exempt_groups_need_a_reason() -> None:
    doc = cases.export_outside_eu()
    groups = tuple(replace(g, exemption_reason=None, exemption_reason_code=None) for g in doc.vat_groups)

    assert terms(replace(doc, vat_groups=groups)) == ["BT-120"]


def test_out_of_scope_lines_cannot_share_an_invoice_with_taxed_ones() -> None:
    doc = cases.domestic_standard()
    penalty = cases.not_subject_to_vat()

    mixed = replace(doc, lines=doc.lines + penalty.lines, vat_groups=doc.vat_groups + penalty.vat_groups)

    assert terms(mixed) == ["BT-151"]


def test_an_unknown_vat_category_is_named() -> None:
    doc = cases.domestic_standard()
    lines = (replace(doc.lines[0], vat_category="X"), *doc.lines[1:])

    assert terms(replace(doc, lines=lines)) == ["BT-151"]


def test_other_taxes_cannot_be_carried() -> None:
    doc = cases.export_outside_eu()
    sales_tax = OtherTax(
        name="Sales tax (US-CA)",
        rate=Decimal("8.625"),
        taxable_amount=Decimal("1790.00"),
        tax_amount=Decimal("154.39"),
    )

    (missing,) = missing_business_terms(replace(doc, other_taxes=(sales_tax,)))

    assert missing.term == "BT-110"
    assert "VAT only" in missing.hint
    assert "Sales tax (US-CA)" in missing.hint


def test_the_sales_tax_sample_has_a_pdf_only() -> None:
    assert terms(cases.with_sales_tax()) == ["BT-110"]


def test_a_currency_with_three_decimals_cannot_be_stated() -> None:
    assert terms(replace(cases.domestic_standard(), currency="KWD")) == ["BT-5"]
    assert terms(replace(cases.usd_with_eur_vat(), tax_currency="BHD")) == ["BT-6"]


def test_a_document_level_allowance_total_is_not_enough() -> None:
    doc = cases.domestic_standard()

    assert terms(replace(doc, totals=replace(doc.totals, allowance_total=Decimal("5.00")))) == ["BG-20"]


def test_a_vat_accounting_currency_needs_the_vat_total_in_it_and_must_differ() -> None:
    doc = cases.usd_with_eur_vat()

    assert terms(replace(doc, totals=replace(doc.totals, tax_total_in_tax_currency=None))) == ["BT-111"]
    assert terms(replace(doc, tax_currency="USD")) == ["BT-6"]


@pytest.mark.parametrize(
    ("payment", "expected"),
    [
        (PaymentInstructions(means_code="58", terms="14 days"), ["BT-84"]),
        (PaymentInstructions(means_code="48", terms="Charged"), ["BT-87"]),
        (PaymentInstructions(means_code="59", terms="Debited"), ["BT-89", "BT-90", "BT-91"]),
        (PaymentInstructions(means_code=" "), ["BT-81"]),
        (PaymentInstructions(means_code="1", means_text="Settled against your balance"), []),
    ],
)
def test_payment_means_need_their_details(payment: PaymentInstructions, expected: list[str]) -> None:
    assert terms(replace(cases.domestic_standard(), payment=payment)) == expected


def test_an_amount_due_needs_a_due_date_or_terms() -> None:
    doc = cases.domestic_standard()
    assert doc.payment is not None
    no_terms = replace(doc.payment, terms=None)

    assert terms(replace(doc, due_date=None, payment=no_terms)) == ["BT-9"]
    assert terms(replace(doc, payment=no_terms)) == []
    settled = replace(doc.totals, prepaid=doc.totals.tax_inclusive, payable=Decimal("0.00"))
    assert terms(replace(doc, due_date=None, payment=no_terms, totals=settled)) == []


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("Payable within 30 days.", True),
        ("#SKONTO#TAGE=14#PROZENT=2.00#\nNet within 30 days.", True),
        ("#SKONTO#TAGE=14#PROZENT=2.00#BASISBETRAG=100.00#\n", True),
        ("#SKONTO#TAGE=14#PROZENT=2#\n", False),
        ("#SKONTO#TAGE=14#PROZENT=2.00#", False),  # no line break after it
        ("#2 % discount within 14 days", False),
    ],
)
def test_discount_lines_in_payment_terms_follow_the_xrechnung_format(text: str, valid: bool) -> None:
    doc = cases.domestic_standard()
    assert doc.payment is not None

    assert terms(replace(doc, payment=replace(doc.payment, terms=text))) == ([] if valid else ["BT-20"])


def test_line_periods_must_lie_within_the_invoicing_period() -> None:
    doc = cases.domestic_standard()
    early = replace(doc.lines[0], period_start=doc.lines[0].period_start.replace(month=2))  # type: ignore[union-attr]

    assert terms(replace(doc, lines=(early, *doc.lines[1:]))) == ["BG-26"]
    assert terms(replace(doc, lines=(early, *doc.lines[1:]), period_start=None, period_end=None)) == []


def test_lines_need_an_id_a_name_and_a_unit() -> None:
    doc = cases.mixed_rates()
    lines = (
        replace(doc.lines[0], id=" "),
        replace(doc.lines[1], name=""),
        replace(doc.lines[2], unit_code=""),
    )

    assert terms(replace(doc, lines=lines)) == ["BT-126", "BT-153", "BT-130"]


def test_a_preceding_invoice_date_needs_its_number() -> None:
    doc = cases.credit_note()

    assert terms(replace(doc, preceding_invoice_number=None)) == ["BT-25"]


def test_a_buyer_contact_is_optional() -> None:
    doc = cases.domestic_standard()

    assert terms(replace(doc, buyer=replace(doc.buyer, contact=Contact()))) == []


@pytest.mark.parametrize("render", [render_ubl, render_cii])
def test_renderers_refuse_an_incomplete_document(render: Callable[[BillingDocument], bytes]) -> None:
    doc = replace(cases.domestic_standard(), buyer_reference=None)

    with pytest.raises(ValueError, match="BT-10"):
        render(doc)
