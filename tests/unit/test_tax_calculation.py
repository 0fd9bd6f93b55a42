"""The tax port's adapter with in-memory sources: which taxes each line gets, and how often
the seller's profile, the rules and the products are read (once per batch of invoices)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date
from decimal import Decimal

from billow.domain.address import Address
from billow.domain.customer import Customer
from billow.domain.invoice import Invoice
from billow.domain.product import Product
from billow.domain.tax_profile import SellerTaxProfile
from billow.domain.tax_rules import TaxRule
from billow.domain.tenancy import Scope
from billow.services.tax_calculation import TaxCalculation
from tests.unit.test_invoice_domain import NOW, make_invoice, make_line
from tests.unit.test_tax_determination import EU, profile

SCOPE = Scope("t-1", False)
ON = date(2026, 7, 10)


class CountingSources:
    def __init__(self, seller: SellerTaxProfile | None) -> None:
        self.seller = seller
        self.reads: Counter[str] = Counter()
        self.customer = Customer(
            id="cus-1",
            livemode=False,
            name="Buyer",
            created_at=NOW,
            updated_at=NOW,
            type="individual",
            billing_address=Address(city="Paris", postal_code="75002", country="FR"),
        )
        self.products = {
            "books": Product(
                id="books",
                livemode=False,
                name="Books",
                type="one_time",
                created_at=NOW,
                updated_at=NOW,
                tax_category="reduced",
            )
        }

    def get(self, scope: Scope, *rest: str) -> object:
        # Serves as the profile source (scope only) and the customer and product sources.
        if not rest:
            self.reads["profile"] += 1
            return self.seller
        self.reads[f"get:{rest[0]}"] += 1
        return self.customer if rest[0] == "cus-1" else self.products.get(rest[0])

    def all(self, scope: Scope) -> list[TaxRule]:
        self.reads["rules"] += 1
        return []


def calculation(sources: CountingSources) -> TaxCalculation:
    return TaxCalculation(
        profiles=sources,
        rules=sources,
        customers=sources,
        products=sources,
        eu_rates=lambda: EU,  # type: ignore[arg-type]
    )


def invoice_with_books() -> Invoice:
    return replace(
        make_invoice("100.00"),
        lines=(make_line("L0", "100.00"), make_line("L1", "30.00", product_id="books")),
    )


def test_each_line_gets_the_taxes_of_its_product_category() -> None:
    sources = CountingSources(profile("DE"))

    taxes = calculation(sources).rates_for(SCOPE, invoice_with_books(), ON)

    # A French consumer of a German seller: French VAT, standard and reduced.
    assert [(t.vat.category, t.vat.rate) for t in taxes if t.vat] == [
        ("S", Decimal("20")),
        ("S", Decimal("5.5")),
    ]


def test_a_batch_reads_the_seller_the_rules_and_each_product_once() -> None:
    sources = CountingSources(profile("DE"))
    batch = calculation(sources).batch()

    for _ in range(12):
        batch.rates_for(SCOPE, invoice_with_books(), ON)

    assert (sources.reads["profile"], sources.reads["rules"], sources.reads["get:books"]) == (1, 1, 1)
    assert sources.reads["get:cus-1"] == 12  # the buyer is read for each invoice


def test_outside_a_batch_every_invoice_reads_afresh() -> None:
    sources = CountingSources(profile("DE"))
    plain = calculation(sources)

    for _ in range(3):
        plain.rates_for(SCOPE, invoice_with_books(), ON)

    assert (sources.reads["profile"], sources.reads["rules"]) == (3, 3)


def test_without_a_profile_nothing_is_taxed_and_no_rules_are_read() -> None:
    sources = CountingSources(None)

    taxes = calculation(sources).rates_for(SCOPE, invoice_with_books(), ON)

    assert {t.vat.category for t in taxes if t.vat} == {"O"}
    assert sources.reads["rules"] == 0
