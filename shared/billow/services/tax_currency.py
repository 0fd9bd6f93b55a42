"""The VAT of an invoice stated also in the seller's national currency (EN 16931 BT-6 and
BT-111): a German seller invoicing in USD must state its VAT in EUR (docs/tax.md).

At finalization, when the invoice's currency is not the legal tender of the seller's country,
the reference rate of the tax point is pinned with the invoice (its ``fx``: ``tax_currency``,
``tax_rate``, ``tax_rate_date``, ``tax_rate_source``, ``tax_total_in_tax_currency``), so the
documents state the same figure for ever. The reference rate is used as published: an FX
policy's markup is a price, not a tax conversion. No rate held for the day leaves the VAT in
the invoice's currency only (the invoice is still finalized, and the log says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger

from billow.domain.errors import BillowError
from billow.domain.money import minor_units
from billow.domain.tenancy import Scope

if TYPE_CHECKING:
    from billow.domain.fx import PinnedRate
    from billow.domain.invoice import Invoice
    from billow.domain.tax_profile import SellerTaxProfile

logger = Logger(service="billow")


class RatePinning(Protocol):
    def pin(self, scope: Scope, base_currency: str, quote_currency: str, on: date) -> PinnedRate: ...


# Euro adoptions newer than the CLDR data of the pinned babel (2.18 still names BGN).
EURO_ADOPTIONS = {"BG": date(2026, 1, 1)}


def national_currency(country: str, on: date) -> str | None:
    """The legal tender of ``country`` on ``on`` (CLDR's data through babel)."""
    from babel.numbers import get_territory_currencies

    adopted = EURO_ADOPTIONS.get(country)
    if adopted is not None and on >= adopted:
        return "EUR"
    currencies = get_territory_currencies(country, start_date=on, end_date=on, tender=True)
    # During a changeover both are tender (kuna and euro in January 2023): the newer one, last
    # in CLDR's order, is the currency VAT is declared in.
    return str(currencies[-1]) if currencies else None


@dataclass
class TaxCurrencyStatement:
    rates: RatePinning

    def __call__(
        self, scope: Scope, invoice: Invoice, on: date, profile: SellerTaxProfile | None
    ) -> dict[str, str] | None:
        if profile is None or not profile.address.country:
            return None
        currency = national_currency(profile.address.country, on)
        if currency is None or currency == invoice.currency:
            return None
        try:
            pinned = self.rates.pin(scope, invoice.currency, currency, on)
        except BillowError as error:
            logger.warning(
                "no rate to state VAT in the seller's currency",
                extra={"invoice_id": invoice.id, "currency": currency, "reason": error.detail},
            )
            return None
        rate = pinned.reference_rate
        quantum = Decimal(1).scaleb(-minor_units(currency))
        in_tax_currency = (invoice.tax_total.amount * rate).quantize(quantum, rounding=ROUND_HALF_UP)
        return {
            "tax_currency": currency,
            "tax_rate": str(rate),
            "tax_rate_date": pinned.rate_date.isoformat(),
            "tax_rate_source": pinned.source,
            "tax_total_in_tax_currency": str(in_tax_currency),
        }
