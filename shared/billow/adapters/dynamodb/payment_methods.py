"""Payment methods in the single table (an EntityStore of kind "payment_method"), each also in
its customer's gsi2 partition so a customer's methods are one query (docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable, without_keys
from billow.domain.events import EventEnvelope
from billow.domain.payment_method import PaymentMethod, payment_method_from_dict, payment_method_to_dict
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult


def customer_partition(scope: Scope, customer_id: str) -> str:
    return f"{scope.key_prefix}#CUSTOMER#{customer_id}#PAYMENT_METHODS"


PAYMENT_METHOD = EntityKind[PaymentMethod](
    name="payment_method",
    to_dict=payment_method_to_dict,
    from_dict=payment_method_from_dict,
    index_of=lambda scope, method: {
        "gsi2pk": customer_partition(scope, method.customer_id),
        "gsi2sk": method.id,
    },
)


class DynamoPaymentMethodRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, PAYMENT_METHOD)

    def get(self, scope: Scope, method_id: str) -> PaymentMethod | None:
        return self.store.get(scope, method_id)

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[PaymentMethod]:
        return self.store.list(scope, page, ItemFilter().equals("status", status))

    def of_customer(self, scope: Scope, customer_id: str) -> Sequence[PaymentMethod]:
        """Every method of the customer, newest first (a customer has a few)."""
        items = self.table.query(index="gsi2", partition=customer_partition(scope, customer_id))
        return [payment_method_from_dict(without_keys(item)) for item in items]

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[PaymentMethod | None, PaymentMethod]],
        events: Sequence[EventEnvelope],
    ) -> None:
        self.store.write(scope, changes, events)
