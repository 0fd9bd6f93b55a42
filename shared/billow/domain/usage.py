"""Usage arithmetic: the totals a meter keeps per billing period and group, and the quantity
they bill (docs/usage.md). Pure: storage keeps ``GroupTotals`` in pieces and hands them back.

The totals split in two kinds. Additive ones (count, sum, and the two sums weighted_sum needs)
must be applied exactly once per event; idempotent ones (max, latest, the set of distinct
values) give the same result however often an event is applied. Storage relies on that split.

weighted_sum treats each value as a change of a level (+3 seats, -1 seat) and integrates the
level over time. For a period [S, E) with opening level L0 and changes d_i at t_i:
  integral = L0 * (E - S) + sum(d_i * (E - t_i)) = (L0 + sum d_i) * (E - S) - sum(d_i * (t_i - S))
so keeping sum(d_i) and sum(d_i * (t_i - S)) is enough, whatever E turns out to be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billow.domain.meter import WEIGHTED_UNIT_SECONDS, Meter
from billow.domain.subscription import BILLING_STATUSES, Subscription, parse_time

Group = tuple[tuple[str, str | None], ...]
# weighted_sum quantities are quotients; they keep this many decimal places (half-up).
WEIGHTED_PLACES = Decimal("0.0000000001")
MS = Decimal(1000)


@dataclass(frozen=True)
class UsageFact:
    """What one accepted event contributes to its meter in its period and group."""

    event_id: str
    at_ms: int
    group: Group
    value: Decimal | None = None  # numeric aggregations
    text: str | None = None  # unique_count: the distinct value


@dataclass(frozen=True)
class Latest:
    at_ms: int
    event_id: str
    value: Decimal

    def newer_than(self, other: Latest | None) -> bool:
        return other is None or (self.at_ms, self.event_id) > (other.at_ms, other.event_id)


@dataclass(frozen=True)
class GroupTotals:
    count: int = 0
    sum: Decimal = Decimal(0)
    # weighted_sum: sum of changes, and sum of change x seconds since the period start.
    delta_sum: Decimal = Decimal(0)
    delta_seconds: Decimal = Decimal(0)
    max: Decimal | None = None
    latest: Latest | None = None
    distinct: frozenset[str] = field(default_factory=frozenset)

    def add(self, fact: UsageFact, period_start_ms: int) -> GroupTotals:
        value = fact.value if fact.value is not None else Decimal(0)
        latest = Latest(fact.at_ms, fact.event_id, value) if fact.value is not None else None
        return self.merge(
            GroupTotals(
                count=1,
                sum=value,
                delta_sum=value,
                delta_seconds=value * Decimal(max(0, fact.at_ms - period_start_ms)) / MS,
                max=fact.value,
                latest=latest,
                distinct=frozenset({fact.text}) if fact.text is not None else frozenset(),
            )
        )

    def merge(self, other: GroupTotals) -> GroupTotals:
        maxima = [m for m in (self.max, other.max) if m is not None]
        latest = other.latest if other.latest and other.latest.newer_than(self.latest) else self.latest
        return GroupTotals(
            count=self.count + other.count,
            sum=self.sum + other.sum,
            delta_sum=self.delta_sum + other.delta_sum,
            delta_seconds=self.delta_seconds + other.delta_seconds,
            max=max(maxima) if maxima else None,
            latest=latest,
            distinct=self.distinct | other.distinct,
        )


def totals_of(facts: Iterable[UsageFact], period_start_ms: int) -> dict[Group, GroupTotals]:
    """Facts of one meter and period, totalled per group."""
    result: dict[Group, GroupTotals] = {}
    for fact in facts:
        result[fact.group] = result.get(fact.group, GroupTotals()).add(fact, period_start_ms)
    return result


def merge_totals(*parts: Mapping[Group, GroupTotals]) -> dict[Group, GroupTotals]:
    result: dict[Group, GroupTotals] = {}
    for part in parts:
        for group, totals in part.items():
            result[group] = result.get(group, GroupTotals()).merge(totals)
    return result


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, in integers (no float rounding)."""
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


@dataclass(frozen=True)
class PeriodWindow:
    """A billing period in epoch milliseconds, and the moment usage is looked at."""

    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> Decimal:
        return Decimal(self.end_ms - self.start_ms) / MS

    def elapsed(self, now_ms: int) -> Decimal:
        return Decimal(min(max(now_ms, self.start_ms), self.end_ms) - self.start_ms) / MS


def quantity(
    meter: Meter, totals: GroupTotals, window: PeriodWindow, opening_level: Decimal = Decimal(0)
) -> Decimal:
    """What the group's usage of a whole period bills."""
    if meter.aggregation == "weighted_sum":
        return _weighted(meter, totals, window, window.seconds, opening_level)
    return _plain(meter, totals)


def quantity_so_far(
    meter: Meter, totals: GroupTotals, window: PeriodWindow, now_ms: int, opening_level: Decimal = Decimal(0)
) -> Decimal:
    """What the usage up to ``now`` would bill if the period closed now. For weighted_sum the
    level is integrated up to now only (an average still counts the whole period's length)."""
    if meter.aggregation == "weighted_sum":
        return _weighted(meter, totals, window, window.elapsed(now_ms), opening_level)
    return _plain(meter, totals)


def projected_quantity(
    meter: Meter, totals: GroupTotals, window: PeriodWindow, now_ms: int, opening_level: Decimal = Decimal(0)
) -> Decimal:
    """End-of-period estimate (docs/usage.md): sums and counts grow at the pace seen so far;
    a weighted level stays where it is now; max, latest and distinct counts stay as they are."""
    if meter.aggregation == "weighted_sum":
        return quantity(meter, totals, window, opening_level)
    current = _plain(meter, totals)
    elapsed = window.elapsed(now_ms)
    if meter.aggregation in ("sum", "count") and elapsed > 0 and elapsed < window.seconds:
        return tidy((current * window.seconds / elapsed).quantize(WEIGHTED_PLACES, rounding=ROUND_HALF_UP))
    return current


def tidy(number: Decimal) -> Decimal:
    """The same number without trailing zeros (12.0000000000 -> 12), never in exponent form."""
    return Decimal(f"{number.normalize():f}")


def closing_level(totals: GroupTotals, opening_level: Decimal) -> Decimal:
    """weighted_sum: the level at the period's end, which opens the next period."""
    return opening_level + totals.delta_sum


def _plain(meter: Meter, totals: GroupTotals) -> Decimal:
    if meter.aggregation == "count":
        return Decimal(totals.count)
    if meter.aggregation == "sum":
        return totals.sum
    if meter.aggregation == "max":
        return totals.max if totals.max is not None else Decimal(0)
    if meter.aggregation == "latest":
        return totals.latest.value if totals.latest is not None else Decimal(0)
    if meter.aggregation == "unique_count":
        return Decimal(len(totals.distinct))
    raise ValueError(f"not a plain aggregation: {meter.aggregation}")  # pragma: no cover


def _weighted(
    meter: Meter, totals: GroupTotals, window: PeriodWindow, through: Decimal, opening_level: Decimal
) -> Decimal:
    # A change dated after ``through`` (at most the few minutes ingest allows ahead of now)
    # pulls an up-to-now figure slightly down; whole periods are exact.
    integral = (opening_level + totals.delta_sum) * through - totals.delta_seconds
    integral = max(integral, Decimal(0))
    divisor = (
        window.seconds
        if meter.weighted_unit == "period"
        else Decimal(WEIGHTED_UNIT_SECONDS[meter.weighted_unit])
    )
    if divisor == 0:
        return Decimal(0)
    return tidy((integral / divisor).quantize(WEIGHTED_PLACES, rounding=ROUND_HALF_UP))


def group_from_data(data: Any) -> Group:
    """A group stored as [[name, value], ...] (order kept: it is the meter's group_by order)."""
    return tuple((str(name), None if value is None else str(value)) for name, value in data or ())


def describe_group(group: Group) -> str:
    return ", ".join(f"{name}: {value if value is not None else '(none)'}" for name, value in group)


@dataclass(frozen=True)
class UsageRecord:
    """A validated usage event and where it counts: the subscription and the billing period
    (its start) it is billed in, or none when no subscription bills the meter then."""

    event_id: str
    customer_id: str
    meter_id: str
    timestamp: str
    at_ms: int
    properties: Mapping[str, Any]
    group: Group = ()
    value: Decimal | None = None
    text: str | None = None
    subscription_id: str | None = None
    period_start: str | None = None
    period_start_ms: int = 0

    @property
    def counted(self) -> bool:
        return self.subscription_id is not None and self.period_start is not None

    def fact(self) -> UsageFact:
        # A late event billed in a later period counts from that period's start.
        at_ms = max(self.at_ms, self.period_start_ms)
        return UsageFact(self.event_id, at_ms, self.group, self.value, self.text)

    def to_data(self) -> dict[str, Any]:
        return {
            "i": self.event_id,
            "c": self.customer_id,
            "m": self.meter_id,
            "t": self.timestamp,
            "ms": self.at_ms,
            "p": dict(self.properties),
            "g": [list(pair) for pair in self.group],
            "v": str(self.value) if self.value is not None else None,
            "x": self.text,
            "s": self.subscription_id,
            "ps": self.period_start,
            "pms": self.period_start_ms,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> UsageRecord:
        return cls(
            event_id=data["i"],
            customer_id=data["c"],
            meter_id=data["m"],
            timestamp=data["t"],
            at_ms=int(data["ms"]),
            properties=data.get("p") or {},
            group=group_from_data(data.get("g")),
            value=Decimal(data["v"]) if data.get("v") is not None else None,
            text=data.get("x"),
            subscription_id=data.get("s"),
            period_start=data.get("ps"),
            period_start_ms=int(data.get("pms") or 0),
        )

    def routed(
        self, subscription_id: str | None, period_start: str | None, period_start_ms: int
    ) -> UsageRecord:
        return replace(
            self, subscription_id=subscription_id, period_start=period_start, period_start_ms=period_start_ms
        )


@dataclass(frozen=True)
class Route:
    """Where an event of a subscription's meter counts: a period start, nowhere (``None``
    without a rejection), or a rejection code and reason."""

    period_start: str | None = None
    rejection: tuple[str, str] | None = None


def route_event(sub: Subscription | None, at: datetime, late_policy: str) -> Route:
    """The billing period an event at ``at`` is billed in (docs/usage.md, Routing).

    Only active and past-due subscriptions bill usage. An event of the open period counts in
    it; one after its end (the renewal has not run yet) counts in the next period if the
    subscription goes on; one before it is late: rejected, or billed in the open period."""
    if sub is None or sub.status not in BILLING_STATUSES or not sub.current_period_start:
        return Route()
    start, end = sub.current_period_start, sub.current_period_end
    if at < parse_time(start):
        if late_policy == "bill_next_period":
            return Route(start)
        return Route(
            rejection=(
                "late_event",
                f"the event is dated before the open billing period (from {start}) and the "
                "meter's late_event_policy is reject",
            )
        )
    if end is None or at < parse_time(end):
        return Route(start)
    cancellation = sub.scheduled_cancellation
    ends_at_end = (cancellation is not None and cancellation.effective_at <= end) or (
        not sub.auto_renew and (sub.end_at is None or sub.end_at <= end)
    )
    return Route() if ends_at_end else Route(end)
