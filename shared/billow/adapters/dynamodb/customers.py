"""Customers in the single table (an EntityStore of kind "customer"; docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.customer import Customer, customer_from_dict, customer_to_dict
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.ports.repositories import CustomerFilter, Page, PageResult

CUSTOMER = EntityKind[Customer](
    name="customer",
    to_dict=customer_to_dict,
    from_dict=customer_from_dict,
    external_id_of=lambda customer: customer.external_id,
)


class DynamoCustomerRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, CUSTOMER)

    def get(self, scope: Scope, customer_id: str) -> Customer | None:
        return self.store.get(scope, customer_id)

    def get_by_external_id(self, scope: Scope, external_id: str) -> Customer | None:
        return self.store.get_by_external_id(scope, external_id)

    def list(self, scope: Scope, filters: CustomerFilter, page: Page) -> PageResult[Customer]:
        item_filter = (
            ItemFilter()
            .equals("status", filters.status)
            .equals("email", filters.email)
            .equals("type", filters.type)
            .equals("currency", filters.currency)
            .contains("tags", filters.tag)
            .at_least("created_at", filters.created_after)
            .below("created_at", filters.created_before)
        )
        if filters.status is None:
            # Merged customers are archived; they show up only when asked for by status.
            item_filter.not_equals("status", "archived")
        return self.store.list(scope, page, item_filter)

    def add(self, scope: Scope, customer: Customer, events: Sequence[EventEnvelope]) -> None:
        self.store.write(scope, [(None, customer)], events)

    def update(
        self, scope: Scope, before: Customer, after: Customer, events: Sequence[EventEnvelope]
    ) -> None:
        self.store.write(scope, [(before, after)], events)

    def update_many(
        self, scope: Scope, changes: Sequence[tuple[Customer, Customer]], events: Sequence[EventEnvelope]
    ) -> None:
        self.store.write(scope, list(changes), events)
