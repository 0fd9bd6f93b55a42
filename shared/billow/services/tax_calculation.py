"""The tax port's adapter (ports/tax.py): gathers what the tax decision needs and asks it once
per product tax category on the invoice (docs/tax.md).

What it reads: the seller's tax profile, the tenant's tax rules, the customer (address, type,
tax ids, exemption), the products' tax categories, the EU VAT rate table, and VIES's answer
about the buyer's EU VAT ID. VIES is asked only when the answer matters (an EU VAT ID on a
cross-border sale) and through the cache of services/vat_ids.py; VIES being down is an answer
too: the invoice charges VAT and carries a note saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from billow.domain.errors import NotFound
from billow.domain.tax import LineTaxes
from billow.domain.tax_determination import BuyerTaxFacts, VatRateTable, buyer_tax_facts, determine_line_taxes
from billow.domain.tenancy import Scope

if TYPE_CHECKING:
    from billow.domain.customer import Customer
    from billow.domain.invoice import Invoice
    from billow.domain.product import Product
    from billow.domain.tax_profile import SellerTaxProfile
    from billow.domain.tax_rules import TaxRule
    from billow.services.vat_ids import VatIdService

DEFAULT_CATEGORY = "standard"


class TaxProfileSource(Protocol):
    def get(self, scope: Scope) -> SellerTaxProfile | None: ...


class TaxRuleSource(Protocol):
    def all(self, scope: Scope) -> list[TaxRule]: ...


class CustomerSource(Protocol):
    def get(self, scope: Scope, customer_id: str) -> Customer | None: ...


class ProductSource(Protocol):
    def get(self, scope: Scope, product_id: str) -> Product | None: ...


class _ReadOnce:
    """Answers of a source kept for one batch: a finalization batch of twelve invoices of one
    tenant reads its tax profile, rules and products once instead of twelve times."""

    def __init__(self, read: Callable[..., Any]) -> None:
        self._read = read
        self._held: dict[tuple[Any, ...], Any] = {}

    def __call__(self, *key: Any) -> Any:
        if key not in self._held:
            self._held[key] = self._read(*key)
        return self._held[key]


@dataclass(frozen=True)
class _BatchProfiles:
    get: Callable[[Scope], SellerTaxProfile | None]


@dataclass(frozen=True)
class _BatchRules:
    all: Callable[[Scope], list[TaxRule]]


@dataclass(frozen=True)
class _BatchProducts:
    get: Callable[[Scope, str], Product | None]


@dataclass
class TaxCalculation:
    profiles: TaxProfileSource
    rules: TaxRuleSource
    customers: CustomerSource
    products: ProductSource
    eu_rates: Callable[[], VatRateTable]
    vat_ids: VatIdService | None = None

    def batch(self) -> TaxCalculation:
        return replace(
            self,
            profiles=_BatchProfiles(_ReadOnce(self.profiles.get)),
            rules=_BatchRules(_ReadOnce(self.rules.all)),
            products=_BatchProducts(_ReadOnce(self.products.get)),
        )

    def seller(self, scope: Scope) -> SellerTaxProfile | None:
        return self.profiles.get(scope)

    def rates_for(
        self, scope: Scope, invoice: Invoice, on: date, customer: Customer | None = None
    ) -> Sequence[LineTaxes]:
        seller = self.profiles.get(scope)
        if customer is None or customer.id != invoice.customer_id:
            customer = self.customers.get(scope, invoice.customer_id)
        if customer is None:  # pragma: no cover - an invoice's customer is archived, never deleted
            raise NotFound(detail=f"no customer with id {invoice.customer_id}")
        rules = self.rules.all(scope) if seller is not None else []
        table = self.eu_rates()
        buyer = self.buyer(scope, customer, seller, table)
        decided: dict[str, LineTaxes] = {}
        categories = self._categories(scope, invoice)
        for category in set(categories):
            decided[category] = determine_line_taxes(
                seller=seller, buyer=buyer, category=category, on=on, rules=rules, eu_rates=table
            )
        return [decided[category] for category in categories]

    def buyer(
        self, scope: Scope, customer: Customer, seller: SellerTaxProfile | None, table: VatRateTable
    ) -> BuyerTaxFacts:
        facts = buyer_tax_facts(customer, tax_exempt=customer.tax_exempt)
        if (
            seller is None
            or self.vat_ids is None
            or facts.vat_id is None
            or facts.country == seller.country
            or not (table.is_member_state(seller.country) or table.is_member_state(facts.country or ""))
        ):
            return facts
        check, received_at = self.vat_ids.status(scope, facts.vat_id)
        checked_on = (check.checked_at or received_at).date()
        return buyer_tax_facts(
            customer, vat_id_status=check.status, vat_id_checked_on=checked_on, tax_exempt=customer.tax_exempt
        )

    def _categories(self, scope: Scope, invoice: Invoice) -> list[str]:
        """Each line's product tax category; lines without a product are standard-rated."""
        known: dict[str, str] = {}
        categories = []
        for line in invoice.lines:
            if line.tax_category is not None:
                categories.append(line.tax_category)
                continue
            product_id = line.product_id
            if product_id is None:
                categories.append(DEFAULT_CATEGORY)
                continue
            if product_id not in known:
                product = self.products.get(scope, product_id)
                known[product_id] = product.tax_category if product is not None else DEFAULT_CATEGORY
            categories.append(known[product_id])
        return categories
