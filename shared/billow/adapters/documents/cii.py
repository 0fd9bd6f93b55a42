"""A billing document as an XRechnung 3.0 UN/CEFACT Cross Industry Invoice (CII D16B).

The same XML serves as the ZUGFeRD / Factur-X attachment of the PDF/A-3, so it sticks to what
plain EN 16931 allows too. Pure layout: every value comes from the ``BillingDocument``
(domain/billing_document.py); the comments name EN 16931's business terms. The D16B schema
fixes the order of elements, so each builder appends in schema order.
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

RSM_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM_NS = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT_NS = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT_NS = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"

_RSM = "{" + RSM_NS + "}"
_RAM = "{" + RAM_NS + "}"
_UDT = "{" + UDT_NS + "}"
_QDT = "{" + QDT_NS + "}"

# UNTDID 2379 "102": dates written CCYYMMDD.
_DATE_FORMAT = {"format": "102"}


class _Writer:
    """Appends ram: elements; knows the currency's minor unit for amounts."""

    def __init__(self, doc: BillingDocument) -> None:
        self.currency = doc.currency

    def ram(
        self, parent: Element, tag: str, text: str | None = None, attributes: dict[str, str] | None = None
    ) -> Element:
        element = etree.SubElement(parent, _RAM + tag, attributes)
        if text is not None:
            element.text = text
        return element

    def text(
        self, parent: Element, tag: str, text: str | None, attributes: dict[str, str] | None = None
    ) -> None:
        """A ram: element with text, left out when there is none (empty elements are invalid)."""
        if present(text):
            self.ram(parent, tag, text, attributes)

    def amount(self, parent: Element, tag: str, value: Decimal, currency: str | None = None) -> None:
        # Only the VAT totals carry a currencyID; every other amount is in the invoice currency.
        attributes = {"currencyID": currency} if currency else None
        self.ram(parent, tag, money(value, currency or self.currency), attributes)

    def date_time(self, parent: Element, tag: str, value: date | None) -> None:
        if value is not None:
            element = self.ram(parent, tag)
            etree.SubElement(element, _UDT + "DateTimeString", _DATE_FORMAT).text = _date(value)


def render_cii(doc: BillingDocument) -> bytes:
    """The document as a CrossIndustryInvoice (type 380 or 381), UTF-8 with a declaration."""
    ensure_einvoice_possible(doc)
    root = etree.Element(
        _RSM + "CrossIndustryInvoice",
        nsmap={"rsm": RSM_NS, "ram": RAM_NS, "udt": UDT_NS, "qdt": QDT_NS},
    )
    w = _Writer(doc)
    _context(w, root)
    _exchanged_document(w, root, doc)
    transaction = etree.SubElement(root, _RSM + "SupplyChainTradeTransaction")
    for line in doc.lines:
        _line(w, transaction, line)
    _agreement(w, transaction, doc)
    w.ram(transaction, "ApplicableHeaderTradeDelivery")  # required, and nothing to deliver
    _settlement(w, transaction, doc)
    return document_bytes(root)


def _context(w: _Writer, root: Element) -> None:
    context = etree.SubElement(root, _RSM + "ExchangedDocumentContext")
    w.ram(w.ram(context, "BusinessProcessSpecifiedDocumentContextParameter"), "ID", PEPPOL_BILLING_PROFILE)
    w.ram(w.ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", XRECHNUNG_CUSTOMIZATION_ID)


def _exchanged_document(w: _Writer, root: Element, doc: BillingDocument) -> None:
    document = etree.SubElement(root, _RSM + "ExchangedDocument")
    w.text(document, "ID", doc.number)  # BT-1
    w.text(document, "TypeCode", doc.type_code)  # BT-3
    w.date_time(document, "IssueDateTime", doc.issue_date)  # BT-2
    for note in doc.notes:
        if present(note):
            w.ram(w.ram(document, "IncludedNote"), "Content", note)  # BT-22


def _line(w: _Writer, transaction: Element, line: DocumentLine) -> None:
    item = w.ram(transaction, "IncludedSupplyChainTradeLineItem")  # BG-25
    w.ram(w.ram(item, "AssociatedDocumentLineDocument"), "LineID", line.id)  # BT-126
    product = w.ram(item, "SpecifiedTradeProduct")  # BG-31
    w.text(product, "SellerAssignedID", line.product_id)  # BT-155
    w.text(product, "Name", line.name)  # BT-153
    w.text(product, "Description", line.description)  # BT-154
    agreement = w.ram(item, "SpecifiedLineTradeAgreement")
    w.ram(w.ram(agreement, "NetPriceProductTradePrice"), "ChargeAmount", number(line.unit_price))  # BT-146
    delivery = w.ram(item, "SpecifiedLineTradeDelivery")
    w.ram(delivery, "BilledQuantity", number(line.quantity), {"unitCode": line.unit_code})  # BT-129/130
    settlement = w.ram(item, "SpecifiedLineTradeSettlement")
    tax = w.ram(settlement, "ApplicableTradeTax")
    w.ram(tax, "TypeCode", "VAT")
    w.ram(tax, "CategoryCode", line.vat_category)  # BT-151
    if line.vat_category != "O":  # BR-O-05: no rate outside the scope of VAT
        w.ram(tax, "RateApplicablePercent", number(line.vat_rate))  # BT-152
    _period(w, settlement, line.period_start, line.period_end)  # BG-26
    summation = w.ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
    w.amount(summation, "LineTotalAmount", line.net_amount)  # BT-131


def _agreement(w: _Writer, transaction: Element, doc: BillingDocument) -> None:
    agreement = w.ram(transaction, "ApplicableHeaderTradeAgreement")
    w.text(agreement, "BuyerReference", doc.buyer_reference)  # BT-10
    vat_ids = states_vat_ids(doc)
    _party(w, w.ram(agreement, "SellerTradeParty"), doc.seller, vat_ids, seller=True)  # BG-4
    _party(w, w.ram(agreement, "BuyerTradeParty"), doc.buyer, vat_ids, seller=False)  # BG-7
    if present(doc.order_reference):
        w.ram(
            w.ram(agreement, "BuyerOrderReferencedDocument"), "IssuerAssignedID", doc.order_reference
        )  # BT-13


def _party(w: _Writer, el: Element, party: Party, vat_ids: bool, *, seller: bool) -> None:
    w.text(el, "Name", party.name)  # BT-27 / BT-44
    legal_id, trading_name = party.legal_registration, party.trading_name
    if present(legal_id) or present(trading_name):
        organization = w.ram(el, "SpecifiedLegalOrganization")
        w.text(organization, "ID", legal_id)  # BT-30 / BT-47
        w.text(organization, "TradingBusinessName", trading_name)  # BT-28 / BT-45
    _contact(w, el, party)  # BG-6 / BG-9
    _address(w, w.ram(el, "PostalTradeAddress"), party)  # BG-5 / BG-8
    if present(party.electronic_address):
        w.ram(w.ram(el, "URIUniversalCommunication"), "URIID", party.electronic_address, {"schemeID": "EM"})
    if vat_ids:
        _tax_registration(w, el, party.vat_id, "VA")  # BT-31 / BT-48
    if seller:
        _tax_registration(w, el, party.tax_number, "FC")  # BT-32


def _contact(w: _Writer, el: Element, party: Party) -> None:
    contact = party.contact
    if not any(present(value) for value in (contact.name, contact.phone, contact.email)):
        return
    el_contact = w.ram(el, "DefinedTradeContact")
    w.text(el_contact, "PersonName", contact.name)
    if present(contact.phone):
        w.ram(w.ram(el_contact, "TelephoneUniversalCommunication"), "CompleteNumber", contact.phone)
    if present(contact.email):
        w.ram(w.ram(el_contact, "EmailURIUniversalCommunication"), "URIID", contact.email)


def _address(w: _Writer, el: Element, party: Party) -> None:
    address = party.address
    w.text(el, "PostcodeCode", address.postal_code)
    w.text(el, "LineOne", address.line1)
    w.text(el, "LineTwo", address.line2)
    w.text(el, "CityName", address.city)
    w.text(el, "CountryID", address.country)
    w.text(el, "CountrySubDivisionName", address.state)


def _tax_registration(w: _Writer, party: Element, value: str | None, scheme: str) -> None:
    if present(value):
        w.ram(w.ram(party, "SpecifiedTaxRegistration"), "ID", value, {"schemeID": scheme})


def _settlement(w: _Writer, transaction: Element, doc: BillingDocument) -> None:
    settlement = w.ram(transaction, "ApplicableHeaderTradeSettlement")
    payment = doc.payment
    if payment is not None and payment.means_code.strip() in DIRECT_DEBIT_CODES:
        w.text(settlement, "CreditorReferenceID", payment.creditor_identifier)  # BT-90
    w.text(settlement, "PaymentReference", payment.remittance_information if payment else None)  # BT-83
    w.text(settlement, "TaxCurrencyCode", doc.tax_currency)  # BT-6
    w.text(settlement, "InvoiceCurrencyCode", doc.currency)  # BT-5
    if payment is not None:
        _payment_means(w, settlement, payment)
    for group in doc.vat_groups:
        _trade_tax(w, settlement, group, doc.tax_point_date)
    _period(w, settlement, doc.period_start, doc.period_end)  # BG-14
    _payment_terms(w, settlement, doc)
    _monetary_summation(w, settlement, doc)
    if present(doc.preceding_invoice_number):  # BG-3
        reference = w.ram(settlement, "InvoiceReferencedDocument")
        w.ram(reference, "IssuerAssignedID", doc.preceding_invoice_number)  # BT-25
        if doc.preceding_invoice_date is not None:  # BT-26
            issued = w.ram(reference, "FormattedIssueDateTime")
            etree.SubElement(issued, _QDT + "DateTimeString", _DATE_FORMAT).text = _date(
                doc.preceding_invoice_date
            )


def _payment_means(w: _Writer, settlement: Element, payment: PaymentInstructions) -> None:
    means = w.ram(settlement, "SpecifiedTradeSettlementPaymentMeans")  # BG-16
    code = payment.means_code.strip()
    w.ram(means, "TypeCode", code)  # BT-81
    w.text(means, "Information", payment.means_text)  # BT-82
    # XRechnung allows exactly the group that fits the means: card, mandate or account.
    if code in CARD_CODES:
        w.text(w.ram(means, "ApplicableTradeSettlementFinancialCard"), "ID", payment.card_last4)  # BT-87
    elif code in DIRECT_DEBIT_CODES:
        w.text(w.ram(means, "PayerPartyDebtorFinancialAccount"), "IBANID", payment.debited_account)  # BT-91
    elif present(payment.iban):
        account = w.ram(means, "PayeePartyCreditorFinancialAccount")  # BG-17
        w.ram(account, "IBANID", payment.iban)  # BT-84
        w.text(account, "AccountName", payment.account_name)  # BT-85
        if present(payment.bic):
            w.ram(w.ram(means, "PayeeSpecifiedCreditorFinancialInstitution"), "BICID", payment.bic)  # BT-86


def _trade_tax(w: _Writer, settlement: Element, group: VatGroup, tax_point: date | None) -> None:
    tax = w.ram(settlement, "ApplicableTradeTax")  # BG-23
    w.amount(tax, "CalculatedAmount", group.tax_amount)  # BT-117
    w.ram(tax, "TypeCode", "VAT")
    exempt = states_exemption_reason(group.category)
    if exempt:
        w.text(tax, "ExemptionReason", group.exemption_reason)  # BT-120
    w.amount(tax, "BasisAmount", group.taxable_amount)  # BT-116
    w.ram(tax, "CategoryCode", group.category)  # BT-118
    if exempt:
        w.text(tax, "ExemptionReasonCode", group.exemption_reason_code)  # BT-121
    if tax_point is not None:  # BT-7
        etree.SubElement(w.ram(tax, "TaxPointDate"), _UDT + "DateString", _DATE_FORMAT).text = _date(
            tax_point
        )
    w.ram(tax, "RateApplicablePercent", number(group.rate))  # BT-119 (XRechnung wants it even for O)


def _payment_terms(w: _Writer, settlement: Element, doc: BillingDocument) -> None:
    # One SpecifiedTradePaymentTerms carries BT-20, BT-9 and BT-89 (XRechnung allows only one).
    payment = doc.payment
    description = payment.terms if payment else None
    mandate = (
        payment.mandate_reference if payment and payment.means_code.strip() in DIRECT_DEBIT_CODES else None
    )
    if not (present(description) or present(mandate) or doc.due_date is not None):
        return
    terms = w.ram(settlement, "SpecifiedTradePaymentTerms")
    w.text(terms, "Description", description)  # BT-20
    w.date_time(terms, "DueDateDateTime", doc.due_date)  # BT-9
    w.text(terms, "DirectDebitMandateID", mandate)  # BT-89


def _monetary_summation(w: _Writer, settlement: Element, doc: BillingDocument) -> None:
    totals = doc.totals
    summation = w.ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")  # BG-22
    w.amount(summation, "LineTotalAmount", totals.line_total)  # BT-106
    w.amount(summation, "TaxBasisTotalAmount", totals.tax_exclusive)  # BT-109
    w.amount(summation, "TaxTotalAmount", totals.tax_total, doc.currency)  # BT-110
    if doc.tax_currency and totals.tax_total_in_tax_currency is not None:
        w.amount(summation, "TaxTotalAmount", totals.tax_total_in_tax_currency, doc.tax_currency)  # BT-111
    w.amount(summation, "GrandTotalAmount", totals.tax_inclusive)  # BT-112
    if totals.prepaid != 0:
        w.amount(summation, "TotalPrepaidAmount", totals.prepaid)  # BT-113
    w.amount(summation, "DuePayableAmount", totals.payable)  # BT-115


def _period(w: _Writer, parent: Element, start: date | None, end: date | None) -> None:
    if start is None and end is None:
        return
    period = w.ram(parent, "BillingSpecifiedPeriod")
    w.date_time(period, "StartDateTime", start)
    w.date_time(period, "EndDateTime", end)


def _date(value: date) -> str:
    return value.strftime("%Y%m%d")
