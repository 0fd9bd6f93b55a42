"""A billing document as an XRechnung 3.0 UBL 2.1 ``Invoice`` or ``CreditNote``.

Pure layout: every value comes from the ``BillingDocument`` (domain/billing_document.py), which
has already decided and rounded it; the business-term numbers in the comments are EN 16931's.
UBL's schemas fix the order of elements, so each builder appends in schema order.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from billow.adapters.documents.einvoice_xml import Element, document_bytes, money, number, present
from billow.domain.billing_document import (
    BillingDocument,
    DocumentLine,
    Party,
    PaymentInstructions,
    VatGroup,
)
from billow.domain.einvoice_requirements import (
    CARD_CODES,
    DIRECT_DEBIT_CODES,
    PEPPOL_BILLING_PROFILE,
    XRECHNUNG_CUSTOMIZATION_ID,
    ensure_einvoice_possible,
    states_exemption_reason,
    states_vat_ids,
)

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

_CAC = "{" + CAC_NS + "}"
_CBC = "{" + CBC_NS + "}"


class _Writer:
    """Appends UBL elements; knows the document's currency so amounts carry it."""

    def __init__(self, doc: BillingDocument) -> None:
        self.currency = doc.currency

    def cbc(
        self, parent: Element, tag: str, text: str | None, attributes: dict[str, str] | None = None
    ) -> None:
        """A basic element, left out when there is nothing to say (Peppol forbids empty ones)."""
        if present(text):
            etree.SubElement(parent, _CBC + tag, attributes).text = text

    def cac(self, parent: Element, tag: str) -> Element:
        return etree.SubElement(parent, _CAC + tag)

    def amount(self, parent: Element, tag: str, value: Decimal, currency: str | None = None) -> None:
        currency = currency or self.currency
        self.cbc(parent, tag, money(value, currency), {"currencyID": currency})


def render_ubl(doc: BillingDocument) -> bytes:
    """The document as UBL: Invoice (380) or CreditNote (381), UTF-8 with a declaration."""
    ensure_einvoice_possible(doc)
    credit = doc.kind == "credit_note"
    root_ns = CREDIT_NOTE_NS if credit else INVOICE_NS
    root = etree.Element(
        "{" + root_ns + "}" + ("CreditNote" if credit else "Invoice"),
        nsmap={None: root_ns, "cac": CAC_NS, "cbc": CBC_NS},
    )
    w = _Writer(doc)
    _header(w, root, doc, credit)
    _parties(w, root, doc)
    if doc.payment is not None:
        _payment(w, root, doc, doc.payment, credit)
    _tax_totals(w, root, doc)
    _monetary_total(w, root, doc)
    for line in doc.lines:
        _line(w, root, line, credit)
    return document_bytes(root)


def _header(w: _Writer, root: Element, doc: BillingDocument, credit: bool) -> None:
    w.cbc(root, "CustomizationID", XRECHNUNG_CUSTOMIZATION_ID)  # BT-24
    w.cbc(root, "ProfileID", PEPPOL_BILLING_PROFILE)  # BT-23
    w.cbc(root, "ID", doc.number)  # BT-1
    w.cbc(root, "IssueDate", _date(doc.issue_date))  # BT-2
    if credit:
        # A CreditNote has no DueDate; its BT-9 goes with the payment means.
        w.cbc(root, "TaxPointDate", _date(doc.tax_point_date))  # BT-7
        w.cbc(root, "CreditNoteTypeCode", doc.type_code)  # BT-3
    else:
        w.cbc(root, "DueDate", _date(doc.due_date))  # BT-9
        w.cbc(root, "InvoiceTypeCode", doc.type_code)  # BT-3
    for note in doc.notes:
        w.cbc(root, "Note", note)  # BT-22
    if not credit:
        w.cbc(root, "TaxPointDate", _date(doc.tax_point_date))  # BT-7
    w.cbc(root, "DocumentCurrencyCode", doc.currency)  # BT-5
    w.cbc(root, "TaxCurrencyCode", doc.tax_currency)  # BT-6
    w.cbc(root, "BuyerReference", doc.buyer_reference)  # BT-10
    _period(w, root, doc.period_start, doc.period_end)  # BG-14
    if present(doc.order_reference):
        w.cbc(w.cac(root, "OrderReference"), "ID", doc.order_reference)  # BT-13
    if present(doc.preceding_invoice_number):  # BG-3
        reference = w.cac(w.cac(root, "BillingReference"), "InvoiceDocumentReference")
        w.cbc(reference, "ID", doc.preceding_invoice_number)  # BT-25
        w.cbc(reference, "IssueDate", _date(doc.preceding_invoice_date))  # BT-26


def _parties(w: _Writer, root: Element, doc: BillingDocument) -> None:
    vat_ids = states_vat_ids(doc)
    payment = doc.payment
    debit = payment is not None and payment.means_code.strip() in DIRECT_DEBIT_CODES
    creditor_id = payment.creditor_identifier if payment is not None and debit else None
    seller = w.cac(w.cac(root, "AccountingSupplierParty"), "Party")  # BG-4
    _party(w, seller, doc.seller, vat_ids, creditor_id=creditor_id, seller=True)
    buyer = w.cac(w.cac(root, "AccountingCustomerParty"), "Party")  # BG-7
    _party(w, buyer, doc.buyer, vat_ids, creditor_id=None, seller=False)


def _party(
    w: _Writer, el: Element, party: Party, vat_ids: bool, *, creditor_id: str | None, seller: bool
) -> None:
    w.cbc(el, "EndpointID", party.electronic_address, {"schemeID": "EM"})  # BT-34 / BT-49
    if present(creditor_id):
        w.cbc(w.cac(el, "PartyIdentification"), "ID", creditor_id, {"schemeID": "SEPA"})  # BT-90
    if present(party.trading_name):
        w.cbc(w.cac(el, "PartyName"), "Name", party.trading_name)  # BT-28 / BT-45
    _address(w, w.cac(el, "PostalAddress"), party)  # BG-5 / BG-8
    if vat_ids:
        _tax_scheme(w, el, party.vat_id, "VAT")  # BT-31 / BT-48
    if seller:
        _tax_scheme(w, el, party.tax_number, "FC")  # BT-32
    legal = w.cac(el, "PartyLegalEntity")
    w.cbc(legal, "RegistrationName", party.name)  # BT-27 / BT-44
    w.cbc(legal, "CompanyID", party.legal_registration)  # BT-30 / BT-47
    contact = party.contact  # BG-6 / BG-9
    if any(present(value) for value in (contact.name, contact.phone, contact.email)):
        el_contact = w.cac(el, "Contact")
        w.cbc(el_contact, "Name", contact.name)
        w.cbc(el_contact, "Telephone", contact.phone)
        w.cbc(el_contact, "ElectronicMail", contact.email)


def _address(w: _Writer, el: Element, party: Party) -> None:
    address = party.address
    w.cbc(el, "StreetName", address.line1)
    w.cbc(el, "AdditionalStreetName", address.line2)
    w.cbc(el, "CityName", address.city)
    w.cbc(el, "PostalZone", address.postal_code)
    w.cbc(el, "CountrySubentity", address.state)
    w.cbc(w.cac(el, "Country"), "IdentificationCode", address.country)


def _tax_scheme(w: _Writer, party: Element, company_id: str | None, scheme: str) -> None:
    if not present(company_id):
        return
    el = w.cac(party, "PartyTaxScheme")
    w.cbc(el, "CompanyID", company_id)
    w.cbc(w.cac(el, "TaxScheme"), "ID", scheme)


def _payment(
    w: _Writer, root: Element, doc: BillingDocument, payment: PaymentInstructions, credit: bool
) -> None:
    means = w.cac(root, "PaymentMeans")  # BG-16
    code = payment.means_code.strip()
    w.cbc(means, "PaymentMeansCode", code, _name(payment.means_text))  # BT-81, BT-82
    if credit:
        w.cbc(means, "PaymentDueDate", _date(doc.due_date))  # BT-9
    w.cbc(means, "PaymentID", payment.remittance_information)  # BT-83
    # XRechnung allows exactly the group that fits the means: card, mandate or account.
    if code in CARD_CODES:
        card = w.cac(means, "CardAccount")  # BG-18
        w.cbc(card, "PrimaryAccountNumberID", payment.card_last4)  # BT-87
        # UBL requires the card network, which EN 16931 has no term for and we do not know.
        w.cbc(card, "NetworkID", "unknown")
    elif code in DIRECT_DEBIT_CODES:
        mandate = w.cac(means, "PaymentMandate")  # BG-19
        w.cbc(mandate, "ID", payment.mandate_reference)  # BT-89
        w.cbc(w.cac(mandate, "PayerFinancialAccount"), "ID", payment.debited_account)  # BT-91
    elif present(payment.iban):
        account = w.cac(means, "PayeeFinancialAccount")  # BG-17
        w.cbc(account, "ID", payment.iban)  # BT-84
        w.cbc(account, "Name", payment.account_name)  # BT-85
        if present(payment.bic):
            w.cbc(w.cac(account, "FinancialInstitutionBranch"), "ID", payment.bic)  # BT-86
    if present(payment.terms):
        w.cbc(w.cac(root, "PaymentTerms"), "Note", payment.terms)  # BT-20


def _tax_totals(w: _Writer, root: Element, doc: BillingDocument) -> None:
    total = w.cac(root, "TaxTotal")
    w.amount(total, "TaxAmount", doc.totals.tax_total)  # BT-110
    for group in doc.vat_groups:
        _tax_subtotal(w, total, group)
    if doc.tax_currency and doc.totals.tax_total_in_tax_currency is not None:
        # BT-111 stands alone in a second TaxTotal, in the VAT accounting currency.
        w.amount(w.cac(root, "TaxTotal"), "TaxAmount", doc.totals.tax_total_in_tax_currency, doc.tax_currency)


def _tax_subtotal(w: _Writer, total: Element, group: VatGroup) -> None:
    subtotal = w.cac(total, "TaxSubtotal")  # BG-23
    w.amount(subtotal, "TaxableAmount", group.taxable_amount)  # BT-116
    w.amount(subtotal, "TaxAmount", group.tax_amount)  # BT-117
    category = w.cac(subtotal, "TaxCategory")
    w.cbc(category, "ID", group.category)  # BT-118
    w.cbc(category, "Percent", number(group.rate))  # BT-119 (XRechnung wants it even for O)
    if states_exemption_reason(group.category):
        w.cbc(category, "TaxExemptionReasonCode", group.exemption_reason_code)  # BT-121
        w.cbc(category, "TaxExemptionReason", group.exemption_reason)  # BT-120
    w.cbc(w.cac(category, "TaxScheme"), "ID", "VAT")


def _monetary_total(w: _Writer, root: Element, doc: BillingDocument) -> None:
    totals = doc.totals
    el = w.cac(root, "LegalMonetaryTotal")  # BG-22
    w.amount(el, "LineExtensionAmount", totals.line_total)  # BT-106
    w.amount(el, "TaxExclusiveAmount", totals.tax_exclusive)  # BT-109
    w.amount(el, "TaxInclusiveAmount", totals.tax_inclusive)  # BT-112
    if totals.prepaid != 0:
        w.amount(el, "PrepaidAmount", totals.prepaid)  # BT-113
    w.amount(el, "PayableAmount", totals.payable)  # BT-115


def _line(w: _Writer, root: Element, line: DocumentLine, credit: bool) -> None:
    el = w.cac(root, "CreditNoteLine" if credit else "InvoiceLine")  # BG-25
    w.cbc(el, "ID", line.id)  # BT-126
    quantity = "CreditedQuantity" if credit else "InvoicedQuantity"
    w.cbc(el, quantity, number(line.quantity), {"unitCode": line.unit_code})  # BT-129, BT-130
    w.amount(el, "LineExtensionAmount", line.net_amount)  # BT-131
    _period(w, el, line.period_start, line.period_end)  # BG-26
    item = w.cac(el, "Item")  # BG-31
    w.cbc(item, "Description", line.description)  # BT-154
    w.cbc(item, "Name", line.name)  # BT-153
    if present(line.product_id):
        w.cbc(w.cac(item, "SellersItemIdentification"), "ID", line.product_id)  # BT-155
    category = w.cac(item, "ClassifiedTaxCategory")
    w.cbc(category, "ID", line.vat_category)  # BT-151
    if line.vat_category != "O":  # BR-O-05: no rate outside the scope of VAT
        w.cbc(category, "Percent", number(line.vat_rate))  # BT-152
    w.cbc(w.cac(category, "TaxScheme"), "ID", "VAT")
    w.cbc(w.cac(el, "Price"), "PriceAmount", number(line.unit_price), {"currencyID": w.currency})  # BT-146


def _period(w: _Writer, parent: Element, start: date | None, end: date | None) -> None:
    if start is None and end is None:
        return
    el = w.cac(parent, "InvoicePeriod")
    w.cbc(el, "StartDate", _date(start))
    w.cbc(el, "EndDate", _date(end))


def _date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _name(text: str | None) -> dict[str, str]:
    return {"name": text} if text is not None and present(text) else {}
