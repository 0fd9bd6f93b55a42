"""Subscriptions: a customer on a plan (or on chosen prices) over time.

The aggregate holds everything its future depends on — the items, the current period, the
trial, the scheduled changes and cancellation, the proration items waiting for the next
invoice — so every time-driven step (start, trial end, renewal, scheduled change, expiry) is a
pure function of the stored object and the moment it runs at. ``next_due`` names the earliest
such step; the due-work runner stores its time in an index and runs it when it falls due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from billow.domain.errors import InvalidStateTransition
from billow.domain.money import Money
from billow.domain.periods import BillingCycle, local_date, local_midnight
from billow.domain.plan import Interval

SubscriptionStatus = Literal["pending", "trialing", "active", "past_due", "paused", "canceled", "expired"]
ProrationBehavior = Literal["create_prorations", "always_invoice", "none"]
Refund = Literal["none", "prorate", "full"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"trialing", "active", "canceled"}),
    "trialing": frozenset({"active", "canceled"}),
    "active": frozenset({"past_due", "paused", "canceled", "expired"}),
    "past_due": frozenset({"active", "paused", "canceled", "expired"}),
    "paused": frozenset({"active", "canceled", "expired"}),
    "canceled": frozenset(),
    "expired": frozenset(),
}
# Statuses in which a period runs and renews (and changes are prorated).
BILLING_STATUSES = frozenset({"active", "past_due"})
TRIAL_NOTICE = timedelta(days=3)
MAX_ITEMS = 50
MAX_PENDING_ITEMS = 200
MAX_SCHEDULED_CHANGES = 20


@lru_cache(maxsize=4096)
def parse_time(value: str) -> datetime:
    # Cached: usage ingest routes every event against the same few period boundaries.
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SubscriptionItem:
    """One price the subscription bills, with a quantity (seats, units, or 1 for a fee)."""

    id: str
    price_id: str
    product_id: str
    quantity: Decimal
    kind: Literal["plan", "item", "add_on"] = "item"
    component_id: str | None = None
    included_quantity: Decimal = Decimal(0)
    # The meter a usage price reads (copied from the price: the meter-billing guard needs it).
    meter_id: str | None = None

    @property
    def billable_quantity(self) -> Decimal:
        return max(Decimal(0), self.quantity - self.included_quantity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "price_id": self.price_id,
            "product_id": self.product_id,
            "quantity": str(self.quantity),
            "kind": self.kind,
            "component_id": self.component_id,
            "included_quantity": str(self.included_quantity),
            "meter_id": self.meter_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubscriptionItem:
        return cls(
            id=data["id"],
            price_id=data["price_id"],
            product_id=data["product_id"],
            quantity=Decimal(str(data["quantity"])),
            kind=data.get("kind", "item"),
            component_id=data.get("component_id"),
            included_quantity=Decimal(str(data.get("included_quantity", "0"))),
            meter_id=data.get("meter_id"),
        )


@dataclass(frozen=True)
class PendingItem:
    """A charge or credit waiting for the subscription's next invoice (prorations, one-offs)."""

    id: str
    kind: Literal["proration", "one_off", "usage"]
    description: str
    amount: Money
    created_at: str
    product_id: str | None = None
    price_id: str | None = None
    quantity: Decimal = Decimal(1)
    period_start: str | None = None
    period_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "amount": self.amount.as_dict(),
            "product_id": self.product_id,
            "price_id": self.price_id,
            "quantity": str(self.quantity),
            "period": {"start": self.period_start, "end": self.period_end} if self.period_start else None,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingItem:
        period = data.get("period") or {}
        return cls(
            id=data["id"],
            kind=data["kind"],
            description=data["description"],
            amount=Money(Decimal(data["amount"]["amount"]), data["amount"]["currency"]),
            created_at=data["created_at"],
            product_id=data.get("product_id"),
            price_id=data.get("price_id"),
            quantity=Decimal(str(data.get("quantity", "1"))),
            period_start=period.get("start"),
            period_end=period.get("end"),
        )


@dataclass(frozen=True)
class ScheduledChange:
    """A change or cancellation that runs at ``effective_at`` unless cancelled first.

    ``request`` is the validated change request as it will be applied (items, plan, quantity,
    proration behaviour), so applying it later needs nothing the client sent since.
    """

    id: str
    action: Literal["change", "cancel"]
    effective_at: str
    request: dict[str, Any]
    created_at: str
    # next_period changes run at the boundary, before the renewal, and are never prorated.
    at_period_end: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "scheduled_change",
            "action": self.action,
            "effective_at": self.effective_at,
            "at_period_end": self.at_period_end,
            "request": self.request,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScheduledChange:
        return cls(
            id=data["id"],
            action=data["action"],
            effective_at=data["effective_at"],
            request=dict(data.get("request") or {}),
            created_at=data["created_at"],
            at_period_end=bool(data.get("at_period_end", False)),
        )


@dataclass(frozen=True)
class DueStep:
    """The earliest time-driven step of a subscription; ``rank`` orders steps due together."""

    at: str
    kind: Literal[
        "start", "trial_will_end", "scheduled_change", "trial_end", "resume", "term_end", "period_end"
    ]
    rank: int
    change_id: str | None = None


@dataclass(frozen=True)
class Subscription:
    id: str
    livemode: bool
    customer_id: str
    currency: str
    interval: Interval
    interval_count: int
    timezone: str
    anchor_day: int
    day_of_month_anchor: bool
    items: tuple[SubscriptionItem, ...]
    status: SubscriptionStatus
    start_at: str
    created_at: str
    updated_at: str
    plan_id: str | None = None
    plan_version: int | None = None
    trial_start: str | None = None
    trial_end: str | None = None
    trial_will_end_sent: bool = False
    current_period_start: str | None = None
    current_period_end: str | None = None
    # The boundary the current period would end at without a term end (end_at) cutting it.
    current_period_boundary: str | None = None
    periods_billed: int = 0
    collection_method: Literal["charge_automatically", "send_invoice"] = "charge_automatically"
    payment_terms_days: int = 0
    test_clock_id: str | None = None
    auto_renew: bool = True
    end_at: str | None = None
    term_periods: int | None = None
    canceled_at: str | None = None
    ended_at: str | None = None
    cancellation_refund: Money | None = None
    paused_at: str | None = None
    resume_at: str | None = None
    pending_items: tuple[PendingItem, ...] = ()
    # The last scheduled change that could not apply when it fell due, and why.
    last_failed_change: dict[str, Any] | None = None
    scheduled_changes: tuple[ScheduledChange, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    # --- derived ---------------------------------------------------------------------------

    @property
    def cycle(self) -> BillingCycle:
        return BillingCycle(self.interval, self.interval_count, self.anchor_day)

    @property
    def is_ended(self) -> bool:
        return self.status in ("canceled", "expired")

    @property
    def scheduled_cancellation(self) -> ScheduledChange | None:
        return next((c for c in self.scheduled_changes if c.action == "cancel"), None)

    def item(self, item_id: str) -> SubscriptionItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    def next_due(self) -> DueStep | None:
        """The earliest step that will run on its own as time passes, if any."""
        steps: list[DueStep] = []
        if self.status == "pending":
            steps.append(DueStep(self.start_at, "start", 0))
        if self.status == "trialing" and self.trial_end and self.trial_start:
            if not self.trial_will_end_sent:
                notice = max(parse_time(self.trial_end) - TRIAL_NOTICE, parse_time(self.trial_start))
                steps.append(DueStep(format_time(notice), "trial_will_end", 1))
            steps.append(DueStep(self.trial_end, "trial_end", 4))
        if not self.is_ended:
            for change in self.scheduled_changes:
                steps.append(DueStep(change.effective_at, "scheduled_change", 2, change.id))
        if self.status == "paused" and self.resume_at:
            steps.append(DueStep(self.resume_at, "resume", 5))
        if self.status == "paused" and self.end_at and not self.auto_renew:
            # A fixed term ends on time even while paused.
            steps.append(DueStep(self.end_at, "term_end", 5))
        if self.status in BILLING_STATUSES and self.current_period_end:
            steps.append(DueStep(self.current_period_end, "period_end", 6))
        if not steps:
            return None
        return min(steps, key=lambda s: (s.at, s.rank, s.change_id or ""))

    # --- transitions ------------------------------------------------------------------------

    def _to(self, status: SubscriptionStatus, now: str, **changes: Any) -> Subscription:
        if status != self.status and status not in TRANSITIONS[self.status]:
            raise InvalidStateTransition(
                detail=f"subscription {self.id} is {self.status} and cannot become {status}"
            )
        return replace(self, status=status, updated_at=now, version=self.version + 1, **changes)

    def touched(self, now: str, **changes: Any) -> Subscription:
        """A change that keeps the status."""
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    def require_changeable(self) -> None:
        if self.is_ended:
            raise InvalidStateTransition(detail=f"subscription {self.id} is {self.status} and cannot change")

    def start_trial(self, now: str) -> Subscription:
        return self._to("trialing", now)

    def start_period(self, start: str, end: str, boundary: str, now: str) -> Subscription:
        """Begin a billed period (first, after a trial or a pause, or a renewal)."""
        return self._to(
            "active" if self.status != "past_due" else "past_due",
            now,
            current_period_start=start,
            current_period_end=end,
            current_period_boundary=boundary,
            periods_billed=self.periods_billed + 1,
        )

    def cancel(self, at: str, now: str, refund: Money | None) -> Subscription:
        return self._to(
            "canceled",
            now,
            canceled_at=at,
            ended_at=at,
            cancellation_refund=refund,
            scheduled_changes=(),
            pending_items=(),
        )

    def expire(self, at: str, now: str) -> Subscription:
        return self._to("expired", now, ended_at=at, scheduled_changes=(), pending_items=())

    def pause(self, at: str, resume_at: str | None, now: str) -> Subscription:
        if self.status not in ("active", "past_due"):
            raise InvalidStateTransition(
                detail=f"subscription {self.id} is {self.status}; only an active subscription can pause"
            )
        return self._to(
            "paused",
            now,
            paused_at=at,
            resume_at=resume_at,
            current_period_end=None,
            current_period_boundary=None,
        )

    def payment_standing(self, past_due: bool, now: str) -> Subscription:
        """Past due while an invoice of it is in dunning, active again once it is paid; a
        paused or ended subscription keeps its status."""
        if past_due and self.status == "active":
            return self._to("past_due", now)
        if not past_due and self.status == "past_due":
            return self._to("active", now)
        return self

    def require_paused(self) -> None:
        if self.status != "paused":
            raise InvalidStateTransition(
                detail=f"subscription {self.id} is {self.status}; only a paused subscription can resume"
            )


def first_period(sub: Subscription, start: datetime) -> tuple[str, str, str]:
    """(start, end, boundary) of the billed period that begins at ``start`` (after creation, a
    trial or a pause): to the next anchor date with a day-of-month anchor, else a full cycle."""
    start_day = local_date(start, sub.timezone)
    boundary = sub.cycle.first_period_end(start_day, day_of_month_anchor=sub.day_of_month_anchor)
    return format_time(start), *_cut_by_term(sub, boundary)


def next_period(sub: Subscription) -> tuple[str, str, str]:
    """(start, end, boundary) of the period after the current one."""
    if sub.current_period_boundary is None:
        raise ValueError("no current period")
    start_day = local_date(parse_time(sub.current_period_boundary), sub.timezone)
    boundary = sub.cycle.add(start_day)
    return sub.current_period_boundary, *_cut_by_term(sub, boundary)


def _cut_by_term(sub: Subscription, boundary_day: date) -> tuple[str, str]:
    boundary = format_time(local_midnight(boundary_day, sub.timezone))
    end = boundary
    if sub.end_at and not sub.auto_renew and sub.end_at < boundary:
        end = sub.end_at
    return end, boundary


def renewed_term_end(sub: Subscription) -> str | None:
    """With auto_renew, a fixed term rolls over for as many periods as it first had."""
    if sub.end_at is None or sub.term_periods is None:
        return None
    day = local_date(parse_time(sub.end_at), sub.timezone)
    return format_time(local_midnight(sub.cycle.add(day, sub.term_periods), sub.timezone))


def subscription_to_dict(sub: Subscription) -> dict[str, Any]:
    due = sub.next_due()
    cancellation = sub.scheduled_cancellation
    return {
        "id": sub.id,
        "object": "subscription",
        "livemode": sub.livemode,
        "customer_id": sub.customer_id,
        "plan_id": sub.plan_id,
        "plan_version": sub.plan_version,
        "status": sub.status,
        "currency": sub.currency,
        "interval": sub.interval,
        "interval_count": sub.interval_count,
        "timezone": sub.timezone,
        "billing_anchor": (
            {"type": "day_of_month", "day_of_month": sub.anchor_day}
            if sub.day_of_month_anchor
            else {"type": "anniversary", "day_of_month": sub.anchor_day}
        ),
        "items": [i.to_dict() for i in sub.items],
        "start_at": sub.start_at,
        "trial_start": sub.trial_start,
        "trial_end": sub.trial_end,
        "trial_will_end_sent": sub.trial_will_end_sent,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "current_period_boundary": sub.current_period_boundary,
        "periods_billed": sub.periods_billed,
        "collection_method": sub.collection_method,
        "payment_terms_days": sub.payment_terms_days,
        "test_clock_id": sub.test_clock_id,
        "auto_renew": sub.auto_renew,
        "end_at": sub.end_at,
        "term_periods": sub.term_periods,
        "cancel_at": cancellation.effective_at if cancellation else None,
        "cancel_at_period_end": bool(cancellation and cancellation.at_period_end),
        "canceled_at": sub.canceled_at,
        "ended_at": sub.ended_at,
        "cancellation_refund": sub.cancellation_refund.as_dict() if sub.cancellation_refund else None,
        "paused_at": sub.paused_at,
        "resume_at": sub.resume_at,
        "pending_items": [p.to_dict() for p in sub.pending_items],
        "scheduled_changes": [c.to_dict() for c in sub.scheduled_changes],
        "last_failed_change": sub.last_failed_change,
        "next_action": {"type": due.kind, "at": due.at} if due else None,
        "metadata": dict(sub.metadata),
        "created_at": sub.created_at,
        "updated_at": sub.updated_at,
        "version": sub.version,
    }


def subscription_from_dict(data: Mapping[str, Any]) -> Subscription:
    anchor = data.get("billing_anchor") or {}
    refund = data.get("cancellation_refund")
    return Subscription(
        id=data["id"],
        livemode=bool(data["livemode"]),
        customer_id=data["customer_id"],
        currency=data["currency"],
        interval=data["interval"],
        interval_count=int(data["interval_count"]),
        timezone=data["timezone"],
        anchor_day=int(anchor["day_of_month"]),
        day_of_month_anchor=anchor.get("type") == "day_of_month",
        items=tuple(SubscriptionItem.from_dict(i) for i in data.get("items") or ()),
        status=data["status"],
        start_at=data["start_at"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        plan_id=data.get("plan_id"),
        plan_version=int(data["plan_version"]) if data.get("plan_version") is not None else None,
        trial_start=data.get("trial_start"),
        trial_end=data.get("trial_end"),
        trial_will_end_sent=bool(data.get("trial_will_end_sent", False)),
        current_period_start=data.get("current_period_start"),
        current_period_end=data.get("current_period_end"),
        current_period_boundary=data.get("current_period_boundary"),
        periods_billed=int(data.get("periods_billed", 0)),
        collection_method=data.get("collection_method", "charge_automatically"),
        payment_terms_days=int(data.get("payment_terms_days", 0)),
        test_clock_id=data.get("test_clock_id"),
        auto_renew=bool(data.get("auto_renew", True)),
        end_at=data.get("end_at"),
        term_periods=int(data["term_periods"]) if data.get("term_periods") is not None else None,
        canceled_at=data.get("canceled_at"),
        ended_at=data.get("ended_at"),
        cancellation_refund=(
            Money(Decimal(refund["amount"]), refund["currency"]) if refund is not None else None
        ),
        paused_at=data.get("paused_at"),
        resume_at=data.get("resume_at"),
        pending_items=tuple(PendingItem.from_dict(p) for p in data.get("pending_items") or ()),
        scheduled_changes=tuple(ScheduledChange.from_dict(c) for c in data.get("scheduled_changes") or ()),
        last_failed_change=data.get("last_failed_change"),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version", 1)),
    )
