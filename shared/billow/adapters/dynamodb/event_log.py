"""The tenant's event log: the outbox's event items, read back through gsi1 ``{scope}#EVENTS``
(ids are UUIDv7, so id order is commit order within a writer). Kept 30 days (TTL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billow.adapters.dynamodb.entities import ItemFilter
from billow.adapters.dynamodb.table import DynamoTable, take_page
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult


def _plain(value: Any) -> Any:
    """DynamoDB gives numbers back as Decimal; the envelope's numbers are all integers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


class DynamoEventLog:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def list(
        self,
        scope: Scope,
        page: Page,
        *,
        event_type: str | None = None,
        aggregate_id: str | None = None,
        oldest_first: bool = False,
    ) -> PageResult[dict[str, Any]]:
        item_filter = ItemFilter().equals("event_type", event_type).equals("aggregate_id", aggregate_id)
        items = self.table.query(
            index="gsi1",
            partition=f"{scope.key_prefix}#EVENTS",
            newest_first=not oldest_first,
            start=page.after,
            filter_expression=item_filter.expression,
            names=item_filter.names,
            values=item_filter.values,
            page_size=100 if item_filter.selective else page.limit + 1,
        )
        found, position = take_page(items, page.limit, "gsi1")
        return PageResult(items=[_plain(item["envelope"]) for item in found], next_position=position)
