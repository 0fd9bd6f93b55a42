"""The tax port: which taxes apply to each line of an invoice for its customer on a date.

The adapter behind it (services/tax_calculation.py) loads the seller's profile, the tenant's
rules, the buyer's VAT ID status and the products' tax categories, and asks the pure decision
(domain/tax_determination.py); the invoice's arithmetic (groups, rounding, pinning at
finalization) lives in domain/tax.py and domain/invoice.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from billow.domain.customer import Customer
    from billow.domain.invoice import Invoice
    from billow.domain.tax import LineTaxes
    from billow.domain.tax_profile import SellerTaxProfile
    from billow.domain.tenancy import Scope


class TaxCalculator(Protocol):
    def rates_for(
        self, scope: Scope, invoice: Invoice, on: date, customer: Customer | None = None
    ) -> Sequence[LineTaxes]:
        """One set of taxes per line of the invoice, in order, as they apply on ``on`` (the
        tax point: the day the invoice is finalized, or today for a draft). ``customer``, when
        the caller holds it already, saves reading it again."""
        ...

    def seller(self, scope: Scope) -> SellerTaxProfile | None:
        """The seller's tax profile the taxes are decided for."""
        ...

    def batch(self) -> TaxCalculator:
        """A calculator for one batch of invoices decided together (a finalization batch): what
        is the same for all of them (the seller, the rules, the products) is read once."""
        ...
