"""Webhook deliveries, fan-out cursors and the events they carry, in the single table
(docs/data-model.md).

- webhook delivery: an EntityStore of kind "webhook_delivery", in its endpoint's gsi2
  partition (``{scope}#WEBHOOK_ENDPOINT#{endpoint_id}#DELIVERIES`` / delivery id) for the
  endpoint's delivery log; its external-id guard ``{endpoint_id}:{event_id}`` makes one
  delivery per endpoint and event however often the event is fanned out.
- fan-out cursor: ``{scope}#WEBHOOK_CURSOR#{aggregate_type}#{aggregate_id}`` / ``CURSOR``,
  ``last`` = the last sequence of the aggregate handed to delivery, moved forward by one with a
  condition on its old value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import (
    DynamoTable,
    Transaction,
    TransactionCancelled,
    take_page,
    without_keys,
)
from billow.adapters.eventbridge import plain_json
from billow.domain.errors import ConcurrentModification, Conflict
from billow.domain.tenancy import Scope
from billow.domain.webhook_delivery import (
    FanoutCursor,
    WebhookDelivery,
    delivery_from_dict,
    delivery_to_dict,
)
from billow.ports.repositories import Page, PageResult

# A delivery and its guard are two items; a transaction takes 100.
MAX_DELIVERIES_PER_WRITE = 45


def endpoint_partition(scope: Scope, endpoint_id: str) -> str:
    return f"{scope.key_prefix}#WEBHOOK_ENDPOINT#{endpoint_id}#DELIVERIES"


DELIVERY = EntityKind[WebhookDelivery](
    name="webhook_delivery",
    to_dict=delivery_to_dict,
    from_dict=delivery_from_dict,
    external_id_of=lambda d: f"{d.endpoint_id}:{d.event_id}",
    conflict_detail="the event is already on its way to this endpoint",
    index_of=lambda scope, d: {"gsi2pk": endpoint_partition(scope, d.endpoint_id), "gsi2sk": d.id},
)


class DynamoWebhookDeliveryRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, DELIVERY)

    def get(self, scope: Scope, delivery_id: str) -> WebhookDelivery | None:
        return self.store.get(scope, delivery_id)

    def of_endpoint(self, scope: Scope, endpoint_id: str, page: Page) -> PageResult[WebhookDelivery]:
        """The endpoint's delivery log, newest first (ids are UUIDv7)."""
        items = self.table.query(
            index="gsi2",
            partition=endpoint_partition(scope, endpoint_id),
            start=page.after,
            page_size=page.limit + 1,
        )
        found, position = take_page(items, page.limit, "gsi2")
        return PageResult(items=[delivery_from_dict(without_keys(i)) for i in found], next_position=position)

    def list(self, scope: Scope, page: Page, *, event_id: str | None = None) -> PageResult[WebhookDelivery]:
        return self.store.list(scope, page, ItemFilter().equals("event_id", event_id))

    def create(self, scope: Scope, delivery: WebhookDelivery) -> WebhookDelivery:
        """Write a new delivery; if the endpoint already has one for the event, that one."""
        try:
            self.store.write(scope, [(None, delivery)], [])
        except Conflict:
            existing = self.store.get_by_external_id(scope, f"{delivery.endpoint_id}:{delivery.event_id}")
            if existing is None:  # pragma: no cover - the guard exists, so does the delivery
                raise
            return existing
        return delivery

    def create_all(self, scope: Scope, deliveries: Sequence[WebhookDelivery]) -> Sequence[WebhookDelivery]:
        """Write an event's new deliveries in one transaction (the common case: 2 items each);
        if any exists already (a repeated fan-out), one by one, keeping the existing ones."""
        if not deliveries:
            return []
        if len(deliveries) <= MAX_DELIVERIES_PER_WRITE:
            try:
                self.store.write(scope, [(None, d) for d in deliveries], [])
            except (Conflict, ConcurrentModification):
                pass
            else:
                return deliveries
        return [self.create(scope, delivery) for delivery in deliveries]

    def save(self, scope: Scope, before: WebhookDelivery, after: WebhookDelivery) -> None:
        self.store.write(scope, [(before, after)], [])

    # --- fan-out cursors --------------------------------------------------------------------

    def _cursor_key(self, scope: Scope, aggregate_type: str, aggregate_id: str) -> dict[str, str]:
        return {"pk": f"{scope.key_prefix}#WEBHOOK_CURSOR#{aggregate_type}#{aggregate_id}", "sk": "CURSOR"}

    def cursor(self, scope: Scope, aggregate_type: str, aggregate_id: str) -> FanoutCursor:
        key = self._cursor_key(scope, aggregate_type, aggregate_id)
        item = self.table.get(key["pk"], key["sk"], consistent=True)
        return FanoutCursor(int(item["last"])) if item else FanoutCursor()

    def advance_cursor(
        self, scope: Scope, aggregate_type: str, aggregate_id: str, before: FanoutCursor, to: int
    ) -> None:
        """Move the cursor from ``before.last`` to ``to``; ConcurrentModification if it moved."""
        key = self._cursor_key(scope, aggregate_type, aggregate_id)
        values: dict[str, Any] = {**key, "kind": "webhook_cursor", "last": to}
        condition = "attribute_not_exists(pk)" if before.last == 0 else "#last = :last"
        extra: dict[str, Any] = {}
        if before.last:
            extra = {
                "ExpressionAttributeNames": {"#last": "last"},
                "ExpressionAttributeValues": {":last": {"N": str(before.last)}},
            }
        tx = Transaction()
        tx.put("cursor", self.table.name, values, condition, **extra)
        try:
            self.table.write(tx)
        except TransactionCancelled:
            raise ConcurrentModification(detail="the fan-out cursor moved") from None

    # --- the events deliveries carry ----------------------------------------------------------

    def event_envelope(self, scope: Scope, event_id: str) -> dict[str, Any] | None:
        """The event's envelope as the log keeps it (None when unknown or expired)."""
        item = self.table.get(f"{scope.key_prefix}#EVENT#{event_id}", "EVENT")
        if item is None:
            return None
        envelope: dict[str, Any] = json.loads(json.dumps(item["envelope"], default=plain_json))
        return envelope

    def event_body(self, scope: Scope, event_id: str) -> bytes | None:
        """The event's envelope as the JSON bytes a webhook carries (the same bytes on every
        attempt), or None once the event has expired from the log."""
        item = self.table.get(f"{scope.key_prefix}#EVENT#{event_id}", "EVENT")
        if item is None:
            return None
        return json.dumps(item["envelope"], separators=(",", ":"), default=plain_json).encode()
