"""What an XRechnung 3.0 e-invoice (EN 16931 with the German CIUS) needs that a
``BillingDocument`` may lack.

``missing_business_terms`` names every business term (BT/BG number) the document would have to
carry for a validator to accept its UBL or CII rendering, so the service can answer 422 with a
list the user can act on instead of producing XML that a recipient will reject. It covers the
fields our contract can leave empty; the amounts themselves are the document's own and are
checked by the validator, not here.

The few rules both renderers must follow in the same way (which VAT ids an "O" document may
state, which categories take an exemption reason) live here too, so UBL and CII never differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from billow.domain.billing_document import BillingDocument, Party
from billow.domain.money import is_currency, minor_units

# BT-24 and BT-23: the XRechnung 3.0 CIUS, in the Peppol billing process (which XRechnung's
# merged Peppol rules expect to be present).
XRECHNUNG_CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL_BILLING_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

# UNTDID 4461 payment means, grouped as XRechnung groups them (BR-DE-23, -24, -25).
CREDIT_TRANSFER_CODES = frozenset({"30", "58"})
CARD_CODES = frozenset({"48", "54", "55"})
DIRECT_DEBIT_CODES = frozenset({"49", "59"})

VAT_CATEGORIES = frozenset({"S", "Z", "E", "AE", "K", "G", "O", "L", "M"})
# Categories whose VAT breakdown must give a reason (BR-E-10, BR-AE-10, BR-IC-10, BR-G-10,
# BR-O-10); standard and zero-rated breakdowns must not (BR-S-10, BR-Z-10).
_EXEMPTION_CATEGORIES = frozenset({"E", "AE", "K", "G", "O"})
# Categories for which a seller tax number (BT-32) stands in for a VAT id (BR-DE-16, BR-S-02 …);
# export and intra-community supply need the VAT id itself (BR-G-02, BR-IC-02).
_TAX_NUMBER_SUFFICES = frozenset({"S", "Z", "E", "AE", "L", "M"})
_VAT_ID_ONLY = frozenset({"K", "G"})

# An XRechnung discount line in the payment terms: "#SKONTO#TAGE=14#PROZENT=2.00#" with an
# optional "BASISBETRAG=123.45#" (BR-DE-18).
_SKONTO_LINE = re.compile(r"#SKONTO#TAGE=[0-9]+#PROZENT=[0-9]+\.[0-9]{2}(#BASISBETRAG=-?[0-9]+\.[0-9]{2})?#")


@dataclass(frozen=True)
class MissingTerm:
    term: str  # "BT-10", "BG-23"
    name: str  # "Buyer reference (Leitweg-ID)"
    hint: str  # what to fill in, and where


def missing_business_terms(doc: BillingDocument) -> tuple[MissingTerm, ...]:
    """Every business term XRechnung requires that ``doc`` lacks, each named once, in the
    order of the checks (document, seller, buyer, VAT, payment, periods)."""
    seen: dict[str, MissingTerm] = {}
    for check in (_document, _seller, _buyer, _vat, _payment, _periods):
        for missing in check(doc):
            seen.setdefault(missing.term, missing)
    return tuple(seen.values())


def ensure_einvoice_possible(doc: BillingDocument) -> None:
    """The renderers' precondition: raise ValueError naming the missing terms."""
    missing = missing_business_terms(doc)
    if missing:
        terms = ", ".join(f"{m.term} ({m.name})" for m in missing)
        raise ValueError(f"{doc.number} cannot be rendered as an e-invoice; it lacks {terms}")


def vat_categories(doc: BillingDocument) -> frozenset[str]:
    return frozenset(line.vat_category for line in doc.lines) | {g.category for g in doc.vat_groups}


def states_vat_ids(doc: BillingDocument) -> bool:
    """A document outside the scope of VAT (category O) must not state the seller's or the
    buyer's VAT identifier (BR-O-02), although the PDF may."""
    return "O" not in vat_categories(doc)


def states_exemption_reason(category: str) -> bool:
    return category in _EXEMPTION_CATEGORIES


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _term(term: str, name: str, hint: str) -> MissingTerm:
    return MissingTerm(term=term, name=name, hint=hint)


def _document(doc: BillingDocument) -> Iterator[MissingTerm]:
    if _blank(doc.number):
        yield _term("BT-1", "Invoice number", "Finalize the document so it has its number.")
    if _blank(doc.buyer_reference):
        yield _term(
            "BT-10",
            "Buyer reference (Leitweg-ID)",
            "Set the customer's buyer reference; German public buyers give their Leitweg-ID, "
            "other buyers any reference they want quoted (an order or cost-centre number).",
        )
    if not is_currency(doc.currency) or minor_units(doc.currency) > 2:
        yield _term(
            "BT-5",
            "Invoice currency code",
            f"EN 16931 amounts have at most two decimals; {doc.currency} amounts cannot be stated.",
        )
    if not doc.lines:
        yield _term("BG-25", "Invoice line", "An e-invoice needs at least one line.")
    for line in doc.lines:
        if _blank(line.id):
            yield _term("BT-126", "Invoice line identifier", "Every line needs its number.")
        if _blank(line.name):
            yield _term("BT-153", "Item name", f"Line {line.id} needs a name.")
        if _blank(line.unit_code):
            yield _term("BT-130", "Invoiced quantity unit of measure code", f"Line {line.id} needs a unit.")
    if not doc.vat_groups:
        yield _term("BG-23", "VAT breakdown", "An e-invoice needs at least one VAT breakdown group.")
    if doc.other_taxes:
        names = ", ".join(tax.name for tax in doc.other_taxes)
        yield _term(
            "BT-110",
            "Invoice total VAT amount (VAT only)",
            f"EN 16931 carries VAT only; this document also charges {names}, which an e-invoice "
            "cannot state. Send the PDF instead.",
        )
    if doc.totals.allowance_total != 0:
        yield _term(
            "BG-20",
            "Document level allowances",
            "The document states an allowance total but not the allowances themselves "
            "(amount, VAT category, reason) that an e-invoice must list.",
        )
    if doc.tax_currency is not None:
        if not is_currency(doc.tax_currency) or minor_units(doc.tax_currency) > 2:
            yield _term(
                "BT-6",
                "VAT accounting currency code",
                f"EN 16931 amounts have at most two decimals; {doc.tax_currency} amounts cannot be stated.",
            )
        elif doc.tax_currency == doc.currency:
            yield _term(
                "BT-6",
                "VAT accounting currency code",
                "Leave the VAT accounting currency empty when it equals the invoice currency.",
            )
        if doc.totals.tax_total_in_tax_currency is None:
            yield _term(
                "BT-111",
                "Invoice total VAT amount in accounting currency",
                f"State the VAT total in {doc.tax_currency} when a VAT accounting currency is given.",
            )
    if doc.preceding_invoice_date is not None and _blank(doc.preceding_invoice_number):
        yield _term(
            "BT-25",
            "Preceding invoice reference",
            "A preceding invoice date needs the number of that invoice.",
        )


def _seller(doc: BillingDocument) -> Iterator[MissingTerm]:
    seller = doc.seller
    if _blank(seller.name):
        yield _term("BT-27", "Seller name", "Set the legal name of the seller in the tenant's settings.")
    if _blank(seller.electronic_address):
        yield _term(
            "BT-34",
            "Seller electronic address",
            "Set the seller's e-invoicing address (an e-mail address) in the tenant's settings.",
        )
    yield from _address(seller, ("BT-37", "BT-38", "BT-40"), "Seller", "the tenant's settings")
    contact = seller.contact
    where = "Set it in the tenant's settings (XRechnung requires a seller contact, BG-6)."
    if _blank(contact.name):
        yield _term("BT-41", "Seller contact point", f"A person or department to contact. {where}")
    if _blank(contact.phone):
        yield _term("BT-42", "Seller contact telephone number", where)
    if _blank(contact.email):
        yield _term("BT-43", "Seller contact email address", where)
    yield from _seller_tax_ids(doc)


def _seller_tax_ids(doc: BillingDocument) -> Iterator[MissingTerm]:
    seller, categories = doc.seller, vat_categories(doc)
    has_vat_id = not _blank(seller.vat_id) and states_vat_ids(doc)
    if categories & _VAT_ID_ONLY and not has_vat_id:
        yield _term(
            "BT-31",
            "Seller VAT identifier",
            "Exports (G) and intra-community supplies (K) need the seller's VAT identifier.",
        )
        return
    if categories & _TAX_NUMBER_SUFFICES and not has_vat_id and _blank(seller.tax_number):
        yield _term(
            "BT-31",
            "Seller VAT identifier (or tax number BT-32)",
            "Set the seller's VAT identifier, or its national tax number (Steuernummer).",
        )
        return
    if not has_vat_id and _blank(seller.legal_registration):
        # BR-CO-26: without a VAT id the seller is identified by its registration.
        yield _term(
            "BT-30",
            "Seller legal registration identifier",
            "Without a VAT identifier on the e-invoice the seller must be identified by its "
            "registration (e.g. HRB 12345).",
        )
    if not _blank(seller.vat_id) and not _has_country_prefix(seller.vat_id):
        yield _term("BT-31", "Seller VAT identifier", "Write the VAT identifier with its country prefix.")


def _buyer(doc: BillingDocument) -> Iterator[MissingTerm]:
    buyer, categories = doc.buyer, vat_categories(doc)
    if _blank(buyer.name):
        yield _term("BT-44", "Buyer name", "Set the customer's name.")
    if _blank(buyer.electronic_address):
        yield _term(
            "BT-49",
            "Buyer electronic address",
            "Set the customer's e-invoicing address (an e-mail address).",
        )
    yield from _address(buyer, ("BT-52", "BT-53", "BT-55"), "Buyer", "the customer's address")
    if "AE" in categories and _blank(buyer.vat_id) and _blank(buyer.legal_registration):
        yield _term(
            "BT-48",
            "Buyer VAT identifier",
            "Reverse charge (AE) needs the customer's VAT identifier (or legal registration).",
        )
    if "K" in categories and _blank(buyer.vat_id):
        yield _term(
            "BT-48",
            "Buyer VAT identifier",
            "An intra-community supply (K) needs the customer's VAT identifier.",
        )
    if not _blank(buyer.vat_id) and not _has_country_prefix(buyer.vat_id):
        yield _term("BT-48", "Buyer VAT identifier", "Write the VAT identifier with its country prefix.")
    if "K" in categories:
        yield _term(
            "BT-80",
            "Deliver to country code",
            "An intra-community supply (K) must state the country goods were delivered to; "
            "billing documents carry no delivery address yet.",
        )


def _address(party: Party, terms: tuple[str, str, str], role: str, where: str) -> Iterator[MissingTerm]:
    city, post_code, country = terms
    address = party.address
    if _blank(address.city):
        yield _term(city, f"{role} city", f"Complete {where}.")
    if _blank(address.postal_code):
        yield _term(post_code, f"{role} post code", f"Complete {where}.")
    if _blank(address.country):
        yield _term(country, f"{role} country code", f"Complete {where}.")


def _vat(doc: BillingDocument) -> Iterator[MissingTerm]:
    categories = vat_categories(doc)
    unknown = sorted(categories - VAT_CATEGORIES)
    if unknown:
        yield _term(
            "BT-151",
            "Invoiced item VAT category code",
            f"{', '.join(unknown)} is not an EN 16931 VAT category (S, Z, E, AE, K, G, O, L, M).",
        )
    elif "O" in categories and len(categories) > 1:
        yield _term(
            "BT-151",
            "Invoiced item VAT category code",
            "Lines outside the scope of VAT (O) cannot share an e-invoice with taxed lines.",
        )
    for group in doc.vat_groups:
        if (
            states_exemption_reason(group.category)
            and _blank(group.exemption_reason)
            and _blank(group.exemption_reason_code)
        ):
            yield _term(
                "BT-120",
                "VAT exemption reason text (or code BT-121)",
                f"Category {group.category} must say why no VAT is charged "
                "(e.g. VATEX-EU-AE, 'Reverse charge').",
            )
    if "K" in categories and doc.period_start is None and doc.period_end is None:
        yield _term(
            "BG-14",
            "Invoicing period",
            "An intra-community supply (K) must state the delivery date or the invoicing period.",
        )


def _payment(doc: BillingDocument) -> Iterator[MissingTerm]:
    payment = doc.payment
    if payment is None or _blank(payment.means_code):
        yield _term(
            "BT-81",
            "Payment means type code",
            "XRechnung requires payment instructions (BG-16): how the amount is paid, e.g. "
            "58 SEPA credit transfer with the seller's IBAN.",
        )
    else:
        code = payment.means_code.strip()
        if code in CREDIT_TRANSFER_CODES and _blank(payment.iban):
            yield _term("BT-84", "Payment account identifier", "A credit transfer needs the payee's IBAN.")
        if code in CARD_CODES and _blank(payment.card_last4):
            yield _term(
                "BT-87",
                "Payment card primary account number",
                "A card payment needs the card's last digits.",
            )
        if code in DIRECT_DEBIT_CODES:
            yield from _direct_debit(doc)
    terms = None if payment is None else payment.terms
    if doc.totals.payable > 0 and doc.due_date is None and _blank(terms):
        yield _term(
            "BT-9",
            "Payment due date (or payment terms BT-20)",
            "An amount due needs a due date or payment terms.",
        )
    if terms is not None and not _valid_skonto_lines(terms):
        yield _term(
            "BT-20",
            "Payment terms",
            "Lines starting with '#' are read as XRechnung discount terms and must look like "
            "#SKONTO#TAGE=14#PROZENT=2.00# (and end with a line break).",
        )


def _direct_debit(doc: BillingDocument) -> Iterator[MissingTerm]:
    payment = doc.payment
    assert payment is not None
    if _blank(payment.mandate_reference):
        yield _term(
            "BT-89", "Mandate reference identifier", "A direct debit needs the SEPA mandate reference."
        )
    if _blank(payment.creditor_identifier):
        yield _term(
            "BT-90",
            "Bank assigned creditor identifier",
            "A direct debit needs the seller's SEPA creditor identifier.",
        )
    if _blank(payment.debited_account):
        yield _term("BT-91", "Debited account identifier", "A direct debit needs the payer's IBAN.")


def _periods(doc: BillingDocument) -> Iterator[MissingTerm]:
    start, end = doc.period_start, doc.period_end
    if start is not None and end is not None and end < start:
        yield _term("BG-14", "Invoicing period", "The period ends before it starts.")
    for line in doc.lines:
        line_start, line_end = line.period_start, line.period_end
        backwards = line_start is not None and line_end is not None and line_end < line_start
        before = start is not None and line_start is not None and line_start < start
        after = end is not None and line_end is not None and line_end > end
        if backwards or before or after:
            yield _term(
                "BG-26",
                "Invoice line period",
                f"Line {line.id}'s period must lie within the invoicing period (BT-73 to BT-74) "
                "and not end before it starts.",
            )
            return


def _has_country_prefix(vat_id: str | None) -> bool:
    prefix = (vat_id or "").strip()[:2]
    return len(prefix) == 2 and prefix.isascii() and prefix.isalpha() and prefix.isupper()


def _valid_skonto_lines(terms: str) -> bool:
    lines = [line.strip() for line in terms.splitlines() if line.strip().startswith("#")]
    if not lines:
        return True
    # XRechnung also wants a line break after the last discount line.
    after_last = re.split(r"#.+#", terms)[-1]
    return all(_SKONTO_LINE.fullmatch(line) for line in lines) and re.match(r"\s*\n", after_last) is not None
