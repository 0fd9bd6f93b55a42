"""Test clocks in the single table (an EntityStore of kind "test_clock", sandbox scope only)."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.domain.test_clock import TestClock, clock_from_dict, clock_to_dict
from billow.ports.repositories import Page, PageResult

TEST_CLOCK = EntityKind[TestClock](name="test_clock", to_dict=clock_to_dict, from_dict=clock_from_dict)


class DynamoTestClockRepository:
    __test__ = False

    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, TEST_CLOCK)

    def get(self, scope: Scope, clock_id: str) -> TestClock | None:
        return self.store.get(scope, clock_id)

    def list(self, scope: Scope, page: Page) -> PageResult[TestClock]:
        return self.store.list(scope, page)

    def save(
        self, scope: Scope, before: TestClock | None, after: TestClock, events: Sequence[EventEnvelope]
    ) -> None:
        self.store.write(scope, [(before, after)], events)
