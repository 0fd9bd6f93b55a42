"""Plans in the single table: one item per plan with its versions inside (a plan has tens of
versions of at most 50 components, far below the 400 KB item limit), so publishing a version
and moving ``latest_published_version`` is one conditional write."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.events import EventEnvelope
from billow.domain.plan import Plan, plan_from_dict, plan_to_dict
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult

PLAN = EntityKind[Plan](name="plan", to_dict=plan_to_dict, from_dict=plan_from_dict)


class DynamoPlanRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, PLAN)

    def get(self, scope: Scope, plan_id: str) -> Plan | None:
        return self.store.get(scope, plan_id)

    def list(self, scope: Scope, status: str | None, page: Page) -> PageResult[Plan]:
        return self.store.list(scope, page, ItemFilter().equals("status", status))

    def save(self, scope: Scope, before: Plan | None, after: Plan, events: Sequence[EventEnvelope]) -> None:
        self.store.write(scope, [(before, after)], events)
