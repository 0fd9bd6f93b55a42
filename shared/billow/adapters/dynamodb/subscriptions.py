"""Subscriptions, the invoices they produce, and the due-time index, in the single table.

A subscription with a step ahead carries a sparse gsi2 entry keyed by that step's time
(docs/data-model.md): in real time ``DUE#{shard}`` / ``{due_at}#{scope}#{id}``; bound to a test
clock ``{scope}#CLOCK#{clock_id}#DUE`` / ``{due_at}#{id}``, so the real scheduler never runs a
simulated subscription and a clock finds exactly its own. Each step is one transaction: the
subscription under its read version, its invoices (each guarded by a deterministic key), the
credit balance movements and the events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from billow.adapters.dynamodb.credit_balances import stage_credits
from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.invoices import INVOICE
from billow.adapters.dynamodb.table import (
    DynamoTable,
    Transaction,
    TransactionCancelled,
    due_entries,
    outbox_items,
)
from billow.domain.errors import ConcurrentModification, Conflict
from billow.domain.events import EventEnvelope
from billow.domain.invoice import Invoice
from billow.domain.subscription import Subscription, subscription_from_dict, subscription_to_dict
from billow.domain.tenancy import Scope
from billow.ports.repositories import CreditEntry, DueEntry, Page, PageResult, SubscriptionFilter

DUE_SHARDS = 8


def _due_index(scope: Scope, sub: Subscription) -> dict[str, str]:
    step = sub.next_due()
    if step is None:
        return {}
    if sub.test_clock_id:
        return {"gsi2pk": clock_due_partition(scope, sub.test_clock_id), "gsi2sk": f"{step.at}#{sub.id}"}
    shard = int(hashlib.sha256(sub.id.encode()).hexdigest(), 16) % DUE_SHARDS
    return {"gsi2pk": f"DUE#{shard}", "gsi2sk": f"{step.at}#{scope.key_prefix}#{sub.id}"}


def meter_billing_pk(scope: Scope, customer_id: str, meter_id: str) -> str:
    return f"{scope.key_prefix}#METER_BILLING#{customer_id}#{meter_id}"


def billed_meters(sub: Subscription | None) -> set[str]:
    if sub is None or sub.is_ended:
        return set()
    return {item.meter_id for item in sub.items if item.meter_id}


def clock_due_partition(scope: Scope, clock_id: str) -> str:
    return f"{scope.key_prefix}#CLOCK#{clock_id}#DUE"


SUBSCRIPTION = EntityKind[Subscription](
    name="subscription",
    to_dict=subscription_to_dict,
    from_dict=subscription_from_dict,
    index_of=_due_index,
)


class DynamoSubscriptionRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, SUBSCRIPTION)
        self.invoices = EntityStore(table, INVOICE)

    def get(self, scope: Scope, subscription_id: str) -> Subscription | None:
        return self.store.get(scope, subscription_id)

    def list(self, scope: Scope, filters: SubscriptionFilter, page: Page) -> PageResult[Subscription]:
        item_filter = (
            ItemFilter()
            .equals("customer_id", filters.customer_id)
            .equals("status", filters.status)
            .equals("plan_id", filters.plan_id)
            .equals("plan_version", filters.plan_version)
            .equals("test_clock_id", filters.test_clock_id)
        )
        return self.store.list(scope, page, item_filter)

    def save(
        self,
        scope: Scope,
        before: Subscription | None,
        after: Subscription,
        events: Sequence[EventEnvelope],
        *,
        invoices: Sequence[Invoice] = (),
        credits: Sequence[CreditEntry] = (),
    ) -> None:
        tx = Transaction()
        self.store.stage(tx, scope, [(before, after)])
        self.invoices.stage(tx, scope, [(None, invoice) for invoice in invoices])
        stage_credits(tx, self.table.name, scope, credits)
        for item in outbox_items(scope, events):
            tx.put("event", self.table.name, item, "attribute_not_exists(pk)")
        self._guard_meters(tx, scope, before, after)
        try:
            self.table.write(tx)
        except TransactionCancelled as cancelled:
            taken = sorted(
                label for label in tx.failed_labels(cancelled) if label.startswith("meter_billing:")
            )
            if taken:
                meter_id = taken[0].split(":", 1)[1]
                raise Conflict(
                    detail=f"the customer already has a live subscription billing meter {meter_id}; "
                    "usage of a meter is billed by one subscription per customer"
                ) from None
            # Any other failed condition (a newer version, an invoice already made for this
            # period) means another run got there first: the caller re-reads and decides again.
            raise ConcurrentModification(detail="the subscription was changed concurrently") from None

    def _guard_meters(
        self, tx: Transaction, scope: Scope, before: Subscription | None, after: Subscription
    ) -> None:
        """One live subscription per customer bills a meter: a guard item per (customer, meter)
        names it, so usage ingest finds the subscription in one read."""
        old, new = billed_meters(before), billed_meters(after)
        for meter_id in sorted(new - old):
            tx.put(
                f"meter_billing:{meter_id}",
                self.table.name,
                {
                    "pk": meter_billing_pk(scope, after.customer_id, meter_id),
                    "sk": "GUARD",
                    "kind": "meter_billing",
                    "subscription_id": after.id,
                },
                "attribute_not_exists(pk) OR subscription_id = :sub",
                ExpressionAttributeValues={":sub": {"S": after.id}},
            )
        for meter_id in sorted(old - new):
            tx.delete(
                f"meter_release:{meter_id}",
                self.table.name,
                {"pk": meter_billing_pk(scope, after.customer_id, meter_id), "sk": "GUARD"},
                "attribute_not_exists(pk) OR subscription_id = :sub",
                ExpressionAttributeValues={":sub": {"S": after.id}},
            )

    def due(self, before: str, *, clock: tuple[Scope, str] | None, limit: int) -> Sequence[DueEntry]:
        entries = due_entries(
            self.table,
            clock=clock,
            clock_partition=clock_due_partition,
            shards=[f"DUE#{shard}" for shard in range(DUE_SHARDS)],
            before=before,
            limit=limit,
        )
        return [DueEntry(scope=e.scope, subscription_id=e.object_id, due_at=e.at) for e in entries]
