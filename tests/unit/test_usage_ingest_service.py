"""UsageIngestService over in-memory fakes (tests/support/usage_fakes.py): checking each event,
deduplication, routing to billing periods, crash recovery, and periods closing mid-batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from billow.domain.customer import Customer
from billow.domain.meter import Meter, MeterFilter
from billow.domain.subscription import ScheduledChange, Subscription, SubscriptionItem, format_time
from billow.domain.tenancy import Scope
from billow.domain.test_clock import TestClock
from billow.domain.usage import GroupTotals
from billow.ports.usage import UsageChunk
from billow.services.usage_ingest import CHUNK_RECORDS, EventResult, UsageIngestService
from tests.support.usage_fakes import (
    InMemoryMeterRepository,
    InMemorySubscriptionRepository,
    InMemoryTestClockRepository,
    InMemoryUsageStore,
)
from tests.unit.fakes import FIXED_NOW, CounterIds, FixedClock, InMemoryCustomerRepository

SCOPE = Scope("tenant-a", livemode=False)
OTHER = Scope("tenant-b", livemode=False)
NOW = FIXED_NOW  # 2026-01-31T12:00:00Z
CREATED = "2026-01-01T00:00:00Z"
PERIOD_START = "2026-01-01T00:00:00Z"
PERIOD_END = "2026-02-01T00:00:00Z"
NEXT_END = "2026-03-01T00:00:00Z"
CUSTOMER = "cus_1"
SUB = "sub_1"
CALLS = "mtr_calls"


def at(moment: datetime) -> str:
    return format_time(moment)


def meter(meter_id: str, code: str, **extra: Any) -> Meter:
    values: dict[str, Any] = {
        "id": meter_id,
        "livemode": False,
        "code": code,
        "name": code,
        "aggregation": "sum",
        "value_property": "value",
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(extra)
    return Meter(**values)


def subscription(
    sub_id: str = SUB,
    meter_ids: tuple[str, ...] = (CALLS,),
    start: str = PERIOD_START,
    end: str = PERIOD_END,
    **extra: Any,
) -> Subscription:
    values: dict[str, Any] = {
        "id": sub_id,
        "livemode": False,
        "customer_id": CUSTOMER,
        "currency": "EUR",
        "interval": "month",
        "interval_count": 1,
        "timezone": "UTC",
        "anchor_day": 1,
        "day_of_month_anchor": True,
        "items": tuple(
            SubscriptionItem(
                id=f"si_{meter_id}",
                price_id=f"price_{meter_id}",
                product_id="prod_usage",
                quantity=Decimal(1),
                meter_id=meter_id,
            )
            for meter_id in meter_ids
        ),
        "status": "active",
        "start_at": start,
        "created_at": CREATED,
        "updated_at": CREATED,
        "current_period_start": start,
        "current_period_end": end,
        "current_period_boundary": end,
        "periods_billed": 1,
    }
    values.update(extra)
    return Subscription(**values)


@dataclass
class World:
    service: UsageIngestService
    store: InMemoryUsageStore
    meters: InMemoryMeterRepository
    customers: InMemoryCustomerRepository
    subscriptions: InMemorySubscriptionRepository
    clocks: InMemoryTestClockRepository
    clock: FixedClock

    def ingest(self, events: list[dict[str, Any]], scope: Scope = SCOPE) -> list[EventResult]:
        return self.service.ingest(scope, events)[1]

    def add_meter(self, m: Meter, scope: Scope = SCOPE) -> Meter:
        return self.meters.put(scope, m)

    def add_customer(self, customer_id: str, scope: Scope = SCOPE, **extra: Any) -> Customer:
        customer = Customer(
            id=customer_id, livemode=False, name="Acme", created_at=CREATED, updated_at=CREATED, **extra
        )
        self.customers.add(scope, customer, [])
        return customer

    def subscribe(self, sub: Subscription, scope: Scope = SCOPE) -> Subscription:
        self.subscriptions.put(scope, sub)
        for item in sub.items:
            assert item.meter_id is not None
            self.store.bill(scope, sub.customer_id, item.meter_id, sub.id)
        return sub

    def counted(self, period_start: str = PERIOD_START, meter_id: str = CALLS, sub: str = SUB) -> GroupTotals:
        return self.store.counted(SCOPE, sub, period_start, meter_id)

    def counted_anywhere(self, meter_id: str = CALLS) -> int:
        return sum(
            totals.count
            for state in self.store.periods.values()
            for groups in [state.totals.get(meter_id, {})]
            for totals in groups.values()
        )


@pytest.fixture
def world() -> World:
    store = InMemoryUsageStore()
    meters = InMemoryMeterRepository()
    customers = InMemoryCustomerRepository()
    subscriptions = InMemorySubscriptionRepository()
    clocks = InMemoryTestClockRepository()
    clock = FixedClock(NOW)
    service = UsageIngestService(
        meters=meters,
        customers=customers,
        subscriptions=subscriptions,
        clocks=clocks,
        store=store,
        clock=clock,
        new_id=CounterIds(),
    )
    w = World(service, store, meters, customers, subscriptions, clocks, clock)
    w.add_meter(meter(CALLS, "api_calls"))
    w.add_customer(CUSTOMER, external_id="ext-1")
    w.subscribe(subscription())
    return w


def event(event_id: str | None, value: Any = 1, **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "meter_code": "api_calls",
        "customer_id": CUSTOMER,
        "timestamp": at(NOW - timedelta(hours=1)),
        "properties": {"value": value},
    }
    if event_id is not None:
        raw["id"] = event_id
    raw.update(extra)
    return raw


def statuses(results: list[EventResult]) -> list[tuple[str | None, str, str | None]]:
    return [(r.id, r.status, r.code) for r in results]


# --- checking each event ------------------------------------------------------------------------


def test_bad_events_are_rejected_one_by_one_and_the_good_ones_count(world: World) -> None:
    world.add_meter(meter("mtr_old", "old_calls", status="archived"))
    bad: list[tuple[Any, str]] = [
        (event(None), "invalid_event"),
        (event("e-meter", meter_code="nope"), "unknown_meter"),
        (event("e-customer", customer_id="cus_unknown"), "unknown_customer"),
        (event("e-ext", customer_id=None, external_customer_id="ext-unknown"), "unknown_customer"),
        (event("e-future", timestamp=at(NOW + timedelta(minutes=5, seconds=1))), "timestamp_in_future"),
        (event("e-old", timestamp=at(NOW - timedelta(days=35, seconds=1))), "timestamp_too_old"),
        (event("e-nots", timestamp="yesterday"), "invalid_timestamp"),
        (event("e-naive", timestamp="2026-01-31T10:00:00"), "invalid_timestamp"),
        (event("e-novalue", properties={"other": 1}), "missing_value_property"),
        (event("e-nullvalue", properties={"value": None}), "missing_value_property"),
        (event("e-nan", value="lots"), "invalid_value"),
        (event("e-bool", value=True), "invalid_value"),
        (event("e-props", properties=["value", 1]), "invalid_event"),
        (event("e-field", region="eu"), "invalid_event"),
        (event("e-both", external_customer_id="ext-1"), "invalid_event"),
        (event("e-archived", meter_code="old_calls"), "meter_archived"),
        ("not an object", "invalid_event"),
    ]
    good = [
        event("g-1", 1),
        event("g-2", "2.5"),
        event("g-3", 3, timestamp=at(NOW + timedelta(minutes=5))),  # the tolerance is inclusive
        event("g-4", 4, customer_id=None, external_customer_id="ext-1"),
        event("g-5", 5, timestamp=None),  # no timestamp: now
    ]
    raws: list[Any] = [raw for raw, _ in bad[:9]] + good[:3] + [raw for raw, _ in bad[9:]] + good[3:]
    results = world.ingest(raws)

    by_id = {r.index: r for r in results}
    expected_codes = [code for _, code in bad]
    rejected = [r for r in results if r.status == "rejected"]
    assert [r.code for r in rejected] == expected_codes
    assert all(r.detail for r in rejected)
    accepted = [r for r in results if r.status == "accepted"]
    assert [r.id for r in accepted] == ["g-1", "g-2", "g-3", "g-4", "g-5"]
    assert {r.subscription_id for r in accepted} == {SUB}
    assert by_id[0].id is None
    totals = world.counted()
    assert (totals.count, totals.sum) == (5, Decimal("15.5"))
    # Only the accepted events left a marker (so a corrected resend of a rejected one is new).
    assert world.store.event(SCOPE, "e-meter") is None
    marker = world.store.event(SCOPE, "g-4")
    assert marker is not None
    assert (marker["status"], marker["subscription_id"], marker["period_start"]) == (
        "accepted",
        SUB,
        PERIOD_START,
    )
    assert world.store.open_batches() == []


def test_the_wire_answer_of_each_status(world: World) -> None:
    results = world.ingest([event("a"), event("a"), event("b", "x")])
    assert [r.to_dict() for r in results] == [
        {"index": 0, "id": "a", "status": "accepted", "subscription_id": SUB},
        {"index": 1, "id": "a", "status": "duplicate"},
        {
            "index": 2,
            "id": "b",
            "status": "rejected",
            "code": "invalid_value",
            "detail": "properties.value must be a number (at most 20 significant digits)",
        },
    ]


def test_a_rejected_event_sent_again_corrected_is_accepted(world: World) -> None:
    assert statuses(world.ingest([event("e", "x")])) == [("e", "rejected", "invalid_value")]
    assert statuses(world.ingest([event("e", 7)])) == [("e", "accepted", None)]
    assert world.counted().sum == 7


# --- deduplication ------------------------------------------------------------------------------


def test_the_same_id_twice_in_one_batch_counts_once(world: World) -> None:
    results = world.ingest([event("a", 1), event("b", 2), event("a", 10)])
    assert statuses(results) == [("a", "accepted", None), ("b", "accepted", None), ("a", "duplicate", None)]
    totals = world.counted()
    assert (totals.count, totals.sum) == (2, Decimal(3))


def test_the_same_batch_sent_twice_counts_once(world: World) -> None:
    batch = [event(f"e-{i}", i) for i in range(20)]
    first = world.ingest(batch)
    assert {r.status for r in first} == {"accepted"}
    before = world.counted()
    assert (before.count, before.sum) == (20, Decimal(190))

    second = world.ingest(batch)
    assert {r.status for r in second} == {"duplicate"}
    assert world.counted() == before
    assert len(world.store.period_log(SCOPE, SUB, PERIOD_START)) == 20


def test_ids_are_deduplicated_per_scope(world: World) -> None:
    world.add_meter(meter(CALLS, "api_calls"), scope=OTHER)
    world.add_customer(CUSTOMER, scope=OTHER)
    world.subscribe(subscription(), scope=OTHER)
    assert statuses(world.ingest([event("shared")])) == [("shared", "accepted", None)]
    assert statuses(world.ingest([event("shared")], scope=OTHER)) == [("shared", "accepted", None)]
    assert world.store.counted(OTHER, SUB, PERIOD_START, CALLS).count == 1
    assert world.counted().count == 1


def test_an_id_is_new_again_once_its_marker_expired(world: World) -> None:
    # A subscription long enough that both sends fall in one period.
    world.subscribe(subscription(start=PERIOD_START, end="2027-01-01T00:00:00Z"))
    assert statuses(world.ingest([event("e", 1, timestamp=None)])) == [("e", "accepted", None)]
    world.clock.advance(days=35)
    assert statuses(world.ingest([event("e", 1, timestamp=None)])) == [("e", "duplicate", None)]
    world.clock.advance(seconds=1)
    assert statuses(world.ingest([event("e", 1, timestamp=None)])) == [("e", "accepted", None)]
    assert world.counted().count == 2


# --- routing ------------------------------------------------------------------------------------


def test_a_late_event_is_rejected_under_the_reject_policy(world: World) -> None:
    late = event("late", 5, timestamp="2025-12-31T23:59:59Z")
    results = world.ingest([late, event("on-time", 1)])
    assert statuses(results) == [("late", "rejected", "late_event"), ("on-time", "accepted", None)]
    assert "late_event_policy is reject" in (results[0].detail or "")
    assert world.counted().count == 1
    assert world.store.event(SCOPE, "late") is None


def test_a_late_event_counts_in_the_open_period_under_bill_next_period(world: World) -> None:
    world.add_meter(meter(CALLS, "api_calls", late_event_policy="bill_next_period"))
    results = world.ingest([event("late", 5, timestamp="2025-12-31T23:59:59Z")])
    assert statuses(results) == [("late", "accepted", None)]
    assert results[0].subscription_id == SUB
    totals = world.counted()
    assert (totals.count, totals.sum) == (1, Decimal(5))
    # It counts from the period's start, not from before it.
    assert totals.delta_seconds == 0
    record = world.store.period_log(SCOPE, SUB, PERIOD_START)[0]
    assert record.timestamp == "2025-12-31T23:59:59Z"


def test_an_event_after_the_period_end_counts_in_the_next_period_when_the_subscription_renews(
    world: World,
) -> None:
    old_end = at(NOW - timedelta(hours=2))  # the renewal has not run yet
    world.subscribe(subscription(end=old_end))
    results = world.ingest(
        [
            event("before-end", 1, timestamp=at(NOW - timedelta(hours=3))),
            event("after-end", 10, timestamp=at(NOW - timedelta(hours=1))),
            event("at-end", 100, timestamp=old_end),
        ]
    )
    assert [r.status for r in results] == ["accepted"] * 3
    assert {r.subscription_id for r in results} == {SUB}
    assert world.counted(PERIOD_START).sum == 1
    nxt = world.counted(old_end)
    assert (nxt.count, nxt.sum) == (2, Decimal(110))
    marker = world.store.event(SCOPE, "after-end")
    assert marker is not None
    assert marker["period_start"] == old_end


def ending_at(end: str, how: str) -> dict[str, Any]:
    if how == "cancel-at-period-end":
        cancel = ScheduledChange(
            id="chg_1", action="cancel", effective_at=end, request={}, created_at=CREATED, at_period_end=True
        )
        return {"scheduled_changes": (cancel,)}
    return {"auto_renew": False, "end_at": end}  # a fixed term ending with the period


@pytest.mark.parametrize("how", ["cancel-at-period-end", "fixed-term-ends"])
def test_an_event_after_the_last_period_end_counts_nowhere(world: World, how: str) -> None:
    old_end = at(NOW - timedelta(hours=2))
    ending = ending_at(old_end, how)
    world.subscribe(subscription(end=old_end, **ending))
    results = world.ingest(
        [
            event("before-end", 1, timestamp=at(NOW - timedelta(hours=3))),
            event("after-end", 10, timestamp=at(NOW - timedelta(hours=1))),
        ]
    )
    assert [(r.status, r.subscription_id) for r in results] == [("accepted", SUB), ("accepted", None)]
    assert world.counted(PERIOD_START).sum == 1
    assert world.counted(old_end).count == 0
    assert world.counted_anywhere() == 1
    marker = world.store.event(SCOPE, "after-end")
    assert marker is not None
    assert (marker["status"], marker["subscription_id"]) == ("accepted", None)


def test_an_event_the_meter_filters_out_is_accepted_and_counted_nowhere(world: World) -> None:
    world.add_meter(
        meter(CALLS, "api_calls", filters=(MeterFilter("region", "in", ("eu",)),), group_by=("plan",))
    )
    results = world.ingest(
        [
            event("eu", 1, properties={"value": 1, "region": "eu", "plan": "pro"}),
            event("us", 2, properties={"value": 2, "region": "us", "plan": "pro"}),
            event("none", 4, properties={"value": 4}),
        ]
    )
    assert [(r.status, r.subscription_id) for r in results] == [
        ("accepted", SUB),
        ("accepted", None),
        ("accepted", None),
    ]
    usage = world.store.period_usage(SCOPE, SUB, PERIOD_START)
    assert list(usage.totals[CALLS]) == [(("plan", "pro"),)]
    assert world.counted_anywhere() == 1
    # Filtered-out events are still deduplicated.
    assert statuses(world.ingest([event("us", 2, properties={"value": 2, "region": "us"})])) == [
        ("us", "duplicate", None)
    ]


def test_a_customer_without_a_billing_subscription_has_events_accepted_and_counted_nowhere(
    world: World,
) -> None:
    world.add_customer("cus_free")
    results = world.ingest([event("free", 3, customer_id="cus_free")])
    assert [(r.status, r.subscription_id) for r in results] == [("accepted", None)]
    assert world.counted_anywhere() == 0


def test_a_test_clock_customer_is_checked_in_the_clock_time(world: World) -> None:
    frozen = "2026-06-15T00:00:00Z"
    world.clocks.put(
        SCOPE, TestClock(id="clk_1", name=None, frozen_time=frozen, created_at=CREATED, updated_at=CREATED)
    )
    world.add_customer("cus_clock", test_clock_id="clk_1")
    sub = subscription(
        "sub_clock", start="2026-06-01T00:00:00Z", end="2026-07-01T00:00:00Z", customer_id="cus_clock"
    )
    world.subscribe(sub)
    results = world.ingest(
        [
            event("in-clock-time", 2, customer_id="cus_clock", timestamp="2026-06-14T00:00:00Z"),
            event("real-now", 2, customer_id="cus_clock", timestamp=at(NOW)),
            event("no-timestamp", 3, customer_id="cus_clock", timestamp=None),
        ]
    )
    assert statuses(results) == [
        ("in-clock-time", "accepted", None),
        ("real-now", "rejected", "timestamp_too_old"),
        ("no-timestamp", "accepted", None),
    ]
    assert world.counted("2026-06-01T00:00:00Z", sub="sub_clock").sum == 5
    record = next(
        r
        for r in world.store.period_log(SCOPE, "sub_clock", "2026-06-01T00:00:00Z")
        if r.event_id == "no-timestamp"
    )
    assert record.timestamp == frozen


# --- crash recovery -----------------------------------------------------------------------------


def crash_batch(world: World, n: int = 10) -> list[dict[str, Any]]:
    batch = [event(f"c-{i}", i + 1) for i in range(n)]
    world.store.fail_after_record_events = True
    with pytest.raises(RuntimeError, match="crash"):
        world.ingest(batch)
    return batch


def test_a_batch_whose_handler_died_before_counting_is_counted_by_recovery_exactly_once(
    world: World,
) -> None:
    crash_batch(world)
    assert world.counted().count == 0
    assert len(world.store.open_batches()) == 1
    # Not yet stale: a handler may still be running it.
    assert world.service.recover_stale_batches(NOW + timedelta(minutes=4)) == 0
    assert world.counted().count == 0

    assert world.service.recover_stale_batches(NOW + timedelta(minutes=6)) == 1
    totals = world.counted()
    assert (totals.count, totals.sum) == (10, Decimal(55))
    assert world.store.open_batches() == []

    assert world.service.recover_stale_batches(NOW + timedelta(minutes=6)) == 0
    assert world.service.recover_stale_batches(NOW + timedelta(days=1)) == 0
    assert world.counted() == totals
    assert len(world.store.period_log(SCOPE, SUB, PERIOD_START)) == 10


def test_a_client_retry_after_the_crash_is_a_duplicate_and_counts_once(world: World) -> None:
    batch = crash_batch(world)
    retry = world.ingest(batch)
    assert {r.status for r in retry} == {"duplicate"}
    # Counted once the abandoned batch is recovered: the retry does not own the events.
    assert world.service.recover_stale_batches(NOW + timedelta(minutes=6)) == 1
    assert world.counted().count == 10
    assert {r.status for r in world.ingest(batch)} == {"duplicate"}
    assert world.service.recover_stale_batches(NOW + timedelta(minutes=12)) == 0
    assert world.counted().count == 10


def test_recovery_after_a_retry_that_came_after_it(world: World) -> None:
    batch = crash_batch(world)
    assert world.service.recover_stale_batches(NOW + timedelta(minutes=6)) == 1
    assert {r.status for r in world.ingest(batch)} == {"duplicate"}
    assert world.counted().count == 10


def test_a_crash_after_some_chunks_were_applied_redoes_only_the_rest(world: World) -> None:
    n = CHUNK_RECORDS + 200
    batch = [event(f"c-{i:04d}", 1) for i in range(n)]

    def die(store: InMemoryUsageStore, scope: Scope, chunk: UsageChunk) -> None:
        raise RuntimeError("crash")

    world.store.before_apply(lambda *_: None)
    world.store.before_apply(die)
    with pytest.raises(RuntimeError, match="crash"):
        world.ingest(batch)
    assert world.counted().count == CHUNK_RECORDS

    assert world.service.recover_stale_batches(NOW + timedelta(minutes=6)) == 1
    assert world.counted().count == n
    outcomes = [outcome for _, outcome in world.store.apply_calls]
    assert outcomes == ["applied", "already_applied", "applied"]


def test_a_crash_before_any_marker_leaves_nothing_counted_and_recovery_closes_the_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(*args: Any) -> Any:
        raise RuntimeError("crash")

    with monkeypatch.context() as patch:
        patch.setattr(world.store, "record_events", dies)
        with pytest.raises(RuntimeError):
            world.ingest([event("x", 1)])
    assert world.service.recover_stale_batches(NOW + timedelta(minutes=6)) == 1
    assert world.counted_anywhere() == 0
    # Nobody owns the event: the client's retry is new and counts.
    assert statuses(world.ingest([event("x", 1)])) == [("x", "accepted", None)]
    assert world.counted().count == 1


# --- a period closing between routing and counting ----------------------------------------------


def close_and_renew(
    store: InMemoryUsageStore, scope: Scope, chunk: UsageChunk, subs: InMemorySubscriptionRepository
) -> None:
    store.close_period(scope, chunk.subscription_id, chunk.period_start, at(NOW))
    subs.renew(scope, chunk.subscription_id, NEXT_END)


def test_events_of_a_period_closed_under_them_are_rejected_as_late_under_the_reject_policy(
    world: World,
) -> None:
    world.store.before_apply(
        lambda store, scope, chunk: close_and_renew(store, scope, chunk, world.subscriptions)
    )
    results = world.ingest([event("a", 1), event("b", 2)])
    assert statuses(results) == [("a", "rejected", "late_event"), ("b", "rejected", "late_event")]
    assert {r.subscription_id for r in results} == {None}
    assert world.counted_anywhere() == 0
    marker = world.store.event(SCOPE, "a")
    assert marker is not None
    assert marker["status"] == "rejected"
    assert marker["reason"]["code"] == "late_event"
    assert (marker["subscription_id"], marker["period_start"]) == (None, None)
    # The rejection sticks to the id: a resend answers it again.
    assert statuses(world.ingest([event("a", 1)])) == [("a", "rejected", "late_event")]


def test_events_of_a_period_closed_under_them_count_in_the_next_period_under_bill_next_period(
    world: World,
) -> None:
    world.add_meter(meter(CALLS, "api_calls", late_event_policy="bill_next_period"))
    world.store.before_apply(
        lambda store, scope, chunk: close_and_renew(store, scope, chunk, world.subscriptions)
    )
    results = world.ingest([event("a", 1), event("b", 2)])
    assert [(r.status, r.subscription_id) for r in results] == [("accepted", SUB)] * 2
    assert world.counted(PERIOD_START).count == 0
    moved = world.counted(PERIOD_END)
    assert (moved.count, moved.sum) == (2, Decimal(3))
    assert moved.delta_seconds == 0  # counted from the new period's start
    assert [r.event_id for r in world.store.period_log(SCOPE, SUB, PERIOD_END)] == ["a", "b"]


def test_the_marker_of_a_rerouted_event_names_the_period_it_counts_in(world: World) -> None:
    world.add_meter(meter(CALLS, "api_calls", late_event_policy="bill_next_period"))
    world.store.before_apply(
        lambda store, scope, chunk: close_and_renew(store, scope, chunk, world.subscriptions)
    )
    world.ingest([event("a", 1)])
    assert world.counted(PERIOD_END).count == 1
    marker = world.store.event(SCOPE, "a")
    assert marker is not None
    assert marker["period_start"] == PERIOD_END


@pytest.mark.parametrize("policy", ["reject", "bill_next_period"])
def test_events_of_a_period_fenced_before_the_renewal_is_saved_are_not_lost(
    world: World, policy: str
) -> None:
    world.add_meter(meter(CALLS, "api_calls", late_event_policy=policy))
    world.store.before_apply(
        lambda store, scope, chunk: store.close_period(
            scope, chunk.subscription_id, chunk.period_start, at(NOW)
        )
    )
    results = world.ingest([event("a", 1), event("b", 2)])
    counted_ids = {
        r.event_id
        for state in world.store.periods.values()
        for records in state.log.values()
        for r in records
    }
    for result in results:
        assert result.status == "rejected" or (
            result.subscription_id is not None and result.id in counted_ids
        ), result.to_dict()


def test_recovery_after_a_partly_late_chunk_counts_every_remaining_event(world: World) -> None:
    # Two meters of one subscription: the period closes under the first chunk; the reject-policy
    # meter's events are rejected as late, the bill_next_period meter's move to the next period;
    # the handler dies on the second chunk.
    world.add_meter(meter("mtr_a", "a_calls"))  # reject
    world.add_meter(meter("mtr_b", "b_calls", late_event_policy="bill_next_period"))
    world.subscribe(subscription(meter_ids=("mtr_a", "mtr_b")))
    a_events = [event(f"a-{i:04d}", 1, meter_code="a_calls") for i in range(300)]
    b_events = [event(f"b-{i:04d}", 1, meter_code="b_calls") for i in range(400)]

    def die(store: InMemoryUsageStore, scope: Scope, chunk: UsageChunk) -> None:
        raise RuntimeError("crash")

    world.store.before_apply(
        lambda store, scope, chunk: close_and_renew(store, scope, chunk, world.subscriptions)
    )
    world.store.before_apply(lambda *_: None)  # the first chunk's re-routed retry
    world.store.before_apply(die)  # the second chunk
    with pytest.raises(RuntimeError, match="crash"):
        world.ingest(a_events + b_events)
    assert world.store.counted(SCOPE, SUB, PERIOD_END, "mtr_b").count == CHUNK_RECORDS - 300

    assert world.service.recover_stale_batches(NOW + timedelta(minutes=6)) == 1
    assert world.store.counted(SCOPE, SUB, PERIOD_END, "mtr_a").count == 0
    assert world.store.counted(SCOPE, SUB, PERIOD_END, "mtr_b").count == 400
