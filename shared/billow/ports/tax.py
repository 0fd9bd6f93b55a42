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
    from billow.domain.invoice import Invoice
    from billow.domain.tax import LineTaxes
    from billow.domain.tenancy import Scope


class TaxCalculator(Protocol):
    def rates_for(self, scope: Scope, invoice: Invoice, on: date) -> Sequence[LineTaxes]:
        """One set of taxes per line of the invoice, in order, as they apply on ``on`` (the
        tax point: the day the invoice is finalized, or today for a draft)."""
        ...
