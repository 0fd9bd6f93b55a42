"""Usage ingest: check each event of a batch, write its dedupe marker, count it once.

The order of writes is what makes "never twice, never lost" hold (docs/usage.md, Ingest):
1. the batch journal (every checked event and where it counts) and an open-batch marker;
2. one dedupe marker per event, written only if its id is new: the batch that writes the
   marker owns the event, so concurrent copies of an event are counted by exactly one batch;
3. per subscription period, one transaction adds the owned events' totals, writes the kept
   copy of the events and an applied marker (a retried chunk is a no-op), and checks that the
   period is still open;
4. the open-batch marker is removed.
A crash anywhere after 1 leaves the open marker; ``recover_stale_batches`` redoes 3 from the
journal for the events the batch owns. One bad event is rejected on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from billow.domain.customer import Customer
from billow.domain.meter import Meter, numeric_value, scalar_text
from billow.domain.subscription import BILLING_STATUSES, Subscription, parse_time
from billow.domain.tenancy import Scope
from billow.domain.usage import UsageRecord, epoch_ms, route_event
from billow.ports.clock import Clock
from billow.ports.ids import IdGenerator
from billow.ports.repositories import (
    CustomerRepository,
    MeterRepository,
    SubscriptionRepository,
    TestClockRepository,
)
from billow.ports.usage import CHUNK_ITEM_BUDGET, ITEMS_PER_GROUP, UsageChunk, UsageStore

MAX_BATCH = 1_000
FUTURE_TOLERANCE = timedelta(minutes=5)
# Older events cannot be deduplicated (markers live 35 days), so they are refused.
MAX_AGE = timedelta(days=35)
MAX_ID_LENGTH = 128
MAX_PROPERTIES = 50
MAX_PROPERTIES_BYTES = 4_096
# A batch left open this long was abandoned (the function's timeout is far shorter).
STALE_AFTER = timedelta(minutes=5)
CHUNK_RECORDS = 500
LATE_AFTER_CLOSE = (
    "late_event",
    "the billing period the event belongs to closed before it was counted, and the meter's "
    "late_event_policy is reject",
)

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass
class EventResult:
    index: int
    id: str | None
    status: Status = "accepted"
    code: str | None = None
    detail: str | None = None
    subscription_id: str | None = None

    def reject(self, code: str, detail: str) -> None:
        self.status, self.code, self.detail = "rejected", code, detail

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "id": self.id, "status": self.status}
        if self.status == "rejected":
            data["code"], data["detail"] = self.code, self.detail
        if self.status == "accepted":
            data["subscription_id"] = self.subscription_id
        return data


class UsageBlocks(Protocol):
    """Usage alerts as ingest sees them (services/usage_alerts.py)."""

    def blocking(self, scope: Scope, subscription_id: str, meter_id: str, period_start: str) -> str | None:
        """Why events of the meter are refused in the period, or None."""
        ...

    def check_thresholds(self, scope: Scope, subscription_id: str, meter_ids: set[str]) -> None: ...


@dataclass
class _Lookups:
    """What one batch reads once: meters, customers, clocks, subscriptions, blocks."""

    meters: dict[str, Meter | None] = field(default_factory=dict)
    customers: dict[tuple[str, str], Customer | None] = field(default_factory=dict)
    nows: dict[str | None, datetime] = field(default_factory=dict)
    billing: dict[tuple[str, str], Subscription | None] = field(default_factory=dict)
    blocks: dict[tuple[str, str, str], str | None] = field(default_factory=dict)


@dataclass
class UsageIngestService:
    meters: MeterRepository
    customers: CustomerRepository
    subscriptions: SubscriptionRepository
    clocks: TestClockRepository
    store: UsageStore
    clock: Clock
    new_id: IdGenerator
    blocks: UsageBlocks | None = None

    # --- the batch -----------------------------------------------------------------------------

    def ingest(self, scope: Scope, raw_events: Sequence[Any]) -> tuple[str, list[EventResult]]:
        if len(raw_events) > MAX_BATCH:  # the edge refuses this first; a guard for other callers
            raise ValueError(f"at most {MAX_BATCH} events per batch")
        batch_id = self.new_id()
        lookups = _Lookups()
        results = [EventResult(index=i, id=_event_id(raw)) for i, raw in enumerate(raw_events)]
        records: list[tuple[EventResult, UsageRecord]] = []
        seen: set[str] = set()
        for result, raw in zip(results, raw_events, strict=True):
            record = self._check(scope, raw, result, lookups)
            if record is None:
                continue
            if record.event_id in seen:
                result.status = "duplicate"  # the same id twice in one batch counts once
                continue
            seen.add(record.event_id)
            records.append((result, record))
        if not records:
            return batch_id, results
        now = self.clock.now()
        opened_at = self.store.open_batch(scope, batch_id, [r for _, r in records], now)
        outcomes = self.store.record_events(scope, batch_id, [r for _, r in records], now)
        owned: list[UsageRecord] = []
        for (result, record), outcome in zip(records, outcomes, strict=True):
            result.status = outcome.status
            if outcome.status == "rejected":
                result.code, result.detail = outcome.code, outcome.detail
            elif outcome.status == "accepted":
                result.subscription_id = record.subscription_id
                owned.append(record)
        moved = self._apply(scope, batch_id, owned)
        for result, record in records:
            if result.status == "accepted" and record.event_id in moved:
                reason = moved[record.event_id]
                if reason is not None:
                    result.reject(*reason)
                result.subscription_id = None
        self.store.close_batch(scope, batch_id, opened_at)
        self._check_thresholds(scope, owned, moved)
        return batch_id, results

    def _check_thresholds(self, scope: Scope, owned: Sequence[UsageRecord], late: Mapping[str, Any]) -> None:
        if self.blocks is None:
            return
        touched: dict[str, set[str]] = {}
        for record in owned:
            if record.counted and record.event_id not in late:
                touched.setdefault(record.subscription_id or "", set()).add(record.meter_id)
        for subscription_id, meter_ids in touched.items():
            self.blocks.check_thresholds(scope, subscription_id, meter_ids)

    # --- checking one event ----------------------------------------------------------------------

    def _check(self, scope: Scope, raw: Any, result: EventResult, lookups: _Lookups) -> UsageRecord | None:
        problem = _shape_problem(raw)
        if problem is not None:
            result.reject("invalid_event", problem)
            return None
        meter = self._meter(scope, raw["meter_code"], lookups)
        if meter is None:
            result.reject("unknown_meter", f"no meter with code {raw['meter_code']}")
            return None
        if meter.status != "active":
            result.reject("meter_archived", f"the meter {meter.code} is archived")
            return None
        customer = self._customer(scope, raw, lookups)
        if customer is None:
            reference = raw.get("customer_id") or raw.get("external_customer_id")
            result.reject("unknown_customer", f"no active customer {reference}")
            return None
        now = self._now(scope, customer.test_clock_id, lookups)
        moment = _timestamp(raw.get("timestamp"), now)
        if isinstance(moment, str):
            result.reject("invalid_timestamp", moment)
            return None
        if moment > now + FUTURE_TOLERANCE:
            result.reject(
                "timestamp_in_future",
                f"{_format(moment)} is more than 5 minutes after now ({_format(now)})",
            )
            return None
        if moment < now - MAX_AGE:
            result.reject("timestamp_too_old", "events older than 35 days cannot be deduplicated")
            return None
        properties: Mapping[str, Any] = raw.get("properties") or {}
        value, text, problem_code = _value(meter, properties)
        if problem_code is not None:
            result.reject(*problem_code)
            return None
        # Routed first, built once: this runs for every event of every batch.
        subscription_id = period_start = None
        if meter.counts(properties):  # else kept and deduplicated, counted nowhere
            sub = self._billing_subscription(scope, customer.id, meter.id, lookups)
            route = route_event(sub, moment, meter.late_event_policy)
            if route.rejection is not None:
                result.reject(*route.rejection)
                return None
            if route.period_start is not None and sub is not None:
                blocked = self._blocked(scope, sub.id, meter.id, route.period_start, lookups)
                if blocked is not None:
                    result.reject("usage_blocked", blocked)
                    return None
                subscription_id, period_start = sub.id, route.period_start
        return UsageRecord(
            event_id=raw["id"],
            customer_id=customer.id,
            meter_id=meter.id,
            timestamp=_format(moment),
            at_ms=epoch_ms(moment),
            properties=properties,
            group=meter.group_of(properties),
            value=value,
            text=text,
            subscription_id=subscription_id,
            period_start=period_start,
            period_start_ms=epoch_ms(parse_time(period_start)) if period_start else 0,
        )

    def _meter(self, scope: Scope, code: str, lookups: _Lookups) -> Meter | None:
        if code not in lookups.meters:
            lookups.meters[code] = self.meters.get_by_code(scope, code)
        return lookups.meters[code]

    def _customer(self, scope: Scope, raw: Mapping[str, Any], lookups: _Lookups) -> Customer | None:
        key = ("id", raw["customer_id"]) if raw.get("customer_id") else ("ext", raw["external_customer_id"])
        if key not in lookups.customers:
            if key[0] == "id":
                found = self.customers.get(scope, key[1])
            else:
                found = self.customers.get_by_external_id(scope, key[1])
            lookups.customers[key] = found if found is not None and found.status == "active" else None
        return lookups.customers[key]

    def _now(self, scope: Scope, test_clock_id: str | None, lookups: _Lookups) -> datetime:
        if test_clock_id not in lookups.nows:
            now = self.clock.now()
            if test_clock_id is not None:
                clock = self.clocks.get(scope, test_clock_id)
                if clock is not None:
                    now = parse_time(clock.frozen_time)
            lookups.nows[test_clock_id] = now
        return lookups.nows[test_clock_id]

    def _billing_subscription(
        self, scope: Scope, customer_id: str, meter_id: str, lookups: _Lookups
    ) -> Subscription | None:
        key = (customer_id, meter_id)
        if key not in lookups.billing:
            subscription_id = self.store.billing_subscription(scope, customer_id, meter_id)
            lookups.billing[key] = (
                self.subscriptions.get(scope, subscription_id) if subscription_id is not None else None
            )
        return lookups.billing[key]

    def _blocked(
        self, scope: Scope, subscription_id: str, meter_id: str, period_start: str, lookups: _Lookups
    ) -> str | None:
        if self.blocks is None:
            return None
        key = (subscription_id, meter_id, period_start)
        if key not in lookups.blocks:
            lookups.blocks[key] = self.blocks.blocking(scope, subscription_id, meter_id, period_start)
        return lookups.blocks[key]

    # --- counting ----------------------------------------------------------------------------------

    def _apply(
        self, scope: Scope, batch_id: str, owned: Sequence[UsageRecord]
    ) -> dict[str, tuple[str, str] | None]:
        """Apply the owned, counted records chunk by chunk. A chunk whose period closed in the
        meantime is routed again. Returns the events that did not count where first routed:
        rejected as late (code, detail), or counted nowhere (None)."""
        counted = [r for r in owned if r.counted]
        aggregations: dict[str, str] = {}
        for record in counted:
            if record.meter_id not in aggregations:
                meter = self.meters.get(scope, record.meter_id)
                aggregations[record.meter_id] = meter.aggregation if meter else "sum"
        moved: dict[str, tuple[str, str] | None] = {}
        for chunk_records, origin in chunks_of(counted, aggregations):
            first = chunk_records[0]
            chunk = UsageChunk(
                batch_id=batch_id,
                origin=origin,
                subscription_id=first.subscription_id or "",
                period_start=first.period_start or "",
                records=tuple(chunk_records),
                aggregations=aggregations,
            )
            moved.update(self._apply_chunk(scope, chunk))
        return moved

    def _apply_chunk(self, scope: Scope, chunk: UsageChunk) -> dict[str, tuple[str, str] | None]:
        moved: dict[str, tuple[str, str] | None] = {}
        policies: dict[str, str] = {}
        for _ in range(4):
            outcome = self.store.apply(scope, chunk)
            if outcome != "period_closed":
                return moved
            # The period closed between routing and counting: its events are late now.
            sub = self.subscriptions.get(scope, chunk.subscription_id)
            target = next_open_period(sub, chunk.period_start)
            kept: list[UsageRecord] = []
            rejected: list[str] = []
            nowhere: list[str] = []
            for record in chunk.records:
                if record.meter_id not in policies:
                    meter = self.meters.get(scope, record.meter_id)
                    policies[record.meter_id] = meter.late_event_policy if meter else "reject"
                if policies[record.meter_id] == "reject":
                    rejected.append(record.event_id)
                elif target is not None:
                    kept.append(record.routed(chunk.subscription_id, target, epoch_ms(parse_time(target))))
                else:
                    nowhere.append(record.event_id)
            if rejected:
                self.store.mark_rejected(scope, chunk.batch_id, rejected, *LATE_AFTER_CLOSE)
                moved.update(dict.fromkeys(rejected, LATE_AFTER_CLOSE))
            if nowhere:
                self.store.mark_rerouted(scope, chunk.batch_id, nowhere, None, None)
                moved.update(dict.fromkeys(nowhere))
            if not kept:
                return moved
            self.store.mark_rerouted(
                scope, chunk.batch_id, [r.event_id for r in kept], chunk.subscription_id, target
            )
            chunk = UsageChunk(
                batch_id=chunk.batch_id,
                origin=chunk.origin,
                subscription_id=chunk.subscription_id,
                period_start=target or "",
                records=tuple(kept),
                aggregations=chunk.aggregations,
            )
        raise RuntimeError("the subscription's periods kept closing while usage was counted")

    # --- recovery ----------------------------------------------------------------------------------

    def recover_stale_batches(self, now: datetime, limit: int = 100) -> int:
        """Finish batches whose handler stopped between the journal and the end (a crash, a
        timeout): count the events each one owns, exactly as it would have."""
        stale = self.store.stale_batches(_format_ms(now - STALE_AFTER), limit)
        for batch in stale:
            records = self.store.journal(batch.scope, batch.batch_id) or []
            owned_ids = self.store.owned(batch.scope, batch.batch_id, [r.event_id for r in records])
            owned = [r for r in records if r.event_id in owned_ids]
            self._apply(batch.scope, batch.batch_id, owned)
            self.store.close_batch(batch.scope, batch.batch_id, batch.opened_at)
        return len(stale)


def chunks_of(
    records: Sequence[UsageRecord], aggregations: Mapping[str, str]
) -> list[tuple[list[UsageRecord], str]]:
    """Deterministic chunks of counted records: one subscription period each, at most
    ``CHUNK_RECORDS`` records and ``CHUNK_ITEM_BUDGET`` transaction items. The same records
    always give the same chunks and origins, which is what lets a recovery redo exactly what
    is missing."""
    ordered = sorted(
        records,
        key=lambda r: (
            r.subscription_id or "",
            r.period_start or "",
            r.meter_id,
            _group_order(r.group),
            r.event_id,
        ),
    )
    chunks: list[tuple[list[UsageRecord], str]] = []
    current: list[UsageRecord] = []
    groups: set[tuple[str, Any]] = set()
    budget = 0
    number = 0
    for record in ordered:
        place = (record.subscription_id, record.period_start)
        group = (record.meter_id, record.group)
        cost = 0 if group in groups else ITEMS_PER_GROUP.get(aggregations.get(record.meter_id, "sum"), 1)
        if current and (
            (current[0].subscription_id, current[0].period_start) != place
            or len(current) >= CHUNK_RECORDS
            or budget + cost > CHUNK_ITEM_BUDGET
        ):
            chunks.append((current, _origin(current[0], number)))
            number = number + 1 if (current[0].subscription_id, current[0].period_start) == place else 0
            current, groups, budget = [], set(), 0
            cost = ITEMS_PER_GROUP.get(aggregations.get(record.meter_id, "sum"), 1)
        current.append(record)
        groups.add(group)
        budget += cost
    if current:
        chunks.append((current, _origin(current[0], number)))
    return chunks


def _group_order(group: Any) -> tuple[tuple[str, bool, str], ...]:
    # None (a missing dimension) sorts before any value, and never against a string.
    return tuple((name, value is not None, value or "") for name, value in group)


def _origin(record: UsageRecord, number: int) -> str:
    return f"{record.subscription_id}#{record.period_start}#{number}"


def next_open_period(sub: Subscription | None, closed_start: str) -> str | None:
    """Where events of a period that closed under them go under bill_next_period: the
    subscription's open period, or the one after the closed period while the closing step is
    still being written, or nowhere when the subscription does not go on."""
    if sub is None or sub.status not in BILLING_STATUSES or sub.current_period_start is None:
        return None
    if sub.current_period_start > closed_start:
        return sub.current_period_start
    if sub.current_period_end is None:
        return None
    return route_event(sub, parse_time(sub.current_period_end), "reject").period_start


# --- parsing -----------------------------------------------------------------------------------------


def _event_id(raw: Any) -> str | None:
    if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
        return str(raw["id"])[:MAX_ID_LENGTH]
    return None


def _shape_problem(raw: Any) -> str | None:
    if not isinstance(raw, Mapping):
        return "an event is a JSON object"
    problems = []
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_ID_LENGTH or not event_id.isprintable():
        problems.append(f"id: a string of 1 to {MAX_ID_LENGTH} printable characters")
    if not isinstance(raw.get("meter_code"), str) or not raw["meter_code"]:
        problems.append("meter_code: required")
    has_id = isinstance(raw.get("customer_id"), str) and bool(raw["customer_id"])
    has_ext = isinstance(raw.get("external_customer_id"), str) and bool(raw["external_customer_id"])
    if has_id == has_ext:
        problems.append("give exactly one of customer_id and external_customer_id")
    if raw.get("timestamp") is not None and not isinstance(raw["timestamp"], str):
        problems.append("timestamp: an RFC 3339 string")
    properties = raw.get("properties")
    if properties is not None:
        if not isinstance(properties, Mapping):
            problems.append("properties: a JSON object")
        elif len(properties) > MAX_PROPERTIES:
            problems.append(f"properties: at most {MAX_PROPERTIES} keys")
        elif _json_size(properties) > MAX_PROPERTIES_BYTES:
            problems.append(f"properties: at most {MAX_PROPERTIES_BYTES} bytes of JSON")
    unknown = set(raw) - {
        "id",
        "meter_code",
        "customer_id",
        "external_customer_id",
        "timestamp",
        "properties",
    }
    if unknown:
        problems.append(f"unknown fields: {', '.join(sorted(unknown))}")
    return "; ".join(problems) or None


def _json_size(properties: Mapping[str, Any]) -> int:
    """The properties' JSON size; measured exactly only when a quick upper bound for flat
    scalar values does not already settle it (the common case, and a hot path)."""
    bound = 2
    for key, value in properties.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            return len(json.dumps(properties, default=str))
        bound += len(key) * 6 + (len(value) * 6 if isinstance(value, str) else 24) + 8
    return bound if bound <= MAX_PROPERTIES_BYTES else len(json.dumps(properties, default=str))


def _timestamp(value: str | None, now: datetime) -> datetime | str:
    if value is None:
        return now
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return f"'{value}' is not an RFC 3339 timestamp"
    if moment.tzinfo is None:
        return "the timestamp needs a time zone offset, e.g. 2026-01-31T10:00:00Z"
    return moment.astimezone(UTC)


def _value(meter: Meter, properties: Mapping[str, Any]) -> tuple[Any, str | None, tuple[str, str] | None]:
    """(numeric value, distinct text, rejection)."""
    if meter.aggregation == "count" or meter.value_property is None:
        return None, None, None
    if meter.value_property not in properties or properties[meter.value_property] is None:
        return (
            None,
            None,
            ("missing_value_property", f"the meter {meter.code} reads properties.{meter.value_property}"),
        )
    raw = properties[meter.value_property]
    if meter.aggregation == "unique_count":
        text = scalar_text(raw)
        if text is None or len(text) > 256:
            return (
                None,
                None,
                ("invalid_value", f"properties.{meter.value_property} must be a string or number"),
            )
        return None, text, None
    number = numeric_value(raw)
    if number is None:
        return (
            None,
            None,
            (
                "invalid_value",
                f"properties.{meter.value_property} must be a number (at most 20 significant digits)",
            ),
        )
    return number, None, None


def _format(moment: datetime) -> str:
    """Seconds precision unless the event has milliseconds (then RFC 3339 with .fff)."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
