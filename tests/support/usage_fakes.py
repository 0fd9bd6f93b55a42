"""In-memory stand-ins for usage ingest: the usage store, meters, subscriptions, test clocks.

``InMemoryUsageStore`` follows the ``UsageStore`` protocol (billow.ports.usage) the way the
DynamoDB adapter (billow.adapters.dynamodb.usage) does:

- a dedupe marker per (scope, event id), written only if the id is new or its marker expired
  (35 days); a duplicate of a marker later marked rejected answers the rejection (what the
  adapter reads from ``ReturnValuesOnConditionCheckFailure=ALL_OLD``);
- a journal per (scope, batch) and an open-batch marker, listed by ``stale_batches`` oldest
  first while opened strictly before the bound (the adapter's ``sk < :bound``);
- ``apply`` is all or nothing: an applied marker per (scope, batch, origin) makes a retried
  chunk a no-op ("already_applied", checked first like the adapter's cancellation reasons), a
  fenced period refuses it ("period_closed"), otherwise the chunk's totals (``totals_of`` from
  the chunk's period start, merged with ``GroupTotals.merge``) and the kept copy of its records
  are stored. As in the adapter, additive totals (count, sum, the weighted sums) are kept for
  every aggregation, max / latest / distinct only for the meter aggregation that uses them;
- ``mark_rejected`` only changes markers the batch wrote; ``save_levels`` only moves forward
  (stored ``period_start <= new``).

Two hooks simulate failures: ``fail_after_record_events`` makes the next ``apply`` raise
``RuntimeError("crash")`` (the handler died between the markers and the counting), and
``before_apply(hook)`` runs ``hook(store, scope, chunk)`` inside the next ``apply``, before its
conditions are checked (a period closing concurrently).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from billow.domain.errors import ConcurrentModification, Conflict
from billow.domain.events import EventEnvelope
from billow.domain.invoice import Invoice
from billow.domain.meter import Meter
from billow.domain.subscription import Subscription
from billow.domain.tenancy import Scope
from billow.domain.test_clock import TestClock
from billow.domain.usage import Group, GroupTotals, UsageRecord, totals_of
from billow.ports.repositories import CreditEntry, DueEntry, MeterFilter, Page, PageResult, SubscriptionFilter
from billow.ports.usage import ApplyResult, CarriedLevels, OpenBatch, PeriodUsage, RecordOutcome, UsageChunk

DEDUPE_WINDOW = timedelta(days=35)
JOURNAL_RETENTION = timedelta(days=7)

ApplyHook = Callable[["InMemoryUsageStore", Scope, UsageChunk], object]
PeriodKey = tuple[Scope, str, str]


@dataclass
class Marker:
    """A dedupe marker, as the adapter's ``UEV`` item holds it."""

    batch: str
    status: str
    customer_id: str
    meter_id: str
    timestamp: str
    received_at: str
    expires_at: int
    subscription_id: str | None = None
    period_start: str | None = None
    reason_code: str | None = None
    reason: str | None = None


@dataclass
class Journal:
    records: tuple[UsageRecord, ...]
    opened_at: str
    expires_at: int


@dataclass
class PeriodState:
    totals: dict[str, dict[Group, GroupTotals]] = field(default_factory=dict)
    closed_at: str | None = None
    # kept events: sort key "{batch}#{origin}" -> the chunk's records
    log: dict[str, tuple[UsageRecord, ...]] = field(default_factory=dict)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _stored_part(totals: GroupTotals, aggregation: str) -> GroupTotals:
    """What the adapter keeps of a chunk's totals: the additive ones always, max, latest and
    the distinct values only for the aggregation that reads them."""
    return GroupTotals(
        count=totals.count,
        sum=totals.sum,
        delta_sum=totals.delta_sum,
        delta_seconds=totals.delta_seconds,
        max=totals.max if aggregation == "max" else None,
        latest=totals.latest if aggregation == "latest" else None,
        distinct=totals.distinct if aggregation == "unique_count" else frozenset(),
    )


class InMemoryUsageStore:
    def __init__(self) -> None:
        self.markers: dict[tuple[Scope, str], Marker] = {}
        self.journals: dict[tuple[Scope, str], Journal] = {}
        self.open: dict[tuple[Scope, str], str] = {}  # (scope, batch) -> opened_at
        self.applied: set[tuple[Scope, str, str]] = set()  # (scope, batch, origin)
        self.periods: dict[PeriodKey, PeriodState] = {}
        self.carried: dict[tuple[Scope, str], CarriedLevels] = {}
        self.billing: dict[tuple[Scope, str, str], str] = {}
        self.fail_after_record_events = False
        self.apply_hooks: deque[ApplyHook] = deque()
        self.apply_calls: list[tuple[UsageChunk, ApplyResult | None]] = []

    # --- test helpers --------------------------------------------------------------------------

    def bill(self, scope: Scope, customer_id: str, meter_id: str, subscription_id: str | None) -> None:
        """The billing guard: ``subscription_id`` bills the customer's meter (None: nobody)."""
        if subscription_id is None:
            self.billing.pop((scope, customer_id, meter_id), None)
        else:
            self.billing[(scope, customer_id, meter_id)] = subscription_id

    def before_apply(self, hook: ApplyHook) -> None:
        """Run ``hook(store, scope, chunk)`` inside the next ``apply``, before its checks."""
        self.apply_hooks.append(hook)

    def open_batches(self) -> list[OpenBatch]:
        return self.stale_batches("9999", len(self.open) + 1)

    def counted(self, scope: Scope, subscription_id: str, period_start: str, meter_id: str) -> GroupTotals:
        """Every group of the meter in the period, merged (a test's one-line total)."""
        groups = self.period_usage(scope, subscription_id, period_start).totals.get(meter_id, {})
        result = GroupTotals()
        for totals in groups.values():
            result = result.merge(totals)
        return result

    # --- ingest --------------------------------------------------------------------------------

    def open_batch(self, scope: Scope, batch_id: str, records: Sequence[UsageRecord], now: datetime) -> str:
        opened_at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.journals[(scope, batch_id)] = Journal(tuple(records), opened_at, _epoch(now + JOURNAL_RETENTION))
        self.open[(scope, batch_id)] = opened_at
        return opened_at

    def record_events(
        self, scope: Scope, batch_id: str, records: Sequence[UsageRecord], now: datetime
    ) -> list[RecordOutcome]:
        now_epoch = _epoch(now)
        expires = _epoch(now + DEDUPE_WINDOW)
        received_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        outcomes: list[RecordOutcome] = []
        for record in records:
            key = (scope, record.event_id)
            old = self.markers.get(key)
            if old is not None and not old.expires_at < now_epoch:
                if old.status == "rejected":
                    outcomes.append(RecordOutcome("rejected", old.reason_code, old.reason))
                else:
                    outcomes.append(RecordOutcome("duplicate"))
                continue
            self.markers[key] = Marker(
                batch=batch_id,
                status="accepted",
                customer_id=record.customer_id,
                meter_id=record.meter_id,
                timestamp=record.timestamp,
                received_at=received_at,
                expires_at=expires,
                subscription_id=record.subscription_id if record.counted else None,
                period_start=record.period_start if record.counted else None,
            )
            outcomes.append(RecordOutcome("accepted"))
        return outcomes

    def apply(self, scope: Scope, chunk: UsageChunk) -> ApplyResult:
        if self.apply_hooks:
            self.apply_hooks.popleft()(self, scope, chunk)
        if self.fail_after_record_events:
            self.fail_after_record_events = False
            self.apply_calls.append((chunk, None))
            raise RuntimeError("crash")
        outcome = self._apply(scope, chunk)
        self.apply_calls.append((chunk, outcome))
        return outcome

    def _apply(self, scope: Scope, chunk: UsageChunk) -> ApplyResult:
        applied_key = (scope, chunk.batch_id, chunk.origin)
        if applied_key in self.applied:
            return "already_applied"
        state = self.periods.setdefault((scope, chunk.subscription_id, chunk.period_start), PeriodState())
        if state.closed_at is not None:
            return "period_closed"
        self.applied.add(applied_key)
        period_ms = chunk.records[0].period_start_ms if chunk.records else 0
        by_meter: dict[str, list[UsageRecord]] = {}
        for record in chunk.records:
            by_meter.setdefault(record.meter_id, []).append(record)
        for meter_id, records in by_meter.items():
            aggregation = chunk.aggregations[meter_id]
            groups = state.totals.setdefault(meter_id, {})
            for group, totals in totals_of((r.fact() for r in records), period_ms).items():
                part = _stored_part(totals, aggregation)
                groups[group] = groups.get(group, GroupTotals()).merge(part)
        state.log[f"{chunk.batch_id}#{chunk.origin}"] = tuple(chunk.records)
        return "applied"

    def mark_rejected(
        self, scope: Scope, batch_id: str, event_ids: Sequence[str], code: str, detail: str
    ) -> None:
        for event_id in event_ids:
            marker = self.markers.get((scope, event_id))
            if marker is None or marker.batch != batch_id:
                continue
            marker.status, marker.reason_code, marker.reason = "rejected", code, detail
            marker.subscription_id = marker.period_start = None

    def mark_rerouted(
        self,
        scope: Scope,
        batch_id: str,
        event_ids: Sequence[str],
        subscription_id: str | None,
        period_start: str | None,
    ) -> None:
        for event_id in event_ids:
            marker = self.markers.get((scope, event_id))
            if marker is not None and marker.batch == batch_id:
                marker.subscription_id, marker.period_start = subscription_id, period_start

    def close_batch(self, scope: Scope, batch_id: str, opened_at: str) -> None:
        if self.open.get((scope, batch_id)) == opened_at:
            del self.open[(scope, batch_id)]

    # --- recovery ------------------------------------------------------------------------------

    def stale_batches(self, opened_before: str, limit: int) -> list[OpenBatch]:
        found = [
            OpenBatch(scope, batch_id, opened_at)
            for (scope, batch_id), opened_at in self.open.items()
            if opened_at < opened_before
        ]
        found.sort(key=lambda b: (b.opened_at, b.scope.key_prefix, b.batch_id))
        return found[:limit]

    def journal(self, scope: Scope, batch_id: str) -> list[UsageRecord] | None:
        found = self.journals.get((scope, batch_id))
        return list(found.records) if found is not None else None

    def owned(self, scope: Scope, batch_id: str, event_ids: Sequence[str]) -> set[str]:
        owned: set[str] = set()
        for event_id in event_ids:
            marker = self.markers.get((scope, event_id))
            if marker is not None and marker.batch == batch_id:
                owned.add(event_id)
        return owned

    # --- periods -------------------------------------------------------------------------------

    def period_usage(self, scope: Scope, subscription_id: str, period_start: str) -> PeriodUsage:
        state = self.periods.get((scope, subscription_id, period_start))
        if state is None:
            return PeriodUsage(totals={})
        totals = {meter_id: dict(groups) for meter_id, groups in state.totals.items()}
        return PeriodUsage(totals=totals, closed_at=state.closed_at)

    def close_period(self, scope: Scope, subscription_id: str, period_start: str, closed_at: str) -> None:
        state = self.periods.setdefault((scope, subscription_id, period_start), PeriodState())
        if state.closed_at is None:
            state.closed_at = closed_at

    def period_log(self, scope: Scope, subscription_id: str, period_start: str) -> list[UsageRecord]:
        state = self.periods.get((scope, subscription_id, period_start))
        if state is None:
            return []
        return [record for key in sorted(state.log) for record in state.log[key]]

    def levels(self, scope: Scope, subscription_id: str) -> CarriedLevels | None:
        found = self.carried.get((scope, subscription_id))
        if found is None:
            return None
        return CarriedLevels(found.period_start, dict(found.opening), dict(found.closing))

    def save_levels(self, scope: Scope, subscription_id: str, levels: CarriedLevels) -> None:
        stored = self.carried.get((scope, subscription_id))
        if stored is None or stored.period_start <= levels.period_start:
            self.carried[(scope, subscription_id)] = CarriedLevels(
                levels.period_start, dict(levels.opening), dict(levels.closing)
            )

    # --- lookups -------------------------------------------------------------------------------

    def billing_subscription(self, scope: Scope, customer_id: str, meter_id: str) -> str | None:
        return self.billing.get((scope, customer_id, meter_id))

    def event(self, scope: Scope, event_id: str) -> dict[str, Any] | None:
        marker = self.markers.get((scope, event_id))
        if marker is None:
            return None
        return {
            "id": event_id,
            "object": "usage_event",
            "status": marker.status,
            "reason": {"code": marker.reason_code, "detail": marker.reason} if marker.reason_code else None,
            "customer_id": marker.customer_id,
            "meter_id": marker.meter_id,
            "timestamp": marker.timestamp,
            "received_at": marker.received_at,
            "subscription_id": marker.subscription_id,
            "period_start": marker.period_start,
        }


class InMemoryMeterRepository:
    """Meters by id and by code; ``save`` inserts (before None) or replaces under before's
    version, with a taken code raising Conflict, like the DynamoDB repository."""

    def __init__(self) -> None:
        self._rows: dict[tuple[Scope, str], Meter] = {}
        self._codes: dict[tuple[Scope, str], str] = {}
        self.events: list[tuple[Scope, EventEnvelope]] = []

    def get(self, scope: Scope, meter_id: str) -> Meter | None:
        return self._rows.get((scope, meter_id))

    def get_by_code(self, scope: Scope, code: str) -> Meter | None:
        meter_id = self._codes.get((scope, code))
        return self.get(scope, meter_id) if meter_id is not None else None

    def list(self, scope: Scope, filters: MeterFilter, page: Page) -> PageResult[Meter]:
        rows = sorted(
            (m for (stored_scope, _), m in self._rows.items() if stored_scope == scope),
            key=lambda m: m.id,
            reverse=True,
        )
        if page.after is not None:
            rows = [m for m in rows if m.id < page.after["id"]]
        matching = [
            m
            for m in rows
            if (filters.aggregation is None or m.aggregation == filters.aggregation)
            and (filters.status is None or m.status == filters.status)
        ]
        chosen = matching[: page.limit]
        more = len(matching) > page.limit
        return PageResult(items=chosen, next_position={"id": chosen[-1].id} if more and chosen else None)

    def save(self, scope: Scope, before: Meter | None, after: Meter, events: Sequence[EventEnvelope]) -> None:
        stored = self._rows.get((scope, after.id))
        if before is None:
            if stored is not None:
                raise ConcurrentModification(detail=f"meter {after.id} already exists")
            if (scope, after.code) in self._codes:
                raise Conflict(detail=f"a meter with code {after.code} already exists")
        elif stored is None or stored.version != before.version:
            raise ConcurrentModification(detail=f"meter {after.id} was changed concurrently")
        self._rows[(scope, after.id)] = after
        self._codes[(scope, after.code)] = after.id
        self.events.extend((scope, e) for e in events)

    def put(self, scope: Scope, meter: Meter) -> Meter:
        """Store without conditions (test set-up)."""
        self._rows[(scope, meter.id)] = meter
        self._codes[(scope, meter.code)] = meter.id
        return meter


class InMemorySubscriptionRepository:
    """What ingest reads (``get``), ``put`` and ``renew`` for set-up; ``list`` and a versioned
    ``save`` so it is a whole ``SubscriptionRepository`` (no invoices, credits or due index)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[Scope, str], Subscription] = {}
        self.events: list[tuple[Scope, EventEnvelope]] = []
        self.reads = 0

    def get(self, scope: Scope, subscription_id: str) -> Subscription | None:
        self.reads += 1
        return self._rows.get((scope, subscription_id))

    def list(self, scope: Scope, filters: SubscriptionFilter, page: Page) -> PageResult[Subscription]:
        rows = sorted(
            (s for (stored_scope, _), s in self._rows.items() if stored_scope == scope),
            key=lambda s: s.id,
            reverse=True,
        )
        if page.after is not None:
            rows = [s for s in rows if s.id < page.after["id"]]
        matching = [
            s
            for s in rows
            if (filters.customer_id is None or s.customer_id == filters.customer_id)
            and (filters.status is None or s.status == filters.status)
            and (filters.plan_id is None or s.plan_id == filters.plan_id)
            and (filters.plan_version is None or s.plan_version == filters.plan_version)
            and (filters.test_clock_id is None or s.test_clock_id == filters.test_clock_id)
        ]
        chosen = matching[: page.limit]
        more = len(matching) > page.limit
        return PageResult(items=chosen, next_position={"id": chosen[-1].id} if more and chosen else None)

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
        if invoices or credits:
            raise NotImplementedError("this fake keeps no invoices or credits")
        stored = self._rows.get((scope, after.id))
        if (before is None and stored is not None) or (
            before is not None and (stored is None or stored.version != before.version)
        ):
            raise ConcurrentModification(detail=f"subscription {after.id} was changed concurrently")
        self._rows[(scope, after.id)] = after
        self.events.extend((scope, e) for e in events)

    def due(self, before: str, *, clock: tuple[Scope, str] | None, limit: int) -> Sequence[DueEntry]:
        raise NotImplementedError("ingest never runs due work")

    def put(self, scope: Scope, subscription: Subscription) -> Subscription:
        self._rows[(scope, subscription.id)] = subscription
        return subscription

    def renew(self, scope: Scope, subscription_id: str, end: str) -> Subscription:
        """Move the subscription to its next period (start = the old end, ends at ``end``)."""
        sub = self._rows[(scope, subscription_id)]
        assert sub.current_period_end is not None
        renewed = replace(
            sub,
            current_period_start=sub.current_period_end,
            current_period_end=end,
            current_period_boundary=end,
            periods_billed=sub.periods_billed + 1,
            version=sub.version + 1,
        )
        return self.put(scope, renewed)


class InMemoryTestClockRepository:
    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self._rows: dict[tuple[Scope, str], TestClock] = {}

    def get(self, scope: Scope, clock_id: str) -> TestClock | None:
        return self._rows.get((scope, clock_id))

    def list(self, scope: Scope, page: Page) -> PageResult[TestClock]:
        rows = sorted(
            (c for (stored_scope, _), c in self._rows.items() if stored_scope == scope),
            key=lambda c: c.id,
            reverse=True,
        )
        if page.after is not None:
            rows = [c for c in rows if c.id < page.after["id"]]
        chosen = rows[: page.limit]
        more = len(rows) > page.limit
        return PageResult(items=chosen, next_position={"id": chosen[-1].id} if more and chosen else None)

    def save(
        self, scope: Scope, before: TestClock | None, after: TestClock, events: Sequence[EventEnvelope]
    ) -> None:
        stored = self._rows.get((scope, after.id))
        if (before is None and stored is not None) or (
            before is not None and (stored is None or stored.version != before.version)
        ):
            raise ConcurrentModification(detail=f"test clock {after.id} was changed concurrently")
        self._rows[(scope, after.id)] = after

    def put(self, scope: Scope, clock: TestClock) -> TestClock:
        self._rows[(scope, clock.id)] = clock
        return clock
