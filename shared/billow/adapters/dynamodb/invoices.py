"""Invoices and credit notes in the single table (docs/data-model.md).

- invoice: an EntityStore of kind "invoice"; its external-id guard holds
  "subscription:billing_reason:period_start", so a period is invoiced once however often its
  step runs.
- invoice work: a sparse gsi2 entry while an invoice has work ahead: a draft to finalize at
  ``finalize_at`` or a finalized invoice to hand over to payment collection. In real time
  ``INVOICE_WORK#{shard}`` / ``{at}#{scope}#{id}``; in a test clock
  ``{scope}#CLOCK#{clock_id}#INVOICE_WORK`` / ``{at}#{id}``.
- credit note: an EntityStore of kind "credit_note".
- numbers: the gap-free counters of adapters/dynamodb/sequences.py, advanced in the same
  transaction that stores the numbered documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from billow.adapters.dynamodb.credit_balances import stage_credits
from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.sequences import last_number, stage_advance
from billow.adapters.dynamodb.table import (
    DynamoTable,
    Transaction,
    TransactionCancelled,
    due_entries,
    outbox_items,
)
from billow.domain.credit_note import CreditNote, credit_note_from_dict, credit_note_to_dict
from billow.domain.errors import AlreadyApplied, ConcurrentModification
from billow.domain.events import EventEnvelope
from billow.domain.invoice import Invoice, invoice_from_dict, invoice_to_record
from billow.domain.tenancy import Scope
from billow.ports.queries import InvoiceFilter, Page, PageResult
from billow.ports.repositories import CreditEntry, InvoiceWork

WORK_SHARDS = 8


def invoice_work(invoice: Invoice) -> tuple[str, str] | None:
    """(action, at) of the work an invoice has ahead, if any."""
    if invoice.status == "draft" and invoice.auto_advance and invoice.finalize_at:
        return "finalize", invoice.finalize_at
    open_ = invoice.status in ("finalized", "uncollectible")
    if open_ and invoice.collection_pending and invoice.finalized_at:
        return "collect", invoice.finalized_at
    dunning_at = invoice.dunning.next_at if invoice.dunning and invoice.status == "finalized" else None
    if dunning_at is not None:
        return "dunning", dunning_at
    return None


def _work_action(item: dict[str, object]) -> str:
    if item.get("status") == "draft":
        return "finalize"
    return "collect" if item.get("collection_pending") else "dunning"


def clock_work_partition(scope: Scope, clock_id: str) -> str:
    return f"{scope.key_prefix}#CLOCK#{clock_id}#INVOICE_WORK"


def _work_index(scope: Scope, invoice: Invoice) -> dict[str, str]:
    work = invoice_work(invoice)
    if work is None:
        return {}
    _, at = work
    if invoice.test_clock_id:
        return {"gsi2pk": clock_work_partition(scope, invoice.test_clock_id), "gsi2sk": f"{at}#{invoice.id}"}
    shard = int(hashlib.sha256(invoice.id.encode()).hexdigest(), 16) % WORK_SHARDS
    return {"gsi2pk": f"INVOICE_WORK#{shard}", "gsi2sk": f"{at}#{scope.key_prefix}#{invoice.id}"}


INVOICE = EntityKind[Invoice](
    name="invoice",
    to_dict=invoice_to_record,
    from_dict=invoice_from_dict,
    external_id_of=lambda invoice: invoice.uniqueness_key,
    conflict_detail="this period of the subscription is already invoiced",
    index_of=_work_index,
)
CREDIT_NOTE = EntityKind[CreditNote](
    name="credit_note", to_dict=credit_note_to_dict, from_dict=credit_note_from_dict
)


class DynamoInvoiceRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, INVOICE)
        self.notes = EntityStore(table, CREDIT_NOTE)

    # --- reading --------------------------------------------------------------------------

    def get(self, scope: Scope, invoice_id: str) -> Invoice | None:
        return self.store.get(scope, invoice_id)

    def list(self, scope: Scope, filters: InvoiceFilter, page: Page) -> PageResult[Invoice]:
        item_filter = (
            ItemFilter()
            .equals("customer_id", filters.customer_id)
            .equals("subscription_id", filters.subscription_id)
            .equals("status", filters.status)
            .equals("type", filters.type)
        )
        return self.store.list(scope, page, item_filter)

    def get_credit_note(self, scope: Scope, note_id: str) -> CreditNote | None:
        return self.notes.get(scope, note_id)

    def list_credit_notes(
        self, scope: Scope, invoice_id: str | None, customer_id: str | None, page: Page
    ) -> PageResult[CreditNote]:
        item_filter = ItemFilter().equals("invoice_id", invoice_id).equals("customer_id", customer_id)
        return self.notes.list(scope, page, item_filter)

    def last_number(self, scope: Scope, sequence: str) -> int:
        return last_number(self.table, scope, sequence)

    def work_due(self, before: str, *, clock: tuple[Scope, str] | None, limit: int) -> Sequence[InvoiceWork]:
        entries = due_entries(
            self.table,
            clock=clock,
            clock_partition=clock_work_partition,
            shards=[f"INVOICE_WORK#{shard}" for shard in range(WORK_SHARDS)],
            before=before,
            limit=limit,
        )
        return [
            InvoiceWork(
                scope=entry.scope,
                invoice_id=entry.object_id,
                at=entry.at,
                action=_work_action(entry.item),
            )
            for entry in entries
        ]

    # --- writing --------------------------------------------------------------------------

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[Invoice | None, Invoice]],
        events: Sequence[EventEnvelope],
        *,
        credits: Sequence[CreditEntry] = (),
        numbered: tuple[str, int, int] | None = None,
        credit_notes: Sequence[CreditNote] = (),
        also: Callable[[Transaction], None] | None = None,
    ) -> None:
        """One transaction: invoices under their read versions, credit balance movements,
        new credit notes, events, and, with ``numbered`` = (sequence, last read, new last),
        the gap-free counter moved forward."""
        tx = Transaction()
        self.store.stage(tx, scope, changes)
        self.notes.stage(tx, scope, [(None, note) for note in credit_notes])
        stage_credits(tx, self.table.name, scope, credits)
        if numbered is not None:
            name, last, to = numbered
            stage_advance(tx, self.table.name, scope, name, last, to)
        if also is not None:
            also(tx)
        for item in outbox_items(scope, events):
            tx.put("event", self.table.name, item, "attribute_not_exists(pk)")
        try:
            self.table.write(tx)
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if "gateway_event" in failed:
                raise AlreadyApplied from None
            if any(label.startswith("credit_balance:") for label in failed):
                raise ConcurrentModification(
                    detail="the customer's credit balance changed concurrently"
                ) from None
            raise ConcurrentModification(detail="the invoice was changed concurrently") from None
