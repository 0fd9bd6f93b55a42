"""Which taxes apply to one invoice line: the seller's profile, what is known about the buyer,
the product's tax category, the tax point date, the tenant's tax rules and the EU VAT rates.
Billow's tenants sell software subscriptions and usage: electronically supplied services,
taxed where the customer is (Council Directive 2006/112/EC, Art. 44 for businesses, Art. 58
for consumers).

Decision order (:func:`determine_line_taxes`; the first that applies wins):

1. **The seller.** No tax profile: outside the scope, category O at 0 % ("Not subject to VAT");
   Billow charges no tax for a tenant that has not said who it is. Regime ``not_registered``:
   O as well. Regime ``small_business``: exempt, E at 0 % ("Small business exemption"), with a
   note saying so.
2. **The customer's exemption.** ``tax_exempt: "exempt"``: E at 0 %. ``"reverse"``: reverse
   charge, AE at 0 % (as in 3), wherever the customer is.
3. **A seller established in the EU** (its address country is a member state). A buyer
   without a country is taken to be in the seller's country.

   - Same country: domestic VAT (see "VAT due" below).
   - Another member state, with a VAT ID that VIES found valid: reverse charge, AE at 0 %
     ("Reverse charge", VATEX-EU-AE) and the reverse-charge note (Art. 196). A valid VAT ID
     is taken as proof that the buyer is a business.
   - Another member state otherwise: the buyer is treated as a consumer and charged the VAT
     of its country (One-Stop Shop). A buyer whose VAT ID could not be verified (VIES
     unavailable), was found invalid, or was not checked gets a note saying why VAT was
     charged. (The EUR 10,000 threshold under which a small seller may charge its own VAT
     instead is not modelled: destination VAT is always right above it and allowed below.)
   - Outside the EU: the tenant's rules for the buyer's jurisdiction if any are in force;
     otherwise export, G at 0 % ("Export outside the EU", VATEX-EU-G).
4. **A seller outside the EU.**

   - A buyer in the EU with a valid VAT ID: reverse charge, AE.
   - A buyer in the EU otherwise: the VAT of its country (non-Union OSS), as "VAT due".
   - Elsewhere: the tenant's rules for the buyer's country and region, if any are in force;
     otherwise O ("Not subject to VAT").

   (Tenant rules never override the reverse charge of an EU business: charging VAT there
   would be wrong; for EU consumers they replace the built-in rate, as everywhere.)

**VAT due in a member state.** The tenant's rules in force there for the buyer's region and
the product's category (domain/tax_rules.py) replace the built-in rate when they include a
VAT rule; rules without one (another tax) are added after the built-in VAT (refused as a
conflict when the built-in VAT is included in the price: a tax-included price carries one
tax only, domain/tax.py). Without a VAT rule, the built-in rate comes from the EU table by
the category's kind: ``standard``, ``reduced``, ``super_reduced``, ``parking`` and ``zero``
are kinds; ``exempt`` is E at 0 % ("Exempt from VAT"); any other category is taxed at the
standard rate. A kind the country does not have falls back to the nearest higher rate it
has (zero → super_reduced → reduced → standard; parking → standard); a table may say "none"
by answering None or by raising NotFound. Built-in VAT is category S (Z at 0 %), named
"VAT 19 %", and included in the price when the seller's profile says ``prices_include_tax``.

A product of category ``exempt`` is only taxed by rules written for ``exempt`` itself: rules
for any category (``"*"``) do not apply to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Literal, Protocol

from billow.domain.customer import Customer
from billow.domain.errors import NotFound
from billow.domain.tax import LineTaxes, TaxRate, format_rate
from billow.domain.tax_profile import SellerTaxProfile
from billow.domain.tax_rules import ANY_CATEGORY, REGION, TaxRule, rules_in_force

VatIdStatus = Literal["valid", "invalid", "unavailable", "unchecked"]
TaxExempt = Literal["none", "exempt", "reverse"]
EXEMPT_CATEGORY = "exempt"
# Product categories that name a kind of EU VAT rate, and where a missing kind falls back to.
RATE_KINDS: dict[str, tuple[str, ...]] = {
    "standard": ("standard",),
    "reduced": ("reduced", "standard"),
    "super_reduced": ("super_reduced", "reduced", "standard"),
    "parking": ("parking", "standard"),
    "zero": ("zero", "super_reduced", "reduced", "standard"),
}

OUTSIDE_SCOPE = TaxRate("O", Decimal(0), "Not subject to VAT", "VATEX-EU-O", name="Not subject to VAT")
SMALL_BUSINESS = TaxRate("E", Decimal(0), "Small business exemption", name="VAT exempt (small business)")
EXEMPT_CUSTOMER = TaxRate("E", Decimal(0), "Customer exempt from tax", name="Tax exempt")
EXEMPT_PRODUCT = TaxRate("E", Decimal(0), "Exempt from VAT", name="VAT exempt")
REVERSE_CHARGE = TaxRate("AE", Decimal(0), "Reverse charge", "VATEX-EU-AE", name="Reverse charge")
EXPORT = TaxRate("G", Decimal(0), "Export outside the EU", "VATEX-EU-G", name="Export outside the EU")

REVERSE_CHARGE_NOTE = (
    "Reverse charge: the recipient is liable for the VAT (Article 196, Council Directive 2006/112/EC)."
)
SMALL_BUSINESS_NOTE = "No VAT is charged: the seller is exempt from VAT as a small business."


class VatRateTable(Protocol):
    """The EU VAT rates Billow knows (``/v1/tax/eu-vat-rates``)."""

    def is_member_state(self, country: str) -> bool: ...

    def rate_for(self, country: str, kind: str) -> Decimal | None:
        """The country's rate of a kind (standard, reduced, super_reduced, parking, zero), or
        None (or a NotFound raised) when it has no rate of that kind."""
        ...


@dataclass(frozen=True)
class BuyerTaxFacts:
    """What the decision needs to know about the buyer."""

    country: str | None
    region: str | None = None  # ISO 3166-2 subdivision part: "CA" of US-CA
    is_business: bool = False
    vat_id: str | None = None  # an EU VAT ID with its prefix
    vat_id_status: VatIdStatus | None = None  # the VIES answer; None: never asked
    vat_id_checked_on: date | None = None
    tax_exempt: TaxExempt = "none"

    @property
    def has_verified_vat_id(self) -> bool:
        return self.vat_id is not None and self.vat_id_status == "valid"


def _region(state: str | None, country: str | None) -> str | None:
    """The subdivision code of a billing address's state ("CA", "US-CA", "qc"); None when
    the state is not written as a code (then only country-wide rules can match)."""
    if not state:
        return None
    code = state.strip().upper()
    if country and code.startswith(f"{country}-"):
        code = code[len(country) + 1 :]
    return code if REGION.fullmatch(code) else None


def buyer_tax_facts(
    customer: Customer,
    *,
    vat_id_status: VatIdStatus | None = None,
    vat_id_checked_on: date | None = None,
    tax_exempt: TaxExempt = "none",
) -> BuyerTaxFacts:
    """The facts about a customer: a company, or anyone with an EU VAT ID, is a business; the
    region is the billing address's state; the VAT ID is the customer's first EU VAT ID, whose
    VIES status (and when it was checked) the caller gives. Without a billing country, the VAT
    ID's country stands in for it."""
    address = customer.billing_address
    vat = next((tax_id for tax_id in customer.tax_ids if tax_id.type == "eu_vat"), None)
    country = address.country if address else None
    if country is None and vat is not None and vat.country != "EU":
        country = vat.country
    return BuyerTaxFacts(
        country=country,
        region=_region(address.state, country) if address else None,
        is_business=customer.type == "company" or vat is not None,
        vat_id=vat.value if vat else None,
        vat_id_status=vat_id_status if vat else None,
        vat_id_checked_on=vat_id_checked_on if vat else None,
        tax_exempt=tax_exempt,
    )


def _unverified_note(buyer: BuyerTaxFacts) -> str | None:
    """Why a buyer that gave a VAT ID is charged VAT anyway."""
    if buyer.vat_id is None:
        return None
    when = f" on {buyer.vat_id_checked_on.isoformat()}" if buyer.vat_id_checked_on else ""
    if buyer.vat_id_status == "unavailable":
        return f"The buyer's VAT ID {buyer.vat_id} could not be verified with VIES{when}; VAT charged."
    if buyer.vat_id_status == "invalid":
        return f"The buyer's VAT ID {buyer.vat_id} was reported invalid by VIES{when}; VAT charged."
    return f"The buyer's VAT ID {buyer.vat_id} has not been verified with VIES; VAT charged."


def _tenant_rules(
    rules: Sequence[TaxRule], country: str, region: str | None, category: str, on: date
) -> tuple[TaxRule, ...]:
    in_force = rules_in_force(rules, country, region, category, on)
    if category == EXEMPT_CATEGORY:
        return tuple(rule for rule in in_force if rule.category != ANY_CATEGORY)
    return in_force


def _eu_rate(eu_rates: VatRateTable, country: str, category: str) -> Decimal:
    for kind in RATE_KINDS.get(category, RATE_KINDS["standard"]):
        try:
            rate = eu_rates.rate_for(country, kind)
        except NotFound:
            # A table may say "no such rate" by raising rather than answering None.
            continue
        if rate is not None:
            return rate
    raise ValueError(f"the EU VAT table has no standard rate for {country}")


def _vat_due(
    *,
    seller: SellerTaxProfile,
    country: str,
    region: str | None,
    category: str,
    on: date,
    rules: Sequence[TaxRule],
    eu_rates: VatRateTable,
    note: str | None = None,
) -> LineTaxes:
    in_force = _tenant_rules(rules, country, region, category, on)
    taxes = tuple(rule.tax_rate() for rule in in_force)
    if any(rule.tax_type == "vat" for rule in in_force):
        return LineTaxes(taxes, note)
    if category == EXEMPT_CATEGORY:
        vat = replace(EXEMPT_PRODUCT, jurisdiction=country)
    else:
        rate = _eu_rate(eu_rates, country, category)
        vat = TaxRate(
            "S" if rate > 0 else "Z",
            rate,
            jurisdiction=country,
            inclusive=seller.prices_include_tax,
            name=f"VAT {format_rate(rate)} %",
        )
    return LineTaxes((vat, *taxes), note)


def _reverse_charge(country: str) -> LineTaxes:
    return LineTaxes.of(replace(REVERSE_CHARGE, jurisdiction=country), note=REVERSE_CHARGE_NOTE)


def determine_line_taxes(
    *,
    seller: SellerTaxProfile | None,
    buyer: BuyerTaxFacts,
    category: str,
    on: date,
    rules: Sequence[TaxRule],
    eu_rates: VatRateTable,
) -> LineTaxes:
    """The taxes of one line sold on ``on`` (the tax point date) in the product tax category
    ``category``; see the module docstring for the order of the decision."""
    if seller is None or seller.tax_regime == "not_registered":
        return LineTaxes.of(OUTSIDE_SCOPE)
    if seller.tax_regime == "small_business":
        return LineTaxes.of(replace(SMALL_BUSINESS, jurisdiction=seller.country), note=SMALL_BUSINESS_NOTE)
    country = buyer.country or seller.country
    region = buyer.region if buyer.country else None
    if buyer.tax_exempt == "exempt":
        return LineTaxes.of(replace(EXEMPT_CUSTOMER, jurisdiction=country))
    if buyer.tax_exempt == "reverse":
        return _reverse_charge(country)

    def vat_due(note: str | None = None) -> LineTaxes:
        return _vat_due(
            seller=seller,
            country=country,
            region=region,
            category=category,
            on=on,
            rules=rules,
            eu_rates=eu_rates,
            note=note,
        )

    buyer_in_eu = eu_rates.is_member_state(country)
    if eu_rates.is_member_state(seller.country):
        if country == seller.country:
            return vat_due()
        if buyer_in_eu:
            return _reverse_charge(country) if buyer.has_verified_vat_id else vat_due(_unverified_note(buyer))
        tenant = _tenant_rules(rules, country, region, category, on)
        if tenant:
            return LineTaxes(tuple(rule.tax_rate() for rule in tenant))
        return LineTaxes.of(replace(EXPORT, jurisdiction=seller.country))
    if buyer_in_eu:
        return _reverse_charge(country) if buyer.has_verified_vat_id else vat_due(_unverified_note(buyer))
    tenant = _tenant_rules(rules, country, region, category, on)
    if tenant:
        return LineTaxes(tuple(rule.tax_rate() for rule in tenant))
    return LineTaxes.of(OUTSIDE_SCOPE)
