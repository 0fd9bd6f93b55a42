"""Webhook delivery: fanning events out to endpoints, and sending each delivery (docs/webhooks.md).

The pipeline, in AWS: outbox → EventBridge bus → rule → SQS queue → ``fan_out`` (the webhook
fan-out function) → SQS FIFO deliveries queue, message group = endpoint and aggregate →
``dispatch`` (the webhook dispatcher function) → the tenant's URL.

- **Order.** EventBridge does not keep order, so ``fan_out`` hands an aggregate's events to
  delivery strictly by ``sequence``: a fan-out cursor per aggregate says which came last, and
  an event that arrives early is put back (its queue redelivers it) until the one before it has
  gone, or until ``HOLD`` has passed (a sequence that never comes must not stop the rest).
  Then each endpoint's deliveries of one aggregate wait behind each other in their FIFO group.
- **Apart.** A failing endpoint holds only its own groups: every other endpoint's messages
  flow on.
- **Once, or again with the same id.** A delivery is unique per (endpoint, event); every
  attempt carries the event's id as ``webhook-id``, so a receiver drops a repeat.
- **Retries.** A failed attempt waits ``backoff_seconds`` (5 s doubling up to 12 h) and is tried
  again for three days; then it is ``failed`` and goes to the dead-letter queue. Three days of
  failures disable the endpoint (WebhookEndpointService.record_failure).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger

from billow.domain.errors import ConcurrentModification, InvalidStateTransition, NotFound, validation_failed
from billow.domain.subscription import parse_time
from billow.domain.tenancy import Scope
from billow.domain.webhook_delivery import HOLD, DeliveryAttempt, WebhookDelivery
from billow.domain.webhook_signature import signature_headers
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.webhooks import DeliveryQueue, WebhookSender
from billow.services.webhook_endpoints import WebhookEndpointService

if TYPE_CHECKING:
    from billow.adapters.dynamodb.webhook_deliveries import DynamoWebhookDeliveryRepository

logger = Logger(service="billow")


class EventTooEarly(Exception):
    """The event's predecessor of the same aggregate has not been fanned out yet: retry later."""


@dataclass(frozen=True)
class Dispatched:
    outcome: Literal["delivered", "retry", "failed", "skipped"]
    # For "retry": how long the message stays invisible before the next attempt.
    retry_in_seconds: int | None = None


@dataclass
class WebhookFanout:
    endpoints: WebhookEndpointService
    deliveries: DynamoWebhookDeliveryRepository
    queue: DeliveryQueue
    clock: Clock
    new_id: IdGenerator

    def fan_out_batch(self, details: Sequence[Mapping[str, Any]]) -> list[int]:
        """Fan out a batch of events; the positions of those that must come back later.

        The batch is taken in sequence order per aggregate, so events that reached the queue
        out of order but arrive together need no second round; and the endpoints that want a
        type are looked up once per batch (an endpoint created during the batch sees the
        events committed after it, as it would a moment later)."""
        wanted: dict[tuple[Scope, str], list[Any]] = {}
        order = sorted(
            range(len(details)),
            key=lambda i: (
                str(details[i]["tenant_id"]),
                str(details[i]["aggregate"]["type"]),
                str(details[i]["aggregate"]["id"]),
                int(details[i]["aggregate"]["sequence"]),
            ),
        )
        early: list[int] = []
        for index in order:
            detail = details[index]
            scope = Scope(str(detail["tenant_id"]), bool(detail["livemode"]))
            key = (scope, str(detail["type"]))
            if key not in wanted:
                wanted[key] = self.endpoints.matching(scope, key[1])
            try:
                self.fan_out(detail, endpoints=wanted[key])
            except EventTooEarly as too_early:
                logger.info("event held back", extra={"reason": str(too_early)})
                early.append(index)
        return sorted(early)

    def fan_out(
        self, detail: Mapping[str, Any], *, endpoints: Sequence[Any] | None = None
    ) -> Sequence[WebhookDelivery]:
        """Hand one event (the bus's detail: the envelope and its tenant) to the endpoints that
        want it. Raises EventTooEarly while an earlier event of its aggregate is still due."""
        scope = Scope(str(detail["tenant_id"]), bool(detail["livemode"]))
        aggregate = detail["aggregate"]
        kind, aggregate_id, sequence = (
            str(aggregate["type"]),
            str(aggregate["id"]),
            int(aggregate["sequence"]),
        )
        now = rfc3339(self.clock.now())
        for _ in range(5):
            cursor = self.deliveries.cursor(scope, kind, aggregate_id)
            verdict = cursor.decide(sequence)
            if verdict == "early" and parse_time(now) - parse_time(str(detail["created_at"])) < HOLD:
                raise EventTooEarly(f"{kind} {aggregate_id} #{sequence} waits for #{cursor.last + 1}")
            if endpoints is None:
                endpoints = self.endpoints.matching(scope, str(detail["type"]))
            made = self.deliveries.create_all(
                scope, [self._delivery(scope, endpoint.id, detail, now) for endpoint in endpoints]
            )
            # Queued before the cursor moves, so the next event's deliveries queue behind these.
            self.queue.enqueue_all(scope, [d for d in made if d.status == "pending"])
            if verdict == "duplicate":
                return made
            try:
                self.deliveries.advance_cursor(scope, kind, aggregate_id, cursor, sequence)
            except ConcurrentModification:
                continue  # another copy of the event, or its successor held back, moved it
            return made
        raise ConcurrentModification(detail="the fan-out cursor keeps moving")

    def resend(self, scope: Scope, event_id: str, endpoint_id: str | None = None) -> list[WebhookDelivery]:
        """``POST /v1/events/{id}/resend``: deliver a logged event again to the endpoints that
        want it now (or to one named endpoint), with its own id as ``webhook-id``. A delivery
        still on its way is left alone; a finished one starts again; an endpoint created since
        gets a first delivery."""
        envelope = self.deliveries.event_envelope(scope, event_id)
        if envelope is None:
            raise NotFound(detail=f"no event with id {event_id} (events are kept 30 days)")
        endpoints = self.endpoints.matching(scope, str(envelope["type"]))
        if endpoint_id is not None:
            endpoints = [e for e in endpoints if e.id == endpoint_id]
            if not endpoints:
                raise validation_failed(
                    "/endpoint_id", "names no enabled endpoint of this mode that listens to the event's type"
                )
        now = rfc3339(self.clock.now())
        sent: list[WebhookDelivery] = []
        for endpoint in endpoints:
            delivery = self.deliveries.create(scope, self._delivery(scope, endpoint.id, envelope, now))
            if delivery.status != "pending":
                after = delivery.retried(now)
                self.deliveries.save(scope, delivery, after)
                delivery = after
            self.queue.enqueue(scope, delivery)
            sent.append(delivery)
        return sent

    def _delivery(
        self, scope: Scope, endpoint_id: str, detail: Mapping[str, Any], now: str
    ) -> WebhookDelivery:
        aggregate = detail["aggregate"]
        return WebhookDelivery(
            id=self.new_id(),
            livemode=scope.livemode,
            endpoint_id=endpoint_id,
            event_id=str(detail["id"]),
            event_type=str(detail["type"]),
            aggregate_type=str(aggregate["type"]),
            aggregate_id=str(aggregate["id"]),
            sequence=int(aggregate["sequence"]),
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )


@dataclass
class WebhookDispatcher:
    endpoints: WebhookEndpointService
    deliveries: DynamoWebhookDeliveryRepository
    send: WebhookSender
    clock: Clock
    queue: DeliveryQueue | None = None
    timestamp: Callable[[], int] = lambda: int(time.time())
    backoff_scale: float = 1.0

    def dispatch(self, scope: Scope, delivery_id: str) -> Dispatched:
        """Attempt one delivery; say whether it is done or when to try again."""
        delivery = self.deliveries.get(scope, delivery_id)
        if delivery is None or delivery.status != "pending":
            return Dispatched("skipped")
        now = rfc3339(self.clock.now())
        try:
            endpoint = self.endpoints.get(scope, delivery.endpoint_id)
        except NotFound:
            endpoint = None
        body = self.deliveries.event_body(scope, delivery.event_id)
        if endpoint is None or endpoint.status != "enabled" or body is None:
            reason = "event_expired" if body is None else "endpoint_disabled"
            self._save(scope, delivery, delivery.skipped(reason, now))
            return Dispatched("skipped")
        secrets = self.endpoints.signing_secrets(scope, endpoint, now)
        headers = signature_headers(delivery.event_id, self.timestamp(), body, secrets)
        result = self.send(endpoint.url, body, headers, allow_loopback=not scope.livemode)
        attempt = DeliveryAttempt(
            at=now,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_excerpt=result.response_excerpt,
            error=result.error,
        )
        after = delivery.attempted(attempt, now, backoff_scale=self.backoff_scale)
        self._save(scope, delivery, after)
        if after.status == "delivered":
            if endpoint.failing_since is not None:
                self.endpoints.record_success(scope, endpoint.id, now)
            return Dispatched("delivered")
        reason = result.error or f"HTTP {result.status_code}"
        self.endpoints.record_failure(scope, endpoint.id, now, reason)
        if after.status == "failed":
            logger.warning("webhook delivery failed for good", extra={"delivery_id": delivery.id})
            return Dispatched("failed")
        wait = parse_time(str(after.next_attempt_at)) - parse_time(now)
        return Dispatched("retry", retry_in_seconds=max(0, round(wait.total_seconds())))

    def retry(self, scope: Scope, delivery_id: str) -> WebhookDelivery:
        """``POST /v1/webhook-deliveries/{id}/retry``: send a delivery again, now."""
        for _ in range(5):
            delivery = self.deliveries.get(scope, delivery_id)
            if delivery is None:
                raise NotFound(detail=f"no webhook delivery with id {delivery_id}")
            if delivery.status == "pending":
                raise InvalidStateTransition(detail=f"delivery {delivery.id} is already on its way")
            after = delivery.retried(rfc3339(self.clock.now()))
            try:
                self.deliveries.save(scope, delivery, after)
            except ConcurrentModification:
                continue
            if self.queue is not None:
                self.queue.enqueue(scope, after)
            retried: WebhookDelivery = after
            return retried
        raise ConcurrentModification(detail="the delivery is being changed concurrently")

    def _save(self, scope: Scope, before: WebhookDelivery, after: WebhookDelivery) -> None:
        try:
            self.deliveries.save(scope, before, after)
        except ConcurrentModification:
            # Another copy of the message attempted it at the same moment: its record stands.
            logger.info("delivery recorded concurrently", extra={"delivery_id": before.id})
