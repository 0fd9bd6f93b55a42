"""The deliveries queue on SQS FIFO: one message group per endpoint and aggregate, so an
aggregate's deliveries to one endpoint go in order while every other group flows on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from billow.domain.tenancy import Scope
from billow.domain.webhook_delivery import WebhookDelivery


class SqsDeliveryQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def enqueue(self, scope: Scope, delivery: WebhookDelivery) -> None:
        self.enqueue_all(scope, [delivery])

    def enqueue_all(self, scope: Scope, deliveries: Sequence[WebhookDelivery]) -> None:
        for start in range(0, len(deliveries), 10):  # SQS takes 10 messages per batch
            batch = deliveries[start : start + 10]
            answer = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[self._entry(scope, str(i), d) for i, d in enumerate(batch)],
            )
            if answer.get("Failed"):
                # Nothing is lost: the event is fanned out again and the message sent again.
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} webhook deliveries")

    @staticmethod
    def _entry(scope: Scope, entry_id: str, delivery: WebhookDelivery) -> dict[str, Any]:
        body = {"tenant_id": scope.tenant_id, "livemode": scope.livemode, "delivery_id": delivery.id}
        return {
            "Id": entry_id,
            "MessageBody": json.dumps(body),
            "MessageGroupId": delivery.group[:128],
            # Within SQS's five-minute window, the same delivery in the same state is queued
            # once; a retry by hand is a new version, hence a new message.
            "MessageDeduplicationId": f"{delivery.id}:{delivery.version}",
        }
