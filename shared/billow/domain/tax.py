"""Tax on invoices as the domain sees it: a rate and category per line, and the breakdown the
invoice states. Which rate applies is decided behind the tax port (ports/tax.py); here only
the arithmetic lives.

API.md's rounding rule (EN 16931 BR-CO-17): tax is computed per category and rate on the sum
of the net amounts of the lines in that group, rounded half-up once, so an invoice's tax never
drifts by summing per-line roundings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billow.domain.money import Money

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TaxRate:
    """What applies to one line: an EN 16931 VAT category code (S standard, Z zero rated,
    E exempt, AE reverse charge, K intra-EU, G export, O outside the scope) and a percent."""

    category: str
    rate: Decimal
    exemption_reason: str | None = None


@dataclass(frozen=True)
class TaxAmount:
    """One group of the breakdown: the lines of one category and rate."""

    category: str
    rate: Decimal
    taxable_amount: Money
    amount: Money
    exemption_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "rate": str(self.rate),
            "taxable_amount": self.taxable_amount.as_dict(),
            "amount": self.amount.as_dict(),
            "exemption_reason": self.exemption_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaxAmount:
        return cls(
            category=data["category"],
            rate=Decimal(data["rate"]),
            taxable_amount=Money(
                Decimal(data["taxable_amount"]["amount"]), data["taxable_amount"]["currency"]
            ),
            amount=Money(Decimal(data["amount"]["amount"]), data["amount"]["currency"]),
            exemption_reason=data.get("exemption_reason"),
        )


def tax_of(net: Money, rate: Decimal) -> Money:
    return net.times(rate / HUNDRED).rounded()


def breakdown(lines: Iterable[tuple[Money, TaxRate]], currency: str) -> tuple[TaxAmount, ...]:
    """Group rounded net amounts by (category, rate) and tax each group once."""
    groups: dict[tuple[str, Decimal], tuple[Money, str | None]] = {}
    for net, rate in lines:
        key = (rate.category, rate.rate)
        taxable, reason = groups.get(key, (Money.zero(currency), rate.exemption_reason))
        groups[key] = (taxable + net.rounded(), reason)
    return tuple(
        TaxAmount(category, rate, taxable, tax_of(taxable, rate), reason)
        for (category, rate), (taxable, reason) in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1]))
    )


def tax_total_of(groups: Iterable[TaxAmount], currency: str) -> Money:
    """The tax of a document: the sum of its breakdown's groups."""
    total = Money.zero(currency)
    for group in groups:
        total = total + group.amount
    return total
