"""The tax port: which rate applies to each line of an invoice for its customer.

Until tax rules arrive (issue 9) the only adapter answers a zero rate (adapters/tax.py); the
invoice's arithmetic (groups, rounding, pinning at finalization) does not change with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from billow.domain.invoice import Invoice
    from billow.domain.tax import TaxRate
    from billow.domain.tenancy import Scope


class TaxCalculator(Protocol):
    def rates_for(self, scope: Scope, invoice: Invoice) -> Sequence[TaxRate]:
        """One rate per line of the invoice, in order."""
        ...
