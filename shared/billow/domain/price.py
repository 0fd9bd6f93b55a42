"""Prices: how much a product costs, in one currency, under one pricing model.

A price's economics (model, terms, currency, timing) never change once created: invoices that
used it must stay explainable. To change what is charged, create a new price, optionally with
a future ``effective_from``, and archive the old one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from billow.domain.errors import InvalidStateTransition, validation_failed

if TYPE_CHECKING:
    # The engine loads on first use: the API function's cold start only pays for it when a
    # price is read or computed.
    from billow.domain.pricing import PriceTerms

BillingTiming = Literal["in_advance", "in_arrears"]
MUTABLE_FIELDS = frozenset({"nickname", "metadata"})


@dataclass(frozen=True)
class Price:
    id: str
    livemode: bool
    product_id: str
    currency: str
    terms: PriceTerms
    billing_timing: BillingTiming
    created_at: str
    updated_at: str
    effective_from: str | None = None
    country: str | None = None
    meter_id: str | None = None
    # A usage price for one group of its meter (e.g. {"region": "eu"}); without it, the price
    # bills every group no more specific price of the subscription claims.
    meter_group: dict[str, str] | None = None
    nickname: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: Literal["active", "archived"] = "active"
    version: int = 1

    @property
    def model(self) -> str:
        return self.terms.model

    def with_changes(self, changes: Mapping[str, Any], now: str) -> Price:
        unknown = set(changes) - MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable: {sorted(unknown)}")
        return replace(self, **changes, updated_at=now, version=self.version + 1)

    def archive(self, now: str) -> Price:
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"price {self.id} is already archived")
        return replace(self, status="archived", updated_at=now, version=self.version + 1)


def parse_effective_from(value: str, pointer: str = "/effective_from") -> str:
    """A date (midnight UTC) or an RFC 3339 timestamp, stored as RFC 3339 UTC."""
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("no offset")
    except ValueError:
        raise validation_failed(
            pointer, "must be a date YYYY-MM-DD or an RFC 3339 timestamp with an offset"
        ) from None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def select_price(
    prices: Iterable[Price], *, product_id: str, currency: str, country: str | None, at: str
) -> Price | None:
    """The price that applies to a product in a currency (and buyer country) at a moment.

    A price for the buyer's country beats a price without a country; among those, the one
    that took effect last (``effective_from`` ≤ ``at``; none means "always") wins.
    """
    candidates = [
        p
        for p in prices
        if p.status == "active"
        and p.product_id == product_id
        and p.currency == currency
        and (p.effective_from is None or p.effective_from <= at)
        and (p.country is None or p.country == country)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.country is not None, p.effective_from or "", p.created_at))


def terms_fields(terms: PriceTerms) -> dict[str, Any]:
    """A price's terms as top-level fields of its representation (the model named apart)."""
    return {key: value for key, value in terms.to_dict().items() if key != "model"}


def terms_from_fields(model: str, data: Mapping[str, Any]) -> PriceTerms:
    """The inverse of terms_fields, from a stored representation."""
    from billow.domain.pricing import MODEL_FIELDS, PriceTerms

    fields = {key: integers_from_storage(data[key]) for key in MODEL_FIELDS[model] if key in data}
    return PriceTerms.from_dict({"model": model, **fields})


def price_to_dict(price: Price) -> dict[str, Any]:
    terms = terms_fields(price.terms)
    return {
        "id": price.id,
        "object": "price",
        "livemode": price.livemode,
        "product_id": price.product_id,
        "currency": price.currency,
        "model": price.model,
        **terms,
        "billing_timing": price.billing_timing,
        "effective_from": price.effective_from,
        "country": price.country,
        "meter_id": price.meter_id,
        "meter_group": dict(price.meter_group) if price.meter_group else None,
        "nickname": price.nickname,
        "metadata": dict(price.metadata),
        "status": price.status,
        "created_at": price.created_at,
        "updated_at": price.updated_at,
        "version": price.version,
    }


def integers_from_storage(value: Any) -> Any:
    """Storage hands integers back as Decimal; terms want JSON's integers (package_size, …)."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, list):
        return [integers_from_storage(item) for item in value]
    if isinstance(value, dict):
        return {key: integers_from_storage(item) for key, item in value.items()}
    return value


def price_from_dict(data: Mapping[str, Any]) -> Price:
    terms = terms_from_fields(data["model"], data)
    return Price(
        id=data["id"],
        livemode=bool(data["livemode"]),
        product_id=data["product_id"],
        currency=data["currency"],
        terms=terms,
        billing_timing=data["billing_timing"],
        effective_from=data.get("effective_from"),
        country=data.get("country"),
        meter_id=data.get("meter_id"),
        meter_group=dict(data["meter_group"]) if data.get("meter_group") else None,
        nickname=data.get("nickname"),
        metadata=dict(data.get("metadata") or {}),
        status=data.get("status", "active"),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=int(data.get("version", 1)),
    )
