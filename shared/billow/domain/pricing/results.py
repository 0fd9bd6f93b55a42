"""What the engine answers: the total, rounded once, and the lines it is the sum of."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from billow.domain.money import Money, minor_units
from billow.domain.pricing._numbers import amount_text, plain


class TierLine(NamedTuple):
    """One line of a breakdown. ``amount`` is exact, never rounded; only the total is rounded.

    A NamedTuple rather than a frozen dataclass: a graduated price makes one per tier reached,
    and a tuple is several times cheaper to build.
    """

    tier: int | None  # 1-based; None for prices without tiers
    quantity: Decimal
    unit_amount: Decimal
    flat_amount: Decimal
    amount: Decimal
    currency: str

    def to_dict(self) -> dict[str, Any]:
        """Decimal strings; ``amount`` shows at least the currency's minor digits ("102.00")
        and more only when the exact amount has them ("0.125"), so the lines add up exactly."""
        return {
            "tier": self.tier,
            "quantity": plain(self.quantity),
            "unit_amount": plain(self.unit_amount),
            "flat_amount": plain(self.flat_amount),
            "amount": amount_text(self.amount, minor_units(self.currency)),
        }


@dataclass(frozen=True, slots=True)
class PriceComputation:
    total: Money  # rounded once, half-up, to the currency's minor unit
    unrounded: Decimal  # the exact sum of the lines' amounts
    breakdown: list[TierLine]

    def to_dict(self) -> dict[str, Any]:
        """The ``data`` of ``POST /v1/prices/{id}/compute``."""
        return {"total": self.total.as_dict(), "breakdown": [line.to_dict() for line in self.breakdown]}
