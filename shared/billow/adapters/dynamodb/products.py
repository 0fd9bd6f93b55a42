"""Products in the single table (an EntityStore of kind "product"; docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.events import EventEnvelope
from billow.domain.product import Product, product_from_dict, product_to_dict
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult, ProductFilter

PRODUCT = EntityKind[Product](
    name="product",
    to_dict=product_to_dict,
    from_dict=product_from_dict,
    external_id_of=lambda product: product.external_id,
)


class DynamoProductRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, PRODUCT)

    def get(self, scope: Scope, product_id: str) -> Product | None:
        return self.store.get(scope, product_id)

    def get_by_external_id(self, scope: Scope, external_id: str) -> Product | None:
        return self.store.get_by_external_id(scope, external_id)

    def list(self, scope: Scope, filters: ProductFilter, page: Page) -> PageResult[Product]:
        item_filter = ItemFilter().equals("type", filters.type).equals("status", filters.status)
        return self.store.list(scope, page, item_filter)

    def save(
        self, scope: Scope, before: Product | None, after: Product, events: Sequence[EventEnvelope]
    ) -> None:
        self.store.write(scope, [(before, after)], events)
