"""Price overrides in the single table (an EntityStore of kind "price_override"). The
external-id guard holds "customer:product:currency" while an override is active, so two
active overrides for the same thing cannot both be written (docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.events import EventEnvelope
from billow.domain.price_override import PriceOverride, override_from_dict, override_to_dict
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult

PRICE_OVERRIDE = EntityKind[PriceOverride](
    name="price_override",
    to_dict=override_to_dict,
    from_dict=override_from_dict,
    external_id_of=lambda override: override.uniqueness_key,
    conflict_detail="the customer already has an active override for this product and currency; archive it",
)


class DynamoPriceOverrideRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, PRICE_OVERRIDE)

    def get(self, scope: Scope, override_id: str) -> PriceOverride | None:
        return self.store.get(scope, override_id)

    def active_for(
        self, scope: Scope, customer_id: str, product_id: str, currency: str
    ) -> PriceOverride | None:
        return self.store.get_by_external_id(scope, f"{customer_id}:{product_id}:{currency}")

    def list(
        self, scope: Scope, customer_id: str | None, product_id: str | None, status: str | None, page: Page
    ) -> PageResult[PriceOverride]:
        item_filter = (
            ItemFilter()
            .equals("customer_id", customer_id)
            .equals("product_id", product_id)
            .equals("status", status)
        )
        return self.store.list(scope, page, item_filter)

    def save(
        self,
        scope: Scope,
        before: PriceOverride | None,
        after: PriceOverride,
        events: Sequence[EventEnvelope],
    ) -> None:
        self.store.write(scope, [(before, after)], events)
