"""The usage store: dedupe markers, batch journals, period totals and the kept events
(docs/usage.md, docs/data-model.md). Every method takes the scope except the sweep's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from billow.domain.tenancy import Scope
    from billow.domain.usage import Group, GroupTotals, UsageRecord

ApplyResult = Literal["applied", "already_applied", "period_closed"]
# A chunk is one transaction (at most 100 items): 3 fixed items, then per group its totals
# item, plus the max/latest item or the distinct-value buckets its aggregation keeps.
DISTINCT_BUCKETS = 4
CHUNK_ITEM_BUDGET = 90
ITEMS_PER_GROUP = {"unique_count": 1 + DISTINCT_BUCKETS, "max": 2, "latest": 2}


@dataclass(frozen=True)
class RecordOutcome:
    """What writing an event's dedupe marker found: a new event, or the one seen before."""

    status: Literal["accepted", "duplicate", "rejected"]
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class UsageChunk:
    """Records of one batch billed in one subscription period, applied all at once.

    ``origin`` (subscription, period and chunk number as first routed) is the chunk's identity:
    applying the same origin twice is a no-op, even when a closed period sent it elsewhere."""

    batch_id: str
    origin: str
    subscription_id: str
    period_start: str
    records: tuple[UsageRecord, ...]
    aggregations: Mapping[str, str]


@dataclass(frozen=True)
class OpenBatch:
    scope: Scope
    batch_id: str
    opened_at: str


@dataclass(frozen=True)
class PeriodUsage:
    totals: dict[str, dict[Group, GroupTotals]]
    closed_at: str | None = None


@dataclass(frozen=True)
class CarriedLevels:
    """weighted_sum levels per meter and group: at the start and at the end of the last
    period closed (``period_start``)."""

    period_start: str
    opening: dict[str, Decimal] = field(default_factory=dict)
    closing: dict[str, Decimal] = field(default_factory=dict)


class UsageStore(Protocol):
    def open_batch(self, scope: Scope, batch_id: str, records: Sequence[UsageRecord], now: datetime) -> str:
        """Journal the batch before any marker is written; returns the open marker's time."""
        ...

    def record_events(
        self, scope: Scope, batch_id: str, records: Sequence[UsageRecord], now: datetime
    ) -> list[RecordOutcome]:
        """Write each event's dedupe marker if its id is new (or its old marker expired)."""
        ...

    def apply(self, scope: Scope, chunk: UsageChunk) -> ApplyResult: ...

    def mark_rejected(
        self, scope: Scope, batch_id: str, event_ids: Sequence[str], code: str, detail: str
    ) -> None: ...

    def mark_rerouted(
        self,
        scope: Scope,
        batch_id: str,
        event_ids: Sequence[str],
        subscription_id: str | None,
        period_start: str | None,
    ) -> None:
        """Events whose period closed under them now count elsewhere (or nowhere)."""
        ...

    def close_batch(self, scope: Scope, batch_id: str, opened_at: str) -> None: ...

    def stale_batches(self, opened_before: str, limit: int) -> list[OpenBatch]: ...

    def journal(self, scope: Scope, batch_id: str) -> list[UsageRecord] | None: ...

    def owned(self, scope: Scope, batch_id: str, event_ids: Sequence[str]) -> set[str]:
        """The ids whose marker this batch wrote, whatever their status since (so this batch,
        and only it, counts them, and a recovery rebuilds the very chunks it made)."""
        ...

    def period_usage(self, scope: Scope, subscription_id: str, period_start: str) -> PeriodUsage: ...

    def close_period(self, scope: Scope, subscription_id: str, period_start: str, closed_at: str) -> None:
        """Fence the period: from now on no chunk is applied to it."""
        ...

    def period_log(self, scope: Scope, subscription_id: str, period_start: str) -> list[UsageRecord]:
        """Every event billed in the period, as kept (re-rating and audit)."""
        ...

    def levels(self, scope: Scope, subscription_id: str) -> CarriedLevels | None: ...

    def save_levels(self, scope: Scope, subscription_id: str, levels: CarriedLevels) -> None: ...

    def billing_subscription(self, scope: Scope, customer_id: str, meter_id: str) -> str | None:
        """The one live subscription of the customer that bills the meter."""
        ...

    def event(self, scope: Scope, event_id: str) -> dict[str, Any] | None: ...
