"""Resolving a subscription's items into priced items: each item's price terms, or the
customer's override of them, with what billing needs to know about its product."""

from __future__ import annotations

from collections.abc import Sequence

from billow.domain.billing import PricedItem
from billow.domain.errors import NotFound
from billow.domain.subscription import SubscriptionItem
from billow.domain.tenancy import Scope
from billow.ports.repositories import PriceOverrideRepository, PriceRepository, ProductRepository


def price_items(
    scope: Scope,
    prices: PriceRepository,
    products: ProductRepository,
    overrides: PriceOverrideRepository,
    customer_id: str,
    currency: str,
    items: Sequence[SubscriptionItem],
) -> list[PricedItem]:
    result = []
    for item in items:
        price = prices.get(scope, item.price_id)
        product = products.get(scope, item.product_id)
        if price is None or product is None:  # pragma: no cover - prices are never deleted
            raise NotFound(detail=f"the price {item.price_id} of the subscription is missing")
        override = overrides.active_for(scope, customer_id, item.product_id, currency)
        result.append(
            PricedItem(
                item=item,
                terms=override.terms if override else price.terms,
                billing_timing=price.billing_timing,
                product_type=product.type,
                product_name=product.name,
                price_override_id=override.id if override else None,
                meter_group=price.meter_group,
                tax_category=product.tax_category,
            )
        )
    return result
