"""Tax adapters. ``ZeroRateTax`` answers 0 % (category Z) for every line until the tax rules
of issue 9 replace it; invoices still carry a breakdown, so nothing changes shape later."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from billow.domain.invoice import Invoice
from billow.domain.tax import TaxRate
from billow.domain.tenancy import Scope

ZERO_RATE = TaxRate(category="Z", rate=Decimal(0))


class ZeroRateTax:
    def rates_for(self, scope: Scope, invoice: Invoice) -> Sequence[TaxRate]:
        return [ZERO_RATE for _ in invoice.lines]
