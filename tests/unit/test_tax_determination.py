"""Which taxes apply to a line (domain/tax_determination.py): EU VAT for electronically
supplied services (domestic, reverse charge, destination VAT, export), sellers outside the EU,
exemptions, and the tenant's own rules, including regions, versions and compound taxes."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from billow.domain.address import Address
from billow.domain.customer import Customer
from billow.domain.errors import Conflict, NotFound
from billow.domain.invoice import Invoice, InvoiceLine
from billow.domain.money import Money
from billow.domain.tax import LineTaxes, TaxRate
from billow.domain.tax_determination import (
    REVERSE_CHARGE_NOTE,
    SMALL_BUSINESS_NOTE,
    BuyerTaxFacts,
    buyer_tax_facts,
    determine_line_taxes,
)
from billow.domain.tax_ids import parse_tax_id
from billow.domain.tax_profile import SellerTaxProfile, parse_tax_profile
from billow.domain.tax_rules import TaxRule, new_tax_rule

D = Decimal
ON = date(2026, 11, 21)


class FakeEuRates:
    """A few member states' rates; a kind a state lacks is None."""

    RATES: dict[str, dict[str, Decimal]] = {
        "DE": {"standard": D(19), "reduced": D(7), "zero": D(0)},
        "FR": {"standard": D(20), "reduced": D("5.5"), "super_reduced": D("2.1"), "zero": D(0)},
        "DK": {"standard": D(25), "zero": D(0)},
        "IE": {"standard": D(23), "reduced": D("13.5"), "super_reduced": D("4.8"), "zero": D(0)},
    }
    MEMBERS = frozenset({"AT", "BE", "DE", "DK", "ES", "FR", "IE", "IT", "NL", "PL"})

    def is_member_state(self, country: str) -> bool:
        return country in self.MEMBERS

    def rate_for(self, country: str, kind: str) -> Decimal | None:
        return self.RATES[country].get(kind)


class RaisingEuRates(FakeEuRates):
    """A table that says "no such rate" by raising, as the bundled one does."""

    def rate_for(self, country: str, kind: str) -> Decimal | None:
        found = super().rate_for(country, kind)
        if found is None:
            raise NotFound(detail=f"{country} has no {kind} rate")
        return found


EU = FakeEuRates()


def profile(country: str = "DE", **changes: Any) -> SellerTaxProfile:
    vat_ids = {"DE": "DE136695976", "FR": "FR40303265045"}
    raw: dict[str, Any] = {
        "legal_name": "Seller",
        "address": {"line1": "Street 1", "city": "City", "country": country},
        "tax_number": "12/345/67890",
    }
    if country in vat_ids:
        raw["vat_id"] = vat_ids[country]
    raw.update(changes)
    return parse_tax_profile(raw)


GERMAN_SELLER = profile("DE")
US_SELLER = profile("US")


def decide(
    buyer: BuyerTaxFacts,
    *,
    seller: SellerTaxProfile | None = GERMAN_SELLER,
    category: str = "standard",
    on: date = ON,
    rules: list[TaxRule] | None = None,
    eu_rates: Any = EU,
) -> LineTaxes:
    return determine_line_taxes(
        seller=seller, buyer=buyer, category=category, on=on, rules=rules or [], eu_rates=eu_rates
    )


_ids = itertools.count(1)


def rule(jurisdiction: str, tax_type: str, rate: str, **raw: Any) -> TaxRule:
    body = {"jurisdiction": jurisdiction, "tax_type": tax_type, "rate": rate, "effective_from": "2026-01-01"}
    body.update(raw)
    n = next(_ids)
    return new_tax_rule(
        body, rule_id=f"rule-{n}", livemode=False, now=f"2026-01-01T00:{n // 60:02}:{n % 60:02}Z"
    )


FRENCH_BUSINESS = BuyerTaxFacts(
    "FR", is_business=True, vat_id="FR40303265045", vat_id_status="valid", vat_id_checked_on=ON
)
FRENCH_CONSUMER = BuyerTaxFacts("FR")
US_CUSTOMER = BuyerTaxFacts("US", region="CA", is_business=True)


def only(taxes: LineTaxes) -> TaxRate:
    [rate] = taxes.rates
    return rate


# --- an EU seller -------------------------------------------------------------------------------------


def test_a_german_seller_reverse_charges_a_french_business_with_a_valid_vat_id() -> None:
    taxes = decide(FRENCH_BUSINESS)
    rate = only(taxes)
    assert (rate.category, rate.rate, rate.jurisdiction) == ("AE", D(0), "FR")
    assert (rate.exemption_reason, rate.exemption_reason_code) == ("Reverse charge", "VATEX-EU-AE")
    assert taxes.note == REVERSE_CHARGE_NOTE
    assert "Article 196" in REVERSE_CHARGE_NOTE


def test_a_german_seller_charges_a_french_consumer_french_vat() -> None:
    taxes = decide(FRENCH_CONSUMER)
    rate = only(taxes)
    assert (rate.category, rate.rate, rate.tax_type, rate.jurisdiction) == ("S", D(20), "vat", "FR")
    assert (rate.name, rate.inclusive, taxes.note) == ("VAT 20 %", False, None)


def test_a_german_seller_exports_to_a_us_customer() -> None:
    rate = only(decide(US_CUSTOMER))
    assert (rate.category, rate.rate, rate.jurisdiction) == ("G", D(0), "DE")
    assert (rate.exemption_reason, rate.exemption_reason_code) == ("Export outside the EU", "VATEX-EU-G")


def test_an_eu_seller_applies_its_rules_for_a_buyer_outside_the_eu() -> None:
    california = rule("US-CA", "sales_tax", "7.25")
    rate = only(decide(US_CUSTOMER, rules=[california]))
    assert (rate.category, rate.rate, rate.tax_type, rate.jurisdiction, rate.rule_id) == (
        "S",
        D("7.25"),
        "sales_tax",
        "US-CA",
        california.id,
    )
    # A Texan customer: no rule there, so an export.
    assert only(decide(replace(US_CUSTOMER, region="TX"), rules=[california])).category == "G"


def test_domestic_sales_are_taxed_even_to_businesses() -> None:
    german_business = BuyerTaxFacts("DE", is_business=True, vat_id="DE136695976", vat_id_status="valid")
    rate = only(decide(german_business))
    assert (rate.category, rate.rate, rate.jurisdiction) == ("S", D(19), "DE")
    # A buyer without a country is taken to be in the seller's.
    assert only(decide(BuyerTaxFacts(None))).jurisdiction == "DE"


@pytest.mark.parametrize(
    ("status", "checked_on", "words"),
    [
        ("unavailable", ON, "could not be verified with VIES on 2026-11-21; VAT charged"),
        ("invalid", ON, "was reported invalid by VIES on 2026-11-21; VAT charged"),
        ("unchecked", None, "has not been verified with VIES; VAT charged"),
        (None, None, "has not been verified with VIES; VAT charged"),
    ],
)
def test_an_unverified_vat_id_is_charged_vat_with_a_note_why(
    status: Any, checked_on: date | None, words: str
) -> None:
    buyer = replace(FRENCH_BUSINESS, vat_id_status=status, vat_id_checked_on=checked_on)
    taxes = decide(buyer)
    rate = only(taxes)
    assert (rate.category, rate.rate, rate.jurisdiction) == ("S", D(20), "FR")
    assert taxes.note is not None
    assert taxes.note.startswith("The buyer's VAT ID FR40303265045 ")
    assert words in taxes.note


def test_a_business_without_a_vat_id_is_charged_like_a_consumer() -> None:
    taxes = decide(BuyerTaxFacts("FR", is_business=True))
    assert (only(taxes).rate, taxes.note) == (D(20), None)


@pytest.mark.parametrize(
    ("country", "category", "category_code", "rate"),
    [
        ("FR", "reduced", "S", D("5.5")),
        ("FR", "super_reduced", "S", D("2.1")),
        ("FR", "parking", "S", D(20)),  # no parking rate: standard
        ("DK", "reduced", "S", D(25)),  # no reduced rate: standard
        ("DK", "super_reduced", "S", D(25)),
        ("IE", "zero", "Z", D(0)),
        ("FR", "saas", "S", D(20)),  # any other category: standard
    ],
)
def test_the_built_in_rate_follows_the_category(
    country: str, category: str, category_code: str, rate: Decimal
) -> None:
    for table in (EU, RaisingEuRates()):
        found = only(decide(BuyerTaxFacts(country), category=category, eu_rates=table))
        assert (found.category, found.rate) == (category_code, rate)


def test_an_exempt_product_is_e_and_untouched_by_rules_for_any_category() -> None:
    general = rule("FR", "vat", "20")
    rate = only(decide(FRENCH_CONSUMER, category="exempt", rules=[general]))
    assert (rate.category, rate.rate, rate.exemption_reason, rate.jurisdiction) == (
        "E",
        D(0),
        "Exempt from VAT",
        "FR",
    )
    own = rule("FR", "vat", "0", category="exempt", name="Exonéré")
    assert only(decide(FRENCH_CONSUMER, category="exempt", rules=[general, own])).rule_id == own.id


def test_prices_including_vat_make_the_built_in_vat_inclusive() -> None:
    seller = profile("DE", prices_include_tax=True)
    rate = only(decide(FRENCH_CONSUMER, seller=seller))
    assert (rate.rate, rate.inclusive) == (D(20), True)
    # Zero-rated treatments are not tax-included: nothing is in the price.
    assert only(decide(FRENCH_BUSINESS, seller=seller)).inclusive is False


def test_tenant_vat_rules_replace_the_built_in_rate_and_change_mid_month() -> None:
    nineteen = rule("DE", "vat", "19", effective_from="2026-01-01")
    sixteen = rule("DE", "vat", "16", effective_from="2026-07-15")
    rules = [nineteen, sixteen]
    before = only(decide(BuyerTaxFacts("DE"), rules=rules, on=date(2026, 7, 14)))
    after = only(decide(BuyerTaxFacts("DE"), rules=rules, on=date(2026, 7, 15)))
    assert (before.rate, before.rule_id) == (D(19), nineteen.id)
    assert (after.rate, after.rule_id, after.name) == (D(16), sixteen.id, "VAT 16 %")
    # Rules for one country do not touch another's built-in rate.
    assert only(decide(FRENCH_CONSUMER, rules=rules)).rate == D(20)


def test_tenant_rules_without_vat_are_added_after_the_built_in_vat() -> None:
    levy = rule("FR", "sales_tax", "1.5", name="Digital levy")
    taxes = decide(FRENCH_CONSUMER, rules=[levy])
    assert [(r.tax_type, r.rate) for r in taxes.rates] == [("vat", D(20)), ("sales_tax", D("1.5"))]


# --- exemptions and the seller's regime ------------------------------------------------------------


def test_without_a_profile_nothing_is_subject_to_vat() -> None:
    for buyer in (FRENCH_BUSINESS, FRENCH_CONSUMER, US_CUSTOMER, BuyerTaxFacts(None)):
        taxes = decide(buyer, seller=None)
        rate = only(taxes)
        assert (rate.category, rate.rate, rate.exemption_reason) == ("O", D(0), "Not subject to VAT")
        assert taxes.note is None


def test_a_seller_not_registered_charges_nothing() -> None:
    seller = profile("DE", vat_id=None, tax_number=None, tax_regime="not_registered")
    assert only(decide(FRENCH_CONSUMER, seller=seller)).category == "O"


def test_a_small_business_seller_charges_no_vat() -> None:
    seller = profile("DE", vat_id=None, tax_regime="small_business")
    for buyer in (FRENCH_BUSINESS, FRENCH_CONSUMER, BuyerTaxFacts("DE"), US_CUSTOMER):
        taxes = decide(buyer, seller=seller)
        rate = only(taxes)
        assert (rate.category, rate.rate, rate.exemption_reason, rate.jurisdiction) == (
            "E",
            D(0),
            "Small business exemption",
            "DE",
        )
        assert taxes.note == SMALL_BUSINESS_NOTE


def test_an_exempt_customer_is_charged_no_tax() -> None:
    for buyer in (FRENCH_CONSUMER, BuyerTaxFacts("DE"), US_CUSTOMER):
        rate = only(decide(replace(buyer, tax_exempt="exempt"), rules=[rule("US-CA", "sales_tax", "7.25")]))
        assert (rate.category, rate.rate) == ("E", D(0))


def test_a_reverse_charge_customer_is_reverse_charged_anywhere() -> None:
    taxes = decide(replace(BuyerTaxFacts("DE"), tax_exempt="reverse"))
    assert (only(taxes).category, only(taxes).jurisdiction, taxes.note) == ("AE", "DE", REVERSE_CHARGE_NOTE)


# --- a seller outside the EU ---------------------------------------------------------------------


def test_a_seller_outside_the_eu() -> None:
    california = rule("US-CA", "sales_tax", "7.25")
    # Its own rules for the buyer's jurisdiction.
    assert only(decide(US_CUSTOMER, seller=US_SELLER, rules=[california])).rate == D("7.25")
    # None there: outside the scope.
    assert (
        only(decide(replace(US_CUSTOMER, region="OR"), seller=US_SELLER, rules=[california])).category == "O"
    )
    # EU consumers: their country's VAT (non-Union OSS).
    rate = only(decide(FRENCH_CONSUMER, seller=US_SELLER))
    assert (rate.category, rate.rate, rate.jurisdiction) == ("S", D(20), "FR")
    # EU businesses with a valid VAT ID: reverse charge, even if the tenant has French rules.
    french_vat = rule("FR", "vat", "20")
    assert only(decide(FRENCH_BUSINESS, seller=US_SELLER, rules=[french_vat])).category == "AE"
    assert only(decide(FRENCH_CONSUMER, seller=US_SELLER, rules=[french_vat])).rule_id == french_vat.id
    # An unverified VAT ID: VAT with the note.
    unverified = decide(replace(FRENCH_BUSINESS, vat_id_status="unavailable"), seller=US_SELLER)
    assert only(unverified).rate == D(20)
    assert unverified.note is not None


def test_quebec_gst_and_compound_qst_on_an_invoice() -> None:
    canadian = profile("CA", vat_id={"type": "ca_bn", "value": "123456782"})
    gst = rule("CA", "gst", "5", name="GST")
    qst = rule("CA-QC", "sales_tax", "9.975", compound=True, apply_order=1, name="QST")
    hst_on = rule("CA-ON", "hst", "13", name="HST")
    rules = [qst, gst, hst_on]
    quebec = BuyerTaxFacts("CA", region="QC")
    taxes = decide(quebec, seller=canadian, rules=rules)
    assert [(r.name, r.rate, r.compound, r.jurisdiction) for r in taxes.rates] == [
        ("GST", D(5), False, "CA"),
        ("QST", D("9.975"), True, "CA-QC"),
    ]
    invoice = Invoice(
        id="inv-1",
        livemode=False,
        customer_id="cus-1",
        currency="CAD",
        type="one_off",
        billing_reason="manual",
        lines=(
            InvoiceLine(
                id="L0", kind="one_off", description="Plan", quantity=D(1), amount=Money(D("100.00"), "CAD")
            ),
        ),
        created_at="2026-11-21T00:00:00Z",
        updated_at="2026-11-21T00:00:00Z",
    ).taxed([taxes])
    assert [(g.name, g.taxable_amount.amount, g.amount.amount) for g in invoice.tax_breakdown] == [
        ("GST", D("100.00"), D("5.00")),
        ("QST", D("105.00"), D("10.47")),
    ]
    assert invoice.total == Money(D("115.47"), "CAD")
    ontario = decide(BuyerTaxFacts("CA", region="ON"), seller=canadian, rules=rules)
    assert [r.name for r in ontario.rates] == ["GST", "HST"]  # as configured: both apply


def test_rules_that_cannot_apply_together_are_refused() -> None:
    inclusive = rule("CA", "gst", "5", inclusive=True)
    compound = rule("CA-QC", "sales_tax", "9.975", compound=True, apply_order=1)
    with pytest.raises(Conflict, match="compound"):
        decide(BuyerTaxFacts("CA", region="QC"), seller=US_SELLER, rules=[inclusive, compound])


# --- the buyer's facts from a customer --------------------------------------------------------------


def customer(**fields: Any) -> Customer:
    return Customer(
        id="cus-1",
        livemode=False,
        name="Customer",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        **fields,
    )


def test_buyer_facts_from_a_customer() -> None:
    vat = parse_tax_id("eu_vat", "FR40303265045", "/tax_ids/0")
    company = customer(type="company", billing_address=Address(country="FR"), tax_ids=(vat,))
    facts = buyer_tax_facts(company, vat_id_status="valid", vat_id_checked_on=ON)
    assert facts == BuyerTaxFacts(
        "FR", None, is_business=True, vat_id="FR40303265045", vat_id_status="valid", vat_id_checked_on=ON
    )
    assert decide(facts).rates[0].category == "AE"
    # An individual with an EU VAT ID is a business too; without a country the ID's stands in.
    person = customer(type="individual", tax_ids=(vat,))
    assert buyer_tax_facts(person).country == "FR"
    assert buyer_tax_facts(person).is_business
    consumer = customer(type="individual", billing_address=Address(country="FR"))
    assert buyer_tax_facts(consumer, vat_id_status="valid") == BuyerTaxFacts("FR", tax_exempt="none")
    assert buyer_tax_facts(consumer, tax_exempt="exempt").tax_exempt == "exempt"


@pytest.mark.parametrize(
    ("state", "region"),
    [("CA", "CA"), ("ca", "CA"), ("US-CA", "CA"), (" us-ca ", "CA"), ("California", None), (None, None)],
)
def test_the_region_is_the_states_subdivision_code(state: str | None, region: str | None) -> None:
    buyer = customer(billing_address=Address(state=state, country="US"))
    assert buyer_tax_facts(buyer).region == region
