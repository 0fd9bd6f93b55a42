"""CustomerService, CustomFieldService and TenancyService over the in-memory fakes."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from billow.domain.customer import Customer, customer_to_dict
from billow.domain.errors import (
    ConcurrentModification,
    Conflict,
    InvalidStateTransition,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    ValidationFailed,
)
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.ports.clock import rfc3339
from billow.ports.repositories import (
    ApiKeyRepository,
    CustomerFilter,
    CustomerRepository,
    CustomFieldRepository,
    Page,
    TenantRepository,
)
from billow.services.custom_fields import CustomFieldService
from billow.services.customers import MAX_ATTEMPTS, CustomerService
from billow.services.tenancy import TenancyService
from tests.unit.fakes import (
    FIXED_NOW,
    CounterIds,
    FixedClock,
    InMemoryApiKeyRepository,
    InMemoryCustomerRepository,
    InMemoryCustomFieldRepository,
    InMemoryTenantRepository,
)

SCOPE = Scope("tenant-a", livemode=False)
LIVE = Scope("tenant-a", livemode=True)
OTHER = Scope("tenant-b", livemode=False)
NOW = "2026-01-31T12:00:00Z"


@dataclass
class World:
    customers: InMemoryCustomerRepository
    fields: InMemoryCustomFieldRepository
    clock: FixedClock
    ids: CounterIds
    service: CustomerService
    field_service: CustomFieldService

    def events(self, scope: Scope = SCOPE) -> list[EventEnvelope]:
        return self.customers.events_for(scope)

    def stored(self, customer_id: str, scope: Scope = SCOPE) -> Customer:
        found = self.customers.get(scope, customer_id)
        assert found is not None
        return found

    def define(self, scope: Scope = SCOPE, **raw: Any) -> None:
        self.field_service.define(scope, {"entity_type": "customer", "name": raw["key"], **raw})


@pytest.fixture
def world() -> World:
    customers = InMemoryCustomerRepository()
    fields = InMemoryCustomFieldRepository()
    clock = FixedClock()
    ids = CounterIds()
    return World(
        customers=customers,
        fields=fields,
        clock=clock,
        ids=ids,
        service=CustomerService(customers=customers, custom_fields=fields, clock=clock, new_id=ids),
        field_service=CustomFieldService(fields=fields, clock=clock, new_id=ids),
    )


# --- the fakes themselves --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fake", "port"),
    [
        (InMemoryCustomerRepository, CustomerRepository),
        (InMemoryCustomFieldRepository, CustomFieldRepository),
        (InMemoryTenantRepository, TenantRepository),
        (InMemoryApiKeyRepository, ApiKeyRepository),
    ],
)
def test_fakes_implement_every_method_of_their_port(fake: type, port: type) -> None:
    methods = [
        name for name, member in vars(port).items() if inspect.isfunction(member) and not name.startswith("_")
    ]
    assert methods
    for name in methods:
        expected = list(inspect.signature(getattr(port, name)).parameters)
        assert list(inspect.signature(getattr(fake, name)).parameters) == expected, name


def test_fixed_clock_and_ids() -> None:
    clock, ids = FixedClock(), CounterIds()
    assert clock.now() == FIXED_NOW
    assert rfc3339(clock.now()) == NOW
    clock.advance(seconds=90)
    assert rfc3339(clock.now()) == "2026-01-31T12:01:30Z"
    first, second = ids(), ids()
    assert first < second
    assert first == "00000000-0000-7000-8000-000000000001"


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), "2026-01-31T00:00:00Z"),
        (datetime(2026, 1, 31, 1, 30, tzinfo=timezone(timedelta(hours=2))), "2026-01-30T23:30:00Z"),
        (datetime(2026, 1, 31, 0, 0, 0, 999999, tzinfo=UTC), "2026-01-31T00:00:00Z"),
    ],
)
def test_rfc3339_is_utc_with_z(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text


# --- CustomerService: create -----------------------------------------------------------------


def test_create_stores_the_customer_and_emits_customer_created(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme", "email": "a@example.com", "currency": "EUR"})
    assert (created.name, created.email, created.currency) == ("Acme", "a@example.com", "EUR")
    assert (created.version, created.created_at, created.updated_at, created.livemode) == (1, NOW, NOW, False)
    assert world.stored(created.id) == created

    [event] = world.events()
    assert event.type == "customer.created"
    assert (event.aggregate_type, event.aggregate_id, event.sequence) == ("customer", created.id, 1)
    assert (event.created_at, event.livemode) == (NOW, False)
    assert event.data == customer_to_dict(created)
    assert event.id != created.id
    assert event.as_dict()["aggregate"] == {"type": "customer", "id": created.id, "sequence": 1}


def test_create_in_live_mode(world: World) -> None:
    created = world.service.create(LIVE, {"name": "Acme"})
    assert created.livemode is True
    assert world.events(LIVE)[0].livemode is True


def test_create_with_invalid_fields_stores_nothing(world: World) -> None:
    with pytest.raises(ValidationFailed) as failure:
        world.service.create(SCOPE, {"name": "Acme", "currency": "eur", "timezone": "Nowhere"})
    assert sorted(e.pointer for e in failure.value.errors) == ["/currency", "/timezone"]
    assert world.customers.count(SCOPE) == 0
    assert world.events() == []


def test_create_with_a_taken_external_id_is_a_conflict(world: World) -> None:
    world.service.create(SCOPE, {"name": "First", "external_id": "crm-1"})
    with pytest.raises(Conflict):
        world.service.create(SCOPE, {"name": "Second", "external_id": "crm-1"})
    assert world.customers.count(SCOPE) == 1
    assert len(world.events()) == 1


def test_create_checks_custom_fields(world: World) -> None:
    world.define(key="region", type="text", required=True)
    with pytest.raises(ValidationFailed) as failure:
        world.service.create(SCOPE, {"name": "Acme"})
    assert [e.pointer for e in failure.value.errors] == ["/custom_fields/region"]
    with pytest.raises(ValidationFailed) as failure:
        world.service.create(SCOPE, {"name": "Acme", "custom_fields": {"region": "EMEA", "nope": 1}})
    assert [e.pointer for e in failure.value.errors] == ["/custom_fields/nope"]
    created = world.service.create(SCOPE, {"name": "Acme", "custom_fields": {"region": "EMEA"}})
    assert created.custom_fields == {"region": "EMEA"}


def test_entity_refs_must_name_a_customer_of_the_same_scope(world: World) -> None:
    world.define(key="parent", type="entity_ref", ref_entity_type="customer")
    parent = world.service.create(SCOPE, {"name": "Parent"})
    child = world.service.create(SCOPE, {"name": "Child", "custom_fields": {"parent": parent.id}})
    assert child.custom_fields == {"parent": parent.id}

    foreign = world.service.create(OTHER, {"name": "Foreign"})
    with pytest.raises(ValidationFailed) as failure:
        world.service.create(SCOPE, {"name": "Child", "custom_fields": {"parent": foreign.id}})
    assert [e.pointer for e in failure.value.errors] == ["/custom_fields/parent"]
    assert foreign.id in failure.value.errors[0].message


# --- CustomerService: update -----------------------------------------------------------------


def test_update_emits_customer_updated_with_the_new_version(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme"})
    world.clock.advance(hours=1)
    updated = world.service.update(SCOPE, created.id, {"name": "Acme AG"}, None)
    assert (updated.name, updated.version, updated.updated_at) == ("Acme AG", 2, "2026-01-31T13:00:00Z")
    assert updated.created_at == NOW
    assert world.stored(created.id) == updated
    again = world.service.update(SCOPE, created.id, {"email": "x@example.com"}, None)
    assert [(e.type, e.sequence) for e in world.events()] == [
        ("customer.created", 1),
        ("customer.updated", 2),
        ("customer.updated", 3),
    ]
    assert world.events()[-1].data == customer_to_dict(again)


def test_update_with_matching_if_match(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme"})
    assert world.service.update(SCOPE, created.id, {"name": "B"}, 1).version == 2


def test_if_match_mismatch_stores_nothing(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme"})
    writes = world.customers.writes
    with pytest.raises(PreconditionFailed) as failure:
        world.service.update(SCOPE, created.id, {"name": "B"}, 7)
    assert failure.value.status == 412
    assert world.stored(created.id) == created
    assert world.customers.writes == writes
    assert len(world.events()) == 1


def test_update_merges_metadata_and_empty_string_removes_a_key(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme", "metadata": {"a": "1", "b": "2"}})
    updated = world.service.update(SCOPE, created.id, {"metadata": {"b": "", "c": "3"}}, None)
    assert updated.metadata == {"a": "1", "c": "3"}


def test_update_merges_custom_fields_and_null_removes(world: World) -> None:
    world.define(key="tier", type="enum", options=["gold", "silver"])
    world.define(key="seats", type="number")
    created = world.service.create(SCOPE, {"name": "Acme", "custom_fields": {"tier": "gold", "seats": 3}})
    assert created.custom_fields == {"tier": "gold", "seats": "3"}
    updated = world.service.update(SCOPE, created.id, {"custom_fields": {"tier": None, "seats": "4.5"}}, None)
    assert updated.custom_fields == {"seats": "4.5"}


def test_a_field_made_required_later_does_not_block_updates(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme"})
    world.define(key="region", type="text", required=True)
    assert world.service.update(SCOPE, created.id, {"name": "B"}, None).name == "B"


def test_update_of_an_unknown_customer_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.service.update(SCOPE, "00000000-0000-7000-8000-00000000ffff", {"name": "B"}, None)


def test_update_to_a_taken_external_id_is_a_conflict(world: World) -> None:
    world.service.create(SCOPE, {"name": "A", "external_id": "crm-a"})
    second = world.service.create(SCOPE, {"name": "B", "external_id": "crm-b"})
    with pytest.raises(Conflict):
        world.service.update(SCOPE, second.id, {"external_id": "crm-a"}, None)
    assert world.stored(second.id).external_id == "crm-b"
    assert world.customers.external_id_owner(SCOPE, "crm-b") == second.id


def test_changing_the_external_id_releases_the_old_one(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "A", "external_id": "crm-a"})
    world.service.update(SCOPE, created.id, {"external_id": "crm-z"}, None)
    assert world.service.get_by_external_id(SCOPE, "crm-z").id == created.id
    with pytest.raises(NotFound):
        world.service.get_by_external_id(SCOPE, "crm-a")
    assert world.service.create(SCOPE, {"name": "New", "external_id": "crm-a"}).external_id == "crm-a"


def test_a_lost_race_without_if_match_is_retried_and_both_changes_survive(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme", "metadata": {"a": "1"}})
    world.customers.interleave(
        lambda: world.service.update(
            SCOPE, created.id, {"email": "rival@example.com", "metadata": {"r": "1"}}, None
        )
    )
    updated = world.service.update(SCOPE, created.id, {"name": "Acme AG", "metadata": {"m": "1"}}, None)
    assert updated.name == "Acme AG"
    assert updated.email == "rival@example.com"
    assert updated.metadata == {"a": "1", "r": "1", "m": "1"}
    assert updated.version == 3
    assert world.stored(created.id) == updated
    assert [(e.type, e.sequence) for e in world.events()] == [
        ("customer.created", 1),
        ("customer.updated", 2),
        ("customer.updated", 3),
    ]


def test_a_lost_race_with_if_match_is_a_failed_precondition(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme"})
    world.customers.interleave(
        lambda: world.service.update(SCOPE, created.id, {"email": "r@example.com"}, None)
    )
    with pytest.raises(PreconditionFailed):
        world.service.update(SCOPE, created.id, {"name": "Mine"}, 1)
    stored = world.stored(created.id)
    assert (stored.name, stored.email, stored.version) == ("Acme", "r@example.com", 2)


def test_losing_every_race_gives_up_after_max_attempts(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme"})

    def rival() -> None:
        current = world.stored(created.id)
        world.customers.force_write(SCOPE, dataclasses.replace(current, version=current.version + 1))

    for _ in range(MAX_ATTEMPTS):
        world.customers.interleave(rival)
    with pytest.raises(ConcurrentModification) as failure:
        world.service.update(SCOPE, created.id, {"name": "Mine"}, None)
    assert failure.value.code == "conflict"
    assert world.stored(created.id).name == "Acme"
    assert world.stored(created.id).version == 1 + MAX_ATTEMPTS
    assert len(world.events()) == 1


def test_disable_and_enable_emit_updates(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme"})
    assert world.service.disable(SCOPE, created.id, None).status == "disabled"
    with pytest.raises(InvalidStateTransition):
        world.service.disable(SCOPE, created.id, None)
    assert world.service.enable(SCOPE, created.id, 2).status == "active"
    assert [(e.type, e.sequence, e.data["status"]) for e in world.events()] == [
        ("customer.created", 1, "active"),
        ("customer.updated", 2, "disabled"),
        ("customer.updated", 3, "active"),
    ]


# --- CustomerService: upsert -----------------------------------------------------------------


def test_upsert_creates_then_updates(world: World) -> None:
    created, was_created = world.service.upsert_by_external_id(SCOPE, "crm-7", {"name": "Acme"})
    assert was_created is True
    assert (created.external_id, created.version) == ("crm-7", 1)

    updated, was_created = world.service.upsert_by_external_id(SCOPE, "crm-7", {"email": "a@example.com"})
    assert was_created is False
    assert (updated.id, updated.name, updated.email, updated.version) == (
        created.id,
        "Acme",
        "a@example.com",
        2,
    )
    assert world.customers.count(SCOPE) == 1
    assert [(e.type, e.sequence) for e in world.events()] == [
        ("customer.created", 1),
        ("customer.updated", 2),
    ]


def test_upsert_needs_a_name_to_create(world: World) -> None:
    with pytest.raises(ValidationFailed) as failure:
        world.service.upsert_by_external_id(SCOPE, "crm-7", {"email": "a@example.com"})
    assert [e.pointer for e in failure.value.errors] == ["/name"]
    assert world.customers.count(SCOPE) == 0


def test_upsert_that_loses_the_create_race_updates_instead(world: World) -> None:
    world.customers.interleave(lambda: world.service.create(SCOPE, {"name": "Rival", "external_id": "crm-7"}))
    customer, was_created = world.service.upsert_by_external_id(SCOPE, "crm-7", {"name": "Mine"})
    assert was_created is False
    assert (customer.name, customer.version) == ("Mine", 2)
    assert world.customers.count(SCOPE) == 1


def test_upsert_is_per_scope(world: World) -> None:
    world.service.upsert_by_external_id(SCOPE, "crm-7", {"name": "Acme"})
    _, was_created = world.service.upsert_by_external_id(OTHER, "crm-7", {"name": "Other Acme"})
    assert was_created is True


# --- CustomerService: merge ------------------------------------------------------------------


def test_merge_emits_merged_and_updated_events(world: World) -> None:
    target = world.service.create(SCOPE, {"name": "Target", "tags": ["a"], "external_id": "t"})
    source = world.service.create(
        SCOPE, {"name": "Source", "tags": ["b"], "email": "s@example.com", "external_id": "s"}
    )
    world.clock.advance(days=1)
    merged = world.service.merge(SCOPE, target.id, source.id, 1)
    assert (merged.tags, merged.email, merged.version) == (("a", "b"), "s@example.com", 2)
    assert world.stored(target.id) == merged

    archived = world.stored(source.id)
    assert (archived.status, archived.merged_into, archived.external_id, archived.version) == (
        "archived",
        target.id,
        None,
        2,
    )
    merged_event, source_event = world.events()[-2:]
    assert (merged_event.type, merged_event.aggregate_id, merged_event.sequence) == (
        "customer.merged",
        target.id,
        2,
    )
    assert merged_event.data["merged_customer_id"] == source.id
    assert merged_event.data["tags"] == ["a", "b"]
    assert (source_event.type, source_event.aggregate_id, source_event.sequence) == (
        "customer.updated",
        source.id,
        2,
    )
    assert source_event.data["status"] == "archived"
    assert merged_event.created_at == source_event.created_at == "2026-02-01T12:00:00Z"

    # The source's external_id is released; the merged source no longer lists or changes.
    with pytest.raises(NotFound):
        world.service.get_by_external_id(SCOPE, "s")
    assert world.service.create(SCOPE, {"name": "Reuse", "external_id": "s"}).external_id == "s"
    with pytest.raises(InvalidStateTransition):
        world.service.update(SCOPE, source.id, {"name": "x"}, None)
    listed = world.service.list(SCOPE, CustomerFilter(), Page(limit=10), None).items
    assert source.id not in {c.id for c in listed}


def test_merge_refusals_change_nothing(world: World) -> None:
    target = world.service.create(SCOPE, {"name": "Target", "currency": "EUR"})
    source = world.service.create(SCOPE, {"name": "Source", "currency": "USD"})
    writes = world.customers.writes
    with pytest.raises(Conflict):
        world.service.merge(SCOPE, target.id, source.id, None)
    with pytest.raises(Conflict):
        world.service.merge(SCOPE, target.id, target.id, None)
    with pytest.raises(PreconditionFailed):
        world.service.merge(SCOPE, target.id, source.id, 9)
    with pytest.raises(ValidationFailed) as failure:
        world.service.merge(SCOPE, target.id, "00000000-0000-7000-8000-00000000ffff", None)
    assert [e.pointer for e in failure.value.errors] == ["/from_customer_id"]
    with pytest.raises(NotFound):
        world.service.merge(SCOPE, "00000000-0000-7000-8000-00000000ffff", source.id, None)
    assert world.customers.writes == writes
    assert world.stored(target.id) == target
    assert world.stored(source.id) == source


def test_merging_twice_is_an_invalid_transition(world: World) -> None:
    target = world.service.create(SCOPE, {"name": "Target"})
    source = world.service.create(SCOPE, {"name": "Source"})
    world.service.merge(SCOPE, target.id, source.id, None)
    with pytest.raises(InvalidStateTransition):
        world.service.merge(SCOPE, target.id, source.id, None)


def test_merge_across_scopes_cannot_see_the_source(world: World) -> None:
    target = world.service.create(SCOPE, {"name": "Target"})
    foreign = world.service.create(OTHER, {"name": "Foreign"})
    with pytest.raises(ValidationFailed):
        world.service.merge(SCOPE, target.id, foreign.id, None)
    assert world.stored(foreign.id, OTHER).status == "active"


def test_merge_retries_a_lost_race(world: World) -> None:
    target = world.service.create(SCOPE, {"name": "Target"})
    source = world.service.create(SCOPE, {"name": "Source"})
    world.customers.interleave(
        lambda: world.service.update(SCOPE, source.id, {"email": "late@example.com"}, None)
    )
    merged = world.service.merge(SCOPE, target.id, source.id, None)
    assert merged.email == "late@example.com"
    assert world.stored(source.id).version == 3


# --- CustomerService: scoping and listing ----------------------------------------------------


def test_another_scope_never_sees_the_data(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme", "external_id": "crm-1"})
    for scope in (OTHER, LIVE):
        with pytest.raises(NotFound):
            world.service.get(scope, created.id)
        with pytest.raises(NotFound):
            world.service.get_by_external_id(scope, "crm-1")
        with pytest.raises(NotFound):
            world.service.update(scope, created.id, {"name": "Hijack"}, None)
        with pytest.raises(NotFound):
            world.service.disable(scope, created.id, None)
        assert world.service.list(scope, CustomerFilter(), Page(limit=10), None).items == []
        assert world.service.list(scope, CustomerFilter(), Page(limit=10), "crm-1").items == []
        assert world.events(scope) == []
    # The same external id is free in every other scope.
    assert world.service.create(OTHER, {"name": "Other", "external_id": "crm-1"}).external_id == "crm-1"
    assert world.stored(created.id).name == "Acme"


def test_list_is_newest_first_and_pages(world: World) -> None:
    ids = [world.service.create(SCOPE, {"name": f"C{i}"}).id for i in range(5)]
    first = world.service.list(SCOPE, CustomerFilter(), Page(limit=2), None)
    assert [c.id for c in first.items] == [ids[4], ids[3]]
    assert first.next_position is not None
    second = world.service.list(SCOPE, CustomerFilter(), Page(limit=2, after=first.next_position), None)
    assert [c.id for c in second.items] == [ids[2], ids[1]]
    assert second.next_position is not None
    last = world.service.list(SCOPE, CustomerFilter(), Page(limit=2, after=second.next_position), None)
    assert [c.id for c in last.items] == [ids[0]]
    assert last.next_position is None


def test_list_by_external_id(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme", "external_id": "crm-1"})
    world.service.create(SCOPE, {"name": "Other"})
    assert [c.id for c in world.service.list(SCOPE, CustomerFilter(), Page(limit=10), "crm-1").items] == [
        created.id
    ]
    assert world.service.list(SCOPE, CustomerFilter(), Page(limit=10), "crm-2").items == []


def test_list_filters_by_status_and_tag(world: World) -> None:
    vip = world.service.create(SCOPE, {"name": "Vip", "tags": ["vip"]})
    plain = world.service.create(SCOPE, {"name": "Plain"})
    world.service.disable(SCOPE, plain.id, None)
    assert [
        c.id for c in world.service.list(SCOPE, CustomerFilter(tag="vip"), Page(limit=10), None).items
    ] == [vip.id]
    disabled = world.service.list(SCOPE, CustomerFilter(status="disabled"), Page(limit=10), None).items
    assert [c.id for c in disabled] == [plain.id]


def test_list_by_external_id_still_applies_the_other_filters(world: World) -> None:
    created = world.service.create(SCOPE, {"name": "Acme", "external_id": "crm-1", "currency": "EUR"})
    assert world.service.list(SCOPE, CustomerFilter(status="disabled"), Page(limit=10), "crm-1").items == []
    assert world.service.list(SCOPE, CustomerFilter(currency="USD"), Page(limit=10), "crm-1").items == []
    found = world.service.list(
        SCOPE, CustomerFilter(currency="EUR", status="active"), Page(limit=10), "crm-1"
    )
    assert [c.id for c in found.items] == [created.id]
    assert found.next_position is None


LIST_FILTERS = [
    CustomerFilter(),
    CustomerFilter(status="active"),
    CustomerFilter(status="disabled"),
    CustomerFilter(status="archived"),
    CustomerFilter(email="a@example.com"),
    CustomerFilter(email="nobody@example.com"),
    CustomerFilter(type="individual"),
    CustomerFilter(type="company"),
    CustomerFilter(currency="EUR"),
    CustomerFilter(currency="USD"),
    CustomerFilter(tag="vip"),
    CustomerFilter(tag="beta"),
    CustomerFilter(created_after=NOW),
    CustomerFilter(created_after="2026-01-31T12:00:01Z"),
    CustomerFilter(created_before=NOW),
    CustomerFilter(created_before="2026-01-31T12:00:01Z"),
    CustomerFilter(status="disabled", currency="EUR", tag="vip", type="individual"),
    CustomerFilter(status="active", currency="EUR"),
]


@pytest.mark.parametrize("filters", LIST_FILTERS, ids=repr)
def test_list_by_external_id_agrees_with_the_filtered_list(world: World, filters: CustomerFilter) -> None:
    raws: list[dict[str, Any]] = [
        {
            "name": "A",
            "external_id": "crm-a",
            "email": "a@example.com",
            "type": "individual",
            "currency": "EUR",
            "tags": ["vip"],
        },
        {"name": "B", "external_id": "crm-b", "currency": "USD", "tags": ["beta"]},
        {"name": "C", "external_id": "crm-c", "type": "individual", "tags": ["vip"]},
    ]
    customers = []
    for raw in raws:  # created at 12:00:00, 12:00:01 and 12:00:02
        customers.append(world.service.create(SCOPE, raw))
        world.clock.advance(seconds=1)
    world.service.disable(SCOPE, customers[0].id, None)
    world.service.disable(SCOPE, customers[2].id, None)
    listed = {c.id for c in world.service.list(SCOPE, filters, Page(limit=100), None).items}
    for customer in customers:
        assert customer.external_id is not None
        by_external_id = world.service.list(SCOPE, filters, Page(limit=100), customer.external_id).items
        assert [c.id for c in by_external_id] == ([customer.id] if customer.id in listed else [])


# --- CustomFieldService ----------------------------------------------------------------------


def test_define_stores_a_valid_definition(world: World) -> None:
    field = world.field_service.define(
        LIVE,
        {
            "entity_type": "customer",
            "key": "seats",
            "name": "Seats",
            "type": "number",
            "min_value": "0",
            "max_value": "10",
        },
    )
    assert (field.version, field.status, field.livemode, field.created_at) == (1, "active", True, NOW)
    assert (field.min_value, field.max_value, field.required, field.options) == (
        Decimal(0),
        Decimal(10),
        False,
        (),
    )
    assert world.field_service.get(LIVE, field.id) == field
    with pytest.raises(NotFound):
        world.field_service.get(SCOPE, field.id)


def test_define_refuses_an_invalid_definition_and_stores_nothing(world: World) -> None:
    with pytest.raises(ValidationFailed) as failure:
        world.field_service.define(
            SCOPE, {"entity_type": "customer", "key": "tier", "name": "Tier", "type": "enum"}
        )
    assert [e.pointer for e in failure.value.errors] == ["/options"]
    assert world.field_service.list(SCOPE, None) == []


def test_duplicate_key_is_a_conflict(world: World) -> None:
    raw = {"entity_type": "customer", "key": "tier", "name": "Tier", "type": "enum", "options": ["gold"]}
    world.field_service.define(SCOPE, raw)
    with pytest.raises(Conflict):
        world.field_service.define(SCOPE, {**raw, "name": "Tier again", "type": "text", "options": None})
    # The same key is fine on another entity type and in another scope.
    world.field_service.define(SCOPE, {**raw, "entity_type": "invoice"})
    world.field_service.define(OTHER, raw)
    assert len(world.field_service.list(SCOPE, "customer")) == 1
    assert len(world.field_service.list(SCOPE, None)) == 2


def test_options_can_be_added_but_not_removed(world: World) -> None:
    field = world.field_service.define(
        SCOPE, {"entity_type": "customer", "key": "tier", "name": "Tier", "type": "enum", "options": ["gold"]}
    )
    grown = world.field_service.update(SCOPE, field.id, {"options": ["gold", "silver"]}, 1)
    assert (grown.options, grown.version) == (("gold", "silver"), 2)
    with pytest.raises(ValidationFailed) as failure:
        world.field_service.update(SCOPE, field.id, {"options": ["silver"]}, None)
    assert [(e.pointer, e.message) for e in failure.value.errors] == [
        ("/options", "options cannot be removed: gold")
    ]
    assert world.field_service.get(SCOPE, field.id).options == ("gold", "silver")


def test_update_edits_only_what_may_change(world: World) -> None:
    field = world.field_service.define(
        SCOPE, {"entity_type": "customer", "key": "note", "name": "Note", "type": "text"}
    )
    world.clock.advance(minutes=5)
    updated = world.field_service.update(
        SCOPE, field.id, {"name": "Notes", "description": "free text", "type": "number", "key": "other"}, None
    )
    assert (updated.name, updated.description, updated.type, updated.key) == (
        "Notes",
        "free text",
        "text",
        "note",
    )
    assert updated.updated_at == "2026-01-31T12:05:00Z"
    with pytest.raises(PreconditionFailed):
        world.field_service.update(SCOPE, field.id, {"name": "x"}, 1)
    with pytest.raises(ValidationFailed):
        world.field_service.update(SCOPE, field.id, {"options": ["a"]}, None)  # options on a text field


def test_archived_field_keeps_values_but_takes_no_new_ones(world: World) -> None:
    field = world.field_service.define(
        SCOPE, {"entity_type": "customer", "key": "legacy", "name": "Legacy", "type": "text"}
    )
    created = world.service.create(SCOPE, {"name": "Acme", "custom_fields": {"legacy": "kept"}})
    archived = world.field_service.archive(SCOPE, field.id)
    assert (archived.status, archived.version) == ("archived", 2)
    with pytest.raises(InvalidStateTransition):
        world.field_service.archive(SCOPE, field.id)
    updated = world.service.update(SCOPE, created.id, {"name": "Acme AG"}, None)
    assert updated.custom_fields == {"legacy": "kept"}
    with pytest.raises(ValidationFailed):
        world.service.update(SCOPE, created.id, {"custom_fields": {"legacy": "new"}}, None)


# --- TenancyService --------------------------------------------------------------------------


@dataclass
class Tenancy:
    tenants: InMemoryTenantRepository
    keys: InMemoryApiKeyRepository
    clock: FixedClock
    service: TenancyService


@pytest.fixture
def tenancy() -> Tenancy:
    tenants, keys, clock = InMemoryTenantRepository(), InMemoryApiKeyRepository(), FixedClock()
    return Tenancy(
        tenants, keys, clock, TenancyService(tenants=tenants, api_keys=keys, clock=clock, new_id=CounterIds())
    )


def test_create_tenant(tenancy: Tenancy) -> None:
    tenant = tenancy.service.create_tenant("  Acme  ", timezone="Europe/Berlin", default_currency="EUR")
    assert (tenant.name, tenant.timezone, tenant.default_currency, tenant.created_at) == (
        "Acme",
        "Europe/Berlin",
        "EUR",
        NOW,
    )
    assert tenancy.tenants.get(tenant.id) == tenant
    fixed = tenancy.service.create_tenant("Dev", tenant_id="dev-tenant")
    assert (fixed.id, fixed.timezone, fixed.default_currency) == ("dev-tenant", "UTC", None)
    with pytest.raises(Conflict):
        tenancy.service.create_tenant("Dev again", tenant_id="dev-tenant")


@pytest.mark.parametrize(
    ("kwargs", "pointer"),
    [
        ({"name": "   "}, "/name"),
        ({"name": "Acme", "timezone": "Mars/Base"}, "/timezone"),
        ({"name": "Acme", "default_currency": "eur"}, "/currency"),
    ],
)
def test_create_tenant_validates(tenancy: Tenancy, kwargs: dict[str, Any], pointer: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tenancy.service.create_tenant(**kwargs)
    assert [e.pointer for e in failure.value.errors] == [pointer]


@pytest.mark.parametrize(("livemode", "prefix"), [(False, "bk_test_"), (True, "bk_live_")])
def test_issue_api_key_stores_only_the_hash(tenancy: Tenancy, livemode: bool, prefix: str) -> None:
    tenant = tenancy.service.create_tenant("Acme")
    issued = tenancy.service.issue_api_key(tenant.id, livemode=livemode, name="ci")
    assert issued.secret.startswith(prefix)
    assert len(issued.secret) >= 40
    key = issued.key
    assert key.key_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert key.prefix == issued.secret[: len(prefix) + 6]
    assert (key.tenant_id, key.livemode, key.status, key.name, key.created_at) == (
        tenant.id,
        livemode,
        "active",
        "ci",
        NOW,
    )
    assert key.scope == Scope(tenant.id, livemode)
    [stored] = tenancy.keys.stored()
    assert stored == key
    assert all(value != issued.secret for value in dataclasses.asdict(stored).values())
    assert tenancy.service.authenticate(issued.secret) == key


def test_every_issued_secret_is_different(tenancy: Tenancy) -> None:
    tenant = tenancy.service.create_tenant("Acme")
    secrets = {tenancy.service.issue_api_key(tenant.id, livemode=False).secret for _ in range(5)}
    assert len(secrets) == 5


def test_issue_api_key_for_an_unknown_tenant(tenancy: Tenancy) -> None:
    with pytest.raises(NotFound):
        tenancy.service.issue_api_key("nobody", livemode=False)
    assert tenancy.keys.stored() == []


def test_a_fixed_secret_must_match_the_mode(tenancy: Tenancy) -> None:
    tenant = tenancy.service.create_tenant("Acme")
    secret = "bk_test_" + "d" * 32
    issued = tenancy.service.issue_api_key(tenant.id, livemode=False, secret=secret)
    assert issued.secret == secret
    assert tenancy.service.authenticate(secret).id == issued.key.id
    for livemode, wrong in [
        (True, "bk_test_" + "e" * 32),
        (False, "bk_live_" + "e" * 32),
        (False, "bk_test_short"),
    ]:
        with pytest.raises(ValidationFailed) as failure:
            tenancy.service.issue_api_key(tenant.id, livemode=livemode, secret=wrong)
        assert [e.pointer for e in failure.value.errors] == ["/secret"]
    assert len(tenancy.keys.stored()) == 1


def test_authenticate_rejects_unknown_revoked_and_malformed_keys(tenancy: Tenancy) -> None:
    tenant = tenancy.service.create_tenant("Acme")
    issued = tenancy.service.issue_api_key(tenant.id, livemode=True)
    rejected = [
        "bk_live_" + "x" * 40,  # well-formed, unknown
        "",
        "bk_live_",
        "bk_live_short",
        "sk_live_" + "x" * 40,
        "Bearer " + issued.secret,
        issued.secret.upper(),
        issued.secret + "x" * 128,
        issued.key.key_hash,
    ]
    for secret in rejected:
        with pytest.raises(Unauthenticated) as failure:
            tenancy.service.authenticate(secret)
        assert (failure.value.code, failure.value.status) == ("unauthenticated", 401)

    tenancy.clock.advance(days=1)
    revoked = tenancy.service.revoke_api_key(tenant.id, issued.key.id)
    assert (revoked.status, revoked.revoked_at) == ("revoked", "2026-02-01T12:00:00Z")
    with pytest.raises(Unauthenticated):
        tenancy.service.authenticate(issued.secret)
    with pytest.raises(InvalidStateTransition):
        tenancy.service.revoke_api_key(tenant.id, issued.key.id)


def test_keys_are_revoked_and_listed_per_tenant(tenancy: Tenancy) -> None:
    acme = tenancy.service.create_tenant("Acme")
    other = tenancy.service.create_tenant("Other")
    first = tenancy.service.issue_api_key(acme.id, livemode=False).key
    second = tenancy.service.issue_api_key(acme.id, livemode=True).key
    tenancy.service.issue_api_key(other.id, livemode=False)
    assert [k.id for k in tenancy.service.list_api_keys(acme.id)] == [second.id, first.id]
    with pytest.raises(NotFound):
        tenancy.service.revoke_api_key(other.id, first.id)
    with pytest.raises(NotFound):
        tenancy.service.revoke_api_key(acme.id, "no-such-key")
    assert tenancy.keys.get_by_hash(first.key_hash) == first
