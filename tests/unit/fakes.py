"""In-memory stand-ins for the persistence ports, a fixed clock and predictable ids.

They follow the contracts in billow.ports.repositories the way the DynamoDB adapters do:

- every read and write is keyed by the Scope (tenant + mode), so nothing leaks across tenants;
- objects are stored serialised (customer_to_dict) and rebuilt on read, so callers can never
  mutate what is stored through a reference they still hold;
- ``update`` only succeeds while the stored version is still ``before.version``, otherwise it
  raises ConcurrentModification; a taken external_id (or custom field key) raises Conflict;
- a write is all or nothing: every condition is checked before anything is applied, and the
  events passed in are recorded only when the write commits (the outbox).

``interleave`` lets a test slip a competing write in just before the next write of the code
under test, which is how a lost race is simulated.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from billow.domain.custom_fields import CustomFieldDefinition
from billow.domain.customer import Customer, customer_from_dict, customer_to_dict
from billow.domain.errors import ConcurrentModification, Conflict
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import ApiKey, Scope, Tenant
from billow.ports.repositories import CustomerFilter, Page, PageResult

FIXED_NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)


class FixedClock:
    """A clock that only moves when the test says so."""

    def __init__(self, moment: datetime = FIXED_NOW) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock must be timezone-aware")
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment = self.moment + timedelta(**delta)


class CounterIds:
    """Ids shaped like UUIDs (lowercase hex), increasing, so they sort by creation like UUIDv7."""

    def __init__(self, start: int = 1) -> None:
        self.next = start
        self.issued: list[str] = []

    def __call__(self) -> str:
        value = f"00000000-0000-7000-8000-{self.next:012x}"
        self.next += 1
        self.issued.append(value)
        return value


@dataclass(frozen=True)
class RecordedEvent:
    scope: Scope
    envelope: EventEnvelope


@dataclass
class _Interleaving:
    """Competing writes to run, one per write of the code under test, before its conditions."""

    pending: deque[Callable[[], object]] = field(default_factory=deque)

    def run_next(self) -> None:
        if self.pending:
            self.pending.popleft()()


class InMemoryCustomerRepository:
    def __init__(self) -> None:
        self._rows: dict[tuple[Scope, str], dict[str, Any]] = {}
        self._external_ids: dict[tuple[Scope, str], str] = {}
        self._event_ids: set[tuple[Scope, str]] = set()
        self.events: list[RecordedEvent] = []
        self.writes = 0
        self.interleaving = _Interleaving()

    # -- test helpers -------------------------------------------------------------------------

    def interleave(self, competing_write: Callable[[], object]) -> None:
        """Run ``competing_write`` just before the next write's conditions are checked."""
        self.interleaving.pending.append(competing_write)

    def events_for(self, scope: Scope) -> list[EventEnvelope]:
        return [recorded.envelope for recorded in self.events if recorded.scope == scope]

    def count(self, scope: Scope) -> int:
        return sum(1 for stored_scope, _ in self._rows if stored_scope == scope)

    def external_id_owner(self, scope: Scope, external_id: str) -> str | None:
        return self._external_ids.get((scope, external_id))

    # -- reads ----------------------------------------------------------------------------------

    def get(self, scope: Scope, customer_id: str) -> Customer | None:
        row = self._rows.get((scope, customer_id))
        return customer_from_dict(copy.deepcopy(row)) if row is not None else None

    def get_by_external_id(self, scope: Scope, external_id: str) -> Customer | None:
        customer_id = self._external_ids.get((scope, external_id))
        return self.get(scope, customer_id) if customer_id is not None else None

    def list(self, scope: Scope, filters: CustomerFilter, page: Page) -> PageResult[Customer]:
        rows = sorted(
            (row for (stored_scope, _), row in self._rows.items() if stored_scope == scope),
            key=lambda row: row["id"],
            reverse=True,  # newest first: ids sort by creation
        )
        if page.after is not None:
            rows = [row for row in rows if row["id"] < page.after["id"]]
        matching = [row for row in rows if _matches(row, filters)]
        chosen = matching[: page.limit]
        has_more = len(matching) > page.limit
        return PageResult(
            items=[customer_from_dict(copy.deepcopy(row)) for row in chosen],
            next_position={"id": chosen[-1]["id"]} if has_more and chosen else None,
        )

    # -- writes ---------------------------------------------------------------------------------

    def add(self, scope: Scope, customer: Customer, events: Sequence[EventEnvelope]) -> None:
        self._commit(scope, [(None, customer)], events)

    def update(
        self, scope: Scope, before: Customer, after: Customer, events: Sequence[EventEnvelope]
    ) -> None:
        self._commit(scope, [(before, after)], events)

    def update_many(
        self, scope: Scope, changes: Sequence[tuple[Customer, Customer]], events: Sequence[EventEnvelope]
    ) -> None:
        self._commit(scope, list(changes), events)

    def _commit(
        self,
        scope: Scope,
        changes: Sequence[tuple[Customer | None, Customer]],
        events: Sequence[EventEnvelope],
    ) -> None:
        self.interleaving.run_next()
        # 1. Check every condition; nothing is applied unless all hold.
        released: set[str] = set()
        claimed: dict[str, str] = {}
        for before, after in changes:
            stored = self._rows.get((scope, after.id))
            if before is None:
                if stored is not None:
                    raise ConcurrentModification(detail=f"customer {after.id} already exists")
            elif stored is None or stored["version"] != before.version:
                raise ConcurrentModification(detail=f"customer {after.id} was changed concurrently")
            old_external = before.external_id if before is not None else None
            if old_external != after.external_id:
                if old_external is not None:
                    released.add(old_external)
                if after.external_id is not None:
                    claimed[after.external_id] = after.id
        for external_id in claimed:
            owner = self._external_ids.get((scope, external_id))
            if owner is not None and external_id not in released:
                raise Conflict(detail="another customer already has this external_id")
        for event in events:
            if (scope, event.id) in self._event_ids:
                raise ConcurrentModification(detail=f"event {event.id} already exists")
        # 2. Apply.
        for external_id in released:
            self._external_ids.pop((scope, external_id), None)
        for external_id, customer_id in claimed.items():
            self._external_ids[(scope, external_id)] = customer_id
        for _, after in changes:
            self._rows[(scope, after.id)] = copy.deepcopy(customer_to_dict(after))
        for event in events:
            self._event_ids.add((scope, event.id))
            self.events.append(RecordedEvent(scope, event))
        self.writes += 1

    def force_write(self, scope: Scope, customer: Customer) -> None:
        """Overwrite a stored customer without conditions (what another process did)."""
        self._rows[(scope, customer.id)] = copy.deepcopy(customer_to_dict(customer))


def _matches(row: dict[str, Any], filters: CustomerFilter) -> bool:
    if filters.status is None:
        if row["status"] == "archived":
            return False
    elif row["status"] != filters.status:
        return False
    for name in ("email", "type", "currency"):
        wanted = getattr(filters, name)
        if wanted is not None and row[name] != wanted:
            return False
    if filters.tag is not None and filters.tag not in row["tags"]:
        return False
    if filters.created_after is not None and row["created_at"] < filters.created_after:
        return False
    return not (filters.created_before is not None and row["created_at"] >= filters.created_before)


class InMemoryCustomFieldRepository:
    def __init__(self) -> None:
        self._rows: dict[tuple[Scope, str], CustomFieldDefinition] = {}
        self._keys: dict[tuple[Scope, str, str], str] = {}

    def get(self, scope: Scope, field_id: str) -> CustomFieldDefinition | None:
        return self._rows.get((scope, field_id))

    def list(self, scope: Scope, entity_type: str | None = None) -> list[CustomFieldDefinition]:
        found = [d for (stored_scope, _), d in self._rows.items() if stored_scope == scope]
        found.sort(key=lambda d: d.id, reverse=True)
        return [d for d in found if entity_type is None or d.entity_type == entity_type]

    def add(self, scope: Scope, definition: CustomFieldDefinition) -> None:
        guard = (scope, definition.entity_type, definition.key)
        if guard in self._keys:
            raise Conflict(
                detail=f"a custom field '{definition.key}' already exists for {definition.entity_type}"
            )
        if (scope, definition.id) in self._rows:
            raise ConcurrentModification(detail="the custom field could not be created; retry")
        self._keys[guard] = definition.id
        self._rows[(scope, definition.id)] = definition

    def update(self, scope: Scope, before: CustomFieldDefinition, after: CustomFieldDefinition) -> None:
        stored = self._rows.get((scope, after.id))
        if stored is None or stored.version != before.version:
            raise ConcurrentModification(detail="the custom field was changed concurrently")
        self._rows[(scope, after.id)] = after

    def force_write(self, scope: Scope, definition: CustomFieldDefinition) -> None:
        self._rows[(scope, definition.id)] = definition


class InMemoryTenantRepository:
    def __init__(self) -> None:
        self._rows: dict[str, Tenant] = {}

    def get(self, tenant_id: str) -> Tenant | None:
        return self._rows.get(tenant_id)

    def add(self, tenant: Tenant) -> None:
        if tenant.id in self._rows:
            raise Conflict(detail=f"tenant {tenant.id} already exists")
        self._rows[tenant.id] = tenant

    def save(self, before: Tenant, after: Tenant) -> None:
        current = self._rows.get(before.id)
        if current is None or current.version != before.version:
            raise ConcurrentModification(detail="the settings were changed concurrently")
        self._rows[after.id] = after


class InMemoryApiKeyRepository:
    def __init__(self) -> None:
        self._by_hash: dict[str, ApiKey] = {}

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return self._by_hash.get(key_hash)

    def list_for_tenant(self, tenant_id: str) -> list[ApiKey]:
        keys = [key for key in self._by_hash.values() if key.tenant_id == tenant_id]
        return sorted(keys, key=lambda key: key.id, reverse=True)

    def add(self, key: ApiKey) -> None:
        if key.key_hash in self._by_hash:
            raise Conflict(detail="an API key with this value already exists")
        self._by_hash[key.key_hash] = key

    def save(self, key: ApiKey) -> None:
        if key.key_hash not in self._by_hash:
            raise LookupError(f"API key {key.id} does not exist")
        self._by_hash[key.key_hash] = key

    def stored(self) -> list[ApiKey]:
        return list(self._by_hash.values())
