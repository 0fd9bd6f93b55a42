"""Usage alerts in the single table: an EntityStore of kind "usage_alert" with a gsi2 entry per
subscription ({scope}#SUB#{id}#ALERTS / {alert id}) so ingest reads a subscription's alerts in
one query (docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable, without_keys
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.domain.usage_alert import UsageAlert, usage_alert_from_dict, usage_alert_to_dict
from billow.ports.repositories import Page, PageResult, UsageAlertFilter


def alerts_partition(scope: Scope, subscription_id: str) -> str:
    return f"{scope.key_prefix}#SUB#{subscription_id}#ALERTS"


USAGE_ALERT = EntityKind[UsageAlert](
    name="usage_alert",
    to_dict=usage_alert_to_dict,
    from_dict=usage_alert_from_dict,
    index_of=lambda scope, alert: {
        "gsi2pk": alerts_partition(scope, alert.subscription_id),
        "gsi2sk": alert.id,
    },
)


class DynamoUsageAlertRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, USAGE_ALERT)

    def get(self, scope: Scope, alert_id: str) -> UsageAlert | None:
        return self.store.get(scope, alert_id)

    def list(self, scope: Scope, filters: UsageAlertFilter, page: Page) -> PageResult[UsageAlert]:
        item_filter = (
            ItemFilter()
            .equals("subscription_id", filters.subscription_id)
            .equals("meter_id", filters.meter_id)
            .equals("status", filters.status)
        )
        return self.store.list(scope, page, item_filter)

    def for_subscription(self, scope: Scope, subscription_id: str) -> Sequence[UsageAlert]:
        items = self.table.query(
            index="gsi2", partition=alerts_partition(scope, subscription_id), newest_first=False
        )
        return [usage_alert_from_dict(without_keys(item)) for item in items]

    def save(
        self, scope: Scope, before: UsageAlert | None, after: UsageAlert, events: Sequence[EventEnvelope]
    ) -> None:
        self.store.write(scope, [(before, after)], events)
