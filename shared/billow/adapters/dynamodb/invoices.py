"""Invoices in the single table (an EntityStore of kind "invoice"). The external-id guard holds
"subscription:billing_reason:period_start", so a period is invoiced once however often its
step runs (docs/data-model.md)."""

from __future__ import annotations

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.invoice import Invoice, invoice_from_dict, invoice_to_dict
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult

INVOICE = EntityKind[Invoice](
    name="invoice",
    to_dict=invoice_to_dict,
    from_dict=invoice_from_dict,
    external_id_of=lambda invoice: invoice.uniqueness_key,
    conflict_detail="this period of the subscription is already invoiced",
)


class DynamoInvoiceRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, INVOICE)

    def get(self, scope: Scope, invoice_id: str) -> Invoice | None:
        return self.store.get(scope, invoice_id)

    def list(
        self, scope: Scope, customer_id: str | None, subscription_id: str | None, page: Page
    ) -> PageResult[Invoice]:
        item_filter = (
            ItemFilter().equals("customer_id", customer_id).equals("subscription_id", subscription_id)
        )
        return self.store.list(scope, page, item_filter)
