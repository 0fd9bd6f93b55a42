"""A webhook delivery: one event on its way to one endpoint, with every attempt (docs/webhooks.md).

A delivery is created once per (endpoint, event) when the event is fanned out, and attempted
until the endpoint answers 2xx or three days have passed since it was created. Attempts wait
longer and longer after failures (``backoff_seconds``); every redelivery carries the same
``webhook-id`` (the event's id), so receivers can drop duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from billow.domain.subscription import parse_time

DeliveryStatus = Literal["pending", "delivered", "failed", "skipped"]
RETRY_WINDOW = timedelta(days=3)
# The waits after the 1st, 2nd, ... failed attempt; the last repeats (SQS lets a message stay
# invisible for at most 12 hours). About 17 attempts over three days.
BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200)
KEPT_ATTEMPTS = 30


def backoff_seconds(failed_attempts: int) -> int:
    index = max(0, min(failed_attempts, len(BACKOFF_SECONDS)) - 1)
    return BACKOFF_SECONDS[index]


@dataclass(frozen=True)
class DeliveryAttempt:
    at: str
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "response_excerpt": self.response_excerpt,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryAttempt:
        code = data.get("status_code")
        return cls(
            at=str(data["at"]),
            status_code=int(code) if code is not None else None,
            latency_ms=int(data.get("latency_ms") or 0),
            response_excerpt=str(data.get("response_excerpt") or ""),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class WebhookDelivery:
    id: str
    livemode: bool
    endpoint_id: str
    event_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    created_at: str
    updated_at: str
    status: DeliveryStatus = "pending"
    attempts: tuple[DeliveryAttempt, ...] = ()
    attempt_count: int = 0
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    # Why a delivery ended without success (retries exhausted, endpoint disabled).
    outcome_reason: str | None = None
    version: int = 1

    @property
    def group(self) -> str:
        """Deliveries of one aggregate to one endpoint go in order, apart from all others."""
        return f"{self.endpoint_id}:{self.aggregate_type}:{self.aggregate_id}"

    def expired(self, now: str) -> bool:
        return parse_time(now) - parse_time(self.created_at) >= RETRY_WINDOW

    def attempted(self, attempt: DeliveryAttempt, now: str, *, backoff_scale: float = 1.0) -> WebhookDelivery:
        """The delivery after one attempt: delivered, waiting for the next try, or failed for
        good when the retry window is over."""
        attempts = (*self.attempts, attempt)[-KEPT_ATTEMPTS:]
        count = self.attempt_count + 1
        if attempt.succeeded:
            return self._touched(
                now,
                attempts=attempts,
                attempt_count=count,
                status="delivered",
                delivered_at=now,
                next_attempt_at=None,
            )
        if self.expired(now):
            return self._touched(
                now,
                attempts=attempts,
                attempt_count=count,
                status="failed",
                outcome_reason="retries_exhausted",
                next_attempt_at=None,
            )
        failures = sum(1 for a in attempts if not a.succeeded)
        # Tests shrink the waits (settings.webhook_backoff_scale); deployments keep them.
        wait = timedelta(seconds=backoff_seconds(failures) * backoff_scale)
        next_at = (parse_time(now) + wait).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._touched(now, attempts=attempts, attempt_count=count, next_attempt_at=next_at)

    def skipped(self, reason: str, now: str) -> WebhookDelivery:
        return self._touched(now, status="skipped", outcome_reason=reason, next_attempt_at=None)

    def retried(self, now: str) -> WebhookDelivery:
        """Sent again by hand (``POST /v1/webhook-deliveries/{id}/retry``): a new window."""
        return self._touched(now, status="pending", created_at=now, outcome_reason=None, next_attempt_at=now)

    def _touched(self, now: str, **changes: Any) -> WebhookDelivery:
        return replace(self, updated_at=now, version=self.version + 1, **changes)


def delivery_to_dict(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "object": "webhook_delivery",
        "livemode": delivery.livemode,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "aggregate": {
            "type": delivery.aggregate_type,
            "id": delivery.aggregate_id,
            "sequence": delivery.sequence,
        },
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "attempts": [a.to_dict() for a in delivery.attempts],
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
        "outcome_reason": delivery.outcome_reason,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
        "version": delivery.version,
    }


def delivery_from_dict(data: Mapping[str, Any]) -> WebhookDelivery:
    aggregate = data["aggregate"]
    return WebhookDelivery(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        endpoint_id=str(data["endpoint_id"]),
        event_id=str(data["event_id"]),
        event_type=str(data["event_type"]),
        aggregate_type=str(aggregate["type"]),
        aggregate_id=str(aggregate["id"]),
        sequence=int(aggregate["sequence"]),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        status=data.get("status", "pending"),
        attempts=tuple(DeliveryAttempt.from_dict(a) for a in data.get("attempts") or ()),
        attempt_count=int(data.get("attempt_count") or 0),
        next_attempt_at=data.get("next_attempt_at"),
        delivered_at=data.get("delivered_at"),
        outcome_reason=data.get("outcome_reason"),
        version=int(data.get("version") or 1),
    )


@dataclass(frozen=True)
class FanoutCursor:
    """How far an aggregate's events have been handed to webhook delivery: events may reach
    the fan-out out of order (EventBridge does not keep it), so an event waits until the one
    before it has gone (or until ``HOLD`` has passed, for a sequence that never comes)."""

    last: int = 0

    def decide(self, sequence: int) -> Literal["duplicate", "next", "early"]:
        if sequence <= self.last:
            return "duplicate"
        return "next" if sequence == self.last + 1 else "early"


HOLD = timedelta(minutes=5)
