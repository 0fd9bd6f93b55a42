"""Prices in the single table (an EntityStore of kind "price"; docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.events import EventEnvelope
from billow.domain.price import Price, price_from_dict, price_to_dict
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult, PriceFilter

PRICE = EntityKind[Price](name="price", to_dict=price_to_dict, from_dict=price_from_dict)


class DynamoPriceRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, PRICE)

    def get(self, scope: Scope, price_id: str) -> Price | None:
        return self.store.get(scope, price_id)

    def list(self, scope: Scope, filters: PriceFilter, page: Page) -> PageResult[Price]:
        item_filter = (
            ItemFilter()
            .equals("product_id", filters.product_id)
            .equals("currency", filters.currency)
            .equals("model", filters.model)
            .equals("status", filters.status)
        )
        return self.store.list(scope, page, item_filter)

    def save(self, scope: Scope, before: Price | None, after: Price, events: Sequence[EventEnvelope]) -> None:
        self.store.write(scope, [(before, after)], events)
