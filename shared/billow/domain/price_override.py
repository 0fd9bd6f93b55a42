"""Price overrides: a customer-specific price for a product, in one currency.

When a customer is billed for a product, an active override for (customer, product,
currency) replaces the price the plan names; everything else about the plan stays. One
active override per (customer, product, currency): archive it to end it, then create another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from billow.domain.errors import InvalidStateTransition
from billow.domain.price import terms_fields, terms_from_fields

if TYPE_CHECKING:
    from billow.domain.pricing import PriceTerms


@dataclass(frozen=True)
class PriceOverride:
    id: str
    livemode: bool
    customer_id: str
    product_id: str
    currency: str
    terms: PriceTerms
    created_at: str
    updated_at: str
    metadata: dict[str, str] = field(default_factory=dict)
    status: Literal["active", "archived"] = "active"
    version: int = 1

    @property
    def uniqueness_key(self) -> str | None:
        """Held while active, so a second active override for the same thing is refused."""
        if self.status != "active":
            return None
        return f"{self.customer_id}:{self.product_id}:{self.currency}"

    def archive(self, now: str) -> PriceOverride:
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"price override {self.id} is already archived")
        return replace(self, status="archived", updated_at=now, version=self.version + 1)


def override_for(
    overrides: Iterable[PriceOverride], *, customer_id: str, product_id: str, currency: str
) -> PriceOverride | None:
    for override in overrides:
        if (
            override.status == "active"
            and override.customer_id == customer_id
            and override.product_id == product_id
            and override.currency == currency
        ):
            return override
    return None


def override_to_dict(override: PriceOverride) -> dict[str, Any]:
    terms = terms_fields(override.terms)
    return {
        "id": override.id,
        "object": "price_override",
        "livemode": override.livemode,
        "customer_id": override.customer_id,
        "product_id": override.product_id,
        "currency": override.currency,
        "model": override.terms.model,
        **terms,
        "metadata": dict(override.metadata),
        "status": override.status,
        "created_at": override.created_at,
        "updated_at": override.updated_at,
        "version": override.version,
    }


def override_from_dict(data: Mapping[str, Any]) -> PriceOverride:
    return PriceOverride(
        id=data["id"],
        livemode=bool(data["livemode"]),
        customer_id=data["customer_id"],
        product_id=data["product_id"],
        currency=data["currency"],
        terms=terms_from_fields(data["model"], data),
        metadata=dict(data.get("metadata") or {}),
        status=data.get("status", "active"),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=int(data.get("version", 1)),
    )
