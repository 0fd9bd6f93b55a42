"""Ports of webhook delivery: the queue that orders deliveries per endpoint and aggregate, and
the HTTP sender that calls a tenant's endpoint (adapters/webhooks/)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from billow.adapters.webhooks.http_sender import DeliveryResult
    from billow.domain.tenancy import Scope
    from billow.domain.webhook_delivery import WebhookDelivery


class DeliveryQueue(Protocol):
    def enqueue(self, scope: Scope, delivery: WebhookDelivery) -> None:
        """Queue the delivery behind the earlier ones of its group (endpoint and aggregate).
        Enqueuing the same delivery in the same state twice queues it once."""
        ...

    def enqueue_all(self, scope: Scope, deliveries: Sequence[WebhookDelivery]) -> None:
        """Queue several deliveries (of one event: each in its own group)."""
        ...


class WebhookSender(Protocol):
    def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], *, allow_loopback: bool
    ) -> DeliveryResult:
        """POST the body; never raises for network trouble (the result says what happened)."""
        ...
