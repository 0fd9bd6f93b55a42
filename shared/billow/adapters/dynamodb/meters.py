"""Meters in the single table (an EntityStore of kind "meter"; docs/data-model.md).

The code is the meter's external id: the existing guard item keeps it unique per tenant and
mode, and serves the lookup by code.
"""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.events import EventEnvelope
from billow.domain.meter import Meter, meter_from_dict, meter_to_dict
from billow.domain.tenancy import Scope
from billow.ports.repositories import MeterFilter, Page, PageResult

METER = EntityKind[Meter](
    name="meter",
    to_dict=meter_to_dict,
    from_dict=meter_from_dict,
    external_id_of=lambda meter: meter.code,
    conflict_detail="another meter already has this code",
)


class DynamoMeterRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, METER)

    def get(self, scope: Scope, meter_id: str) -> Meter | None:
        return self.store.get(scope, meter_id)

    def get_by_code(self, scope: Scope, code: str) -> Meter | None:
        return self.store.get_by_external_id(scope, code)

    def list(self, scope: Scope, filters: MeterFilter, page: Page) -> PageResult[Meter]:
        item_filter = ItemFilter().equals("aggregation", filters.aggregation).equals("status", filters.status)
        return self.store.list(scope, page, item_filter)

    def save(self, scope: Scope, before: Meter | None, after: Meter, events: Sequence[EventEnvelope]) -> None:
        self.store.write(scope, [(before, after)], events)
