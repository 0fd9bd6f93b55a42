"""Usage alerts: thresholds on a subscription's usage of one meter in its billing period
(docs/usage.md, Alerts). Crossing a threshold is recorded once per period, which is what
makes ``usage.threshold_reached`` fire exactly once; a ``block`` alert then stops ingest from
counting that meter for the customer until the period ends or the alert is lifted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from billow.domain.errors import FieldError, InvalidStateTransition, ValidationFailed

Metric = Literal["units", "amount"]
Action = Literal["notify", "block"]
MAX_THRESHOLDS = 10
MUTABLE_FIELDS = frozenset({"name", "metadata"})


@dataclass(frozen=True)
class AlertPeriodState:
    """What happened in one billing period (the one starting at ``period_start``)."""

    period_start: str
    crossed: tuple[Decimal, ...] = ()
    lifted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "period_start": self.period_start,
            "crossed": [_plain(t) for t in self.crossed],
            "lifted": self.lifted,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertPeriodState:
        return cls(
            period_start=data["period_start"],
            crossed=tuple(Decimal(str(t)) for t in data.get("crossed") or ()),
            lifted=bool(data.get("lifted", False)),
        )


@dataclass(frozen=True)
class UsageAlert:
    id: str
    livemode: bool
    subscription_id: str
    customer_id: str
    meter_id: str
    metric: Metric
    thresholds: tuple[Decimal, ...]
    action: Action
    created_at: str
    updated_at: str
    currency: str | None = None  # amount alerts: the subscription's currency
    name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: Literal["active", "archived"] = "active"
    state: AlertPeriodState | None = None
    version: int = 1

    def crossings(self, period_start: str, value: Decimal) -> list[Decimal]:
        """Thresholds ``value`` reached that were not yet recorded in this period, lowest first."""
        if self.status != "active":
            return []
        done = set(self.state.crossed) if self.state and self.state.period_start == period_start else set()
        return [t for t in self.thresholds if value >= t and t not in done]

    def record(self, period_start: str, threshold: Decimal, now: str) -> UsageAlert:
        """One crossing, one new version (so each event has its own sequence number)."""
        state = self.state if self.state and self.state.period_start == period_start else None
        crossed = (*(state.crossed if state else ()), threshold)
        lifted = state.lifted if state else False
        return replace(
            self,
            state=AlertPeriodState(period_start, tuple(sorted(crossed)), lifted),
            updated_at=now,
            version=self.version + 1,
        )

    def blocking(self, period_start: str) -> bool:
        state = self.state
        return (
            self.status == "active"
            and self.action == "block"
            and state is not None
            and state.period_start == period_start
            and bool(state.crossed)
            and not state.lifted
        )

    def lift(self, period_start: str, now: str) -> UsageAlert:
        if not self.blocking(period_start):
            raise InvalidStateTransition(detail=f"usage alert {self.id} is not blocking usage in this period")
        assert self.state is not None
        return replace(self, state=replace(self.state, lifted=True), updated_at=now, version=self.version + 1)

    def with_changes(self, changes: Mapping[str, Any], now: str) -> UsageAlert:
        unknown = set(changes) - MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable: {sorted(unknown)}")
        return replace(self, **changes, updated_at=now, version=self.version + 1)

    def archive(self, now: str) -> UsageAlert:
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"usage alert {self.id} is already archived")
        return replace(self, status="archived", updated_at=now, version=self.version + 1)


def parse_thresholds(values: Sequence[Any]) -> tuple[Decimal, ...]:
    from billow.domain.money import parse_decimal

    errors: list[FieldError] = []
    parsed: list[Decimal] = []
    if not 1 <= len(values) <= MAX_THRESHOLDS:
        errors.append(FieldError("/thresholds", f"give 1 to {MAX_THRESHOLDS} thresholds"))
    for i, value in enumerate(values):
        try:
            number = parse_decimal(value, f"/thresholds/{i}")
        except ValidationFailed as failure:
            errors.extend(failure.errors)
            continue
        if number <= 0:
            errors.append(FieldError(f"/thresholds/{i}", "must be greater than 0"))
        elif number in parsed:
            errors.append(FieldError(f"/thresholds/{i}", "is given twice"))
        parsed.append(number)
    if errors:
        raise ValidationFailed(detail="the thresholds are invalid", errors=errors)
    return tuple(sorted(parsed))


def usage_alert_to_dict(alert: UsageAlert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "object": "usage_alert",
        "livemode": alert.livemode,
        "subscription_id": alert.subscription_id,
        "customer_id": alert.customer_id,
        "meter_id": alert.meter_id,
        "metric": alert.metric,
        "currency": alert.currency,
        "thresholds": [_plain(t) for t in alert.thresholds],
        "action": alert.action,
        "name": alert.name,
        "metadata": dict(alert.metadata),
        "status": alert.status,
        "period_state": alert.state.to_dict() if alert.state else None,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "version": alert.version,
    }


def usage_alert_from_dict(data: Mapping[str, Any]) -> UsageAlert:
    return UsageAlert(
        id=data["id"],
        livemode=bool(data["livemode"]),
        subscription_id=data["subscription_id"],
        customer_id=data["customer_id"],
        meter_id=data["meter_id"],
        metric=data["metric"],
        currency=data.get("currency"),
        thresholds=tuple(Decimal(str(t)) for t in data["thresholds"]),
        action=data["action"],
        name=data.get("name"),
        metadata=dict(data.get("metadata") or {}),
        status=data.get("status", "active"),
        state=AlertPeriodState.from_dict(data["period_state"]) if data.get("period_state") else None,
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=int(data.get("version", 1)),
    )


def _plain(number: Decimal) -> str:
    return "0" if number == 0 else f"{number.normalize():f}"
