"""What the UBL and CII renderers write, checked without the validator: well-formed XML in the
right namespaces, the document's own amounts and dates, and the credit note's reference."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree  # type: ignore[import-untyped]

from billow.adapters.documents.cii import render_cii
from billow.adapters.documents.ubl import render_ubl
from billow.domain.billing_document import BillingDocument
from billow.domain.einvoice_requirements import PEPPOL_BILLING_PROFILE, XRECHNUNG_CUSTOMIZATION_ID
from tests.support import document_cases as cases

INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NS = {
    "inv": INVOICE,
    "cn": CREDIT_NOTE,
    "cac": CAC,
    "cbc": CBC,
    "rsm": RSM,
    "ram": RAM,
    "udt": UDT,
    "qdt": QDT,
}

SETTLEMENT = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
SUMMATION = SETTLEMENT + "/ram:SpecifiedTradeSettlementHeaderMonetarySummation"


def parse(xml: bytes) -> Any:
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))


def texts(root: Any, xpath: str) -> list[str]:
    return [str(value) for value in root.xpath(xpath, namespaces=NS)]


def text(root: Any, xpath: str) -> str:
    (value,) = texts(root, xpath)
    return value


def money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


# --- UBL --------------------------------------------------------------------------------


def test_an_invoice_is_a_ubl_invoice_in_the_ubl_namespaces() -> None:
    root = parse(render_ubl(cases.domestic_standard()))

    assert root.tag == f"{{{INVOICE}}}Invoice"
    assert {etree.QName(el).namespace for el in root.iter()} == {INVOICE, CAC, CBC}
    assert text(root, "cbc:CustomizationID/text()") == XRECHNUNG_CUSTOMIZATION_ID
    assert text(root, "cbc:ProfileID/text()") == PEPPOL_BILLING_PROFILE
    assert text(root, "cbc:InvoiceTypeCode/text()") == "380"
    assert text(root, "cbc:IssueDate/text()") == "2025-04-01"
    assert text(root, "cbc:DueDate/text()") == "2025-04-15"


def test_ubl_amounts_are_the_documents() -> None:
    doc = cases.discounts_and_credit()
    root = parse(render_ubl(doc))
    total = "cac:LegalMonetaryTotal/cbc:"

    assert text(root, total + "LineExtensionAmount/text()") == money(doc.totals.line_total)
    assert text(root, total + "TaxExclusiveAmount/text()") == money(doc.totals.tax_exclusive)
    assert text(root, total + "TaxInclusiveAmount/text()") == money(doc.totals.tax_inclusive)
    assert text(root, total + "PrepaidAmount/text()") == money(doc.totals.prepaid)
    assert text(root, total + "PayableAmount/text()") == money(doc.totals.payable)
    assert text(root, "cac:TaxTotal/cbc:TaxAmount/text()") == money(doc.totals.tax_total)
    assert texts(root, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount/text()") == [
        money(group.taxable_amount) for group in doc.vat_groups
    ]
    assert texts(root, "cac:InvoiceLine/cbc:LineExtensionAmount/text()") == [
        money(line.net_amount) for line in doc.lines
    ]
    assert texts(root, "cac:InvoiceLine/cbc:InvoicedQuantity/text()") == [
        str(line.quantity) for line in doc.lines
    ]
    assert texts(root, "cac:InvoiceLine/cac:Price/cbc:PriceAmount/text()") == [
        str(line.unit_price) for line in doc.lines
    ]
    assert set(texts(root, "//@currencyID")) == {"EUR"}


def test_a_discount_line_has_a_negative_quantity_and_a_positive_price() -> None:
    root = parse(render_ubl(cases.discounts_and_credit()))
    (discount,) = root.xpath("cac:InvoiceLine[cbc:ID='2']", namespaces=NS)

    assert text(discount, "cbc:InvoicedQuantity/text()") == "-1"
    assert text(discount, "cbc:LineExtensionAmount/text()") == "-49.90"
    assert text(discount, "cac:Price/cbc:PriceAmount/text()") == "49.90"


def test_a_credit_note_is_a_ubl_credit_note_referencing_the_invoice() -> None:
    doc = cases.credit_note()
    root = parse(render_ubl(doc))

    assert root.tag == f"{{{CREDIT_NOTE}}}CreditNote"
    assert text(root, "cbc:CreditNoteTypeCode/text()") == "381"
    assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID/text()") == "RE-2025-0101"
    assert (
        text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate/text()") == "2025-04-01"
    )
    assert texts(root, "cac:CreditNoteLine/cbc:CreditedQuantity/text()") == ["2"]
    assert texts(root, "//cac:InvoiceLine | //cbc:InvoicedQuantity | //cbc:InvoiceTypeCode") == []


def test_usd_invoice_states_its_vat_in_euro_in_a_second_tax_total() -> None:
    doc = cases.usd_with_eur_vat()
    root = parse(render_ubl(doc))

    assert text(root, "cbc:TaxCurrencyCode/text()") == "EUR"
    assert texts(root, "cac:TaxTotal/cbc:TaxAmount/@currencyID") == ["USD", "EUR"]
    assert text(root, "cac:TaxTotal[not(cac:TaxSubtotal)]/cbc:TaxAmount/text()") == money(
        doc.totals.tax_total_in_tax_currency or Decimal(0)
    )


def test_reverse_charge_states_category_reason_and_note() -> None:
    root = parse(render_ubl(cases.reverse_charge_eu()))
    category = "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:"

    assert text(root, category + "ID/text()") == "AE"
    assert text(root, category + "Percent/text()") == "0"
    assert text(root, category + "TaxExemptionReasonCode/text()") == "VATEX-EU-AE"
    assert text(root, category + "TaxExemptionReason/text()") == "Reverse charge"
    assert text(root, "cbc:Note/text()").startswith("Reverse charge")
    assert texts(root, "cac:AccountingCustomerParty//cac:PartyTaxScheme/cbc:CompanyID/text()") == [
        "FR61502943817"
    ]


def test_a_standard_rated_group_never_carries_an_exemption_reason() -> None:
    doc = cases.domestic_standard()
    groups = tuple(
        replace(g, exemption_reason="n/a", exemption_reason_code="VATEX-EU-79-C") for g in doc.vat_groups
    )

    for xml in (render_ubl(replace(doc, vat_groups=groups)), render_cii(replace(doc, vat_groups=groups))):
        assert b"n/a" not in xml
        assert b"VATEX" not in xml


def test_out_of_scope_documents_state_no_vat_ids_and_no_line_rate() -> None:
    root = parse(render_ubl(cases.not_subject_to_vat()))

    assert texts(root, "//cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']") == []
    assert texts(root, "//cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='FC']/cbc:CompanyID/text()") == [
        "41/723/01592"
    ]
    assert texts(root, "cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent") == []


def test_direct_debit_states_mandate_creditor_and_debited_account_only() -> None:
    doc = cases.domestic_direct_debit()
    root = parse(render_ubl(doc))

    assert text(root, "cac:PaymentMeans/cbc:PaymentMeansCode/text()") == "59"
    assert text(root, "cac:PaymentMeans/cac:PaymentMandate/cbc:ID/text()") == "KFC-MANDATE-000417"
    assert text(root, "//cac:PayerFinancialAccount/cbc:ID/text()") == cases.CUSTOMER_IBAN
    assert text(root, "//cac:PartyIdentification/cbc:ID[@schemeID='SEPA']/text()") == cases.CREDITOR_ID
    assert texts(root, "//cac:PayeeFinancialAccount") == []


def test_no_element_is_empty() -> None:
    for case in cases.CASES.values():
        for xml in (render_ubl(case()), render_cii(case())):
            root = parse(xml)
            empty = [
                el.tag
                for el in root.iter()
                if len(el) == 0
                and not (el.text or "").strip()
                and etree.QName(el).localname != "ApplicableHeaderTradeDelivery"
            ]
            assert empty == []


# --- CII --------------------------------------------------------------------------------


def test_an_invoice_is_a_cross_industry_invoice_in_the_d16b_namespaces() -> None:
    root = parse(render_cii(cases.domestic_standard()))
    context = "rsm:ExchangedDocumentContext/ram:"

    assert root.tag == f"{{{RSM}}}CrossIndustryInvoice"
    assert {etree.QName(el).namespace for el in root.iter()} == {RSM, RAM, UDT}
    assert text(root, context + "GuidelineSpecifiedDocumentContextParameter/ram:ID/text()") == (
        XRECHNUNG_CUSTOMIZATION_ID
    )
    assert text(root, context + "BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()") == (
        PEPPOL_BILLING_PROFILE
    )
    assert text(root, "rsm:ExchangedDocument/ram:TypeCode/text()") == "380"
    issued = "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString"
    assert text(root, issued + "/text()") == "20250401"
    assert text(root, issued + "/@format") == "102"
    assert text(
        root, SETTLEMENT + "/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString/text()"
    ) == ("20250415")


def test_cii_amounts_are_the_documents() -> None:
    doc = cases.mixed_rates()
    root = parse(render_cii(doc))

    assert text(root, SUMMATION + "/ram:LineTotalAmount/text()") == money(doc.totals.line_total)
    assert text(root, SUMMATION + "/ram:TaxBasisTotalAmount/text()") == money(doc.totals.tax_exclusive)
    assert text(root, SUMMATION + "/ram:TaxTotalAmount[@currencyID='EUR']/text()") == money(
        doc.totals.tax_total
    )
    assert text(root, SUMMATION + "/ram:GrandTotalAmount/text()") == money(doc.totals.tax_inclusive)
    assert text(root, SUMMATION + "/ram:DuePayableAmount/text()") == money(doc.totals.payable)
    assert texts(root, SETTLEMENT + "/ram:ApplicableTradeTax/ram:CalculatedAmount/text()") == [
        money(group.tax_amount) for group in doc.vat_groups
    ]
    assert texts(root, SETTLEMENT + "/ram:ApplicableTradeTax/ram:RateApplicablePercent/text()") == ["7", "19"]
    line_totals = "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()"
    assert texts(root, line_totals) == [money(line.net_amount) for line in doc.lines]
    assert texts(root, "//ram:BilledQuantity/@unitCode") == ["C62", "C62", "HUR"]


def test_a_cii_credit_note_references_the_invoice() -> None:
    root = parse(render_cii(cases.credit_note()))
    reference = SETTLEMENT + "/ram:InvoiceReferencedDocument"

    assert text(root, "rsm:ExchangedDocument/ram:TypeCode/text()") == "381"
    assert text(root, reference + "/ram:IssuerAssignedID/text()") == "RE-2025-0101"
    assert text(root, reference + "/ram:FormattedIssueDateTime/qdt:DateTimeString/text()") == "20250401"


def test_cii_usd_invoice_states_both_vat_totals() -> None:
    doc = cases.usd_with_eur_vat()
    root = parse(render_cii(doc))

    assert text(root, SETTLEMENT + "/ram:TaxCurrencyCode/text()") == "EUR"
    assert text(root, SETTLEMENT + "/ram:InvoiceCurrencyCode/text()") == "USD"
    assert texts(root, SUMMATION + "/ram:TaxTotalAmount/@currencyID") == ["USD", "EUR"]


def test_cii_direct_debit_puts_the_mandate_in_the_single_payment_terms() -> None:
    root = parse(render_cii(cases.domestic_direct_debit()))

    assert text(root, SETTLEMENT + "/ram:CreditorReferenceID/text()") == cases.CREDITOR_ID
    assert len(root.xpath(SETTLEMENT + "/ram:SpecifiedTradePaymentTerms", namespaces=NS)) == 1
    assert text(root, SETTLEMENT + "/ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID/text()") == (
        "KFC-MANDATE-000417"
    )
    assert text(root, "//ram:PayerPartyDebtorFinancialAccount/ram:IBANID/text()") == cases.CUSTOMER_IBAN


# --- both -------------------------------------------------------------------------------


@pytest.mark.parametrize("render", [render_ubl, render_cii])
def test_rendering_is_pure(render: Any) -> None:
    doc = cases.usd_with_eur_vat()

    assert render(doc) == render(doc)


@pytest.mark.parametrize("render", [render_ubl, render_cii])
def test_text_is_escaped_not_interpreted(render: Any) -> None:
    doc = cases.domestic_standard()
    tricky = replace(doc.buyer, name="Müller & Söhne <GmbH>")

    root = parse(render(replace(doc, buyer=tricky)))

    assert "Müller & Söhne <GmbH>" in [el.text for el in root.iter()]


# --- the sample documents themselves ----------------------------------------------------


ALL_CASES = {**cases.CASES, **cases.PDF_ONLY_CASES}


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_sample_amounts_are_consistent(case: str) -> None:
    doc: BillingDocument = ALL_CASES[case]()
    totals = doc.totals

    for line in doc.lines:
        assert line.net_amount == cases.round_half_up(line.quantity * line.unit_price)
        assert line.unit_price >= 0
    for group in doc.vat_groups:
        members = [
            line for line in doc.lines if (line.vat_category, line.vat_rate) == (group.category, group.rate)
        ]
        assert group.taxable_amount == sum(line.net_amount for line in members)
        assert group.tax_amount == cases.round_half_up(group.taxable_amount * group.rate / 100)
    assert totals.line_total == sum(line.net_amount for line in doc.lines)
    for tax in doc.other_taxes:
        assert tax.tax_amount == cases.round_half_up(tax.taxable_amount * tax.rate / 100)
    vat = sum(group.tax_amount for group in doc.vat_groups)
    assert totals.tax_total == vat + sum(tax.tax_amount for tax in doc.other_taxes)
    assert totals.tax_inclusive == totals.tax_exclusive + totals.tax_total
    assert totals.payable == totals.tax_inclusive - totals.prepaid


def test_sample_ibans_have_valid_check_digits() -> None:
    assert cases.SELLER_IBAN.startswith("DE")
    assert cases.iban_is_valid(cases.SELLER_IBAN)
    assert cases.iban_is_valid(cases.CUSTOMER_IBAN)
    assert cases.iban("DE", "370400440532013000") == "DE89370400440532013000"  # the well-known example
    assert not cases.iban_is_valid("DE88370400440532013000")


def test_lines_builds_the_requested_number_of_lines() -> None:
    assert len(cases.lines(20).lines) == 20
    assert len(cases.lines(500).lines) == 500
