"""The deliveries queue on SQS FIFO: one message group per endpoint and aggregate, so an
aggregate's deliveries to one endpoint go in order while every other group flows on."""

from __future__ import annotations

import json
from typing import Any

from billow.domain.tenancy import Scope
from billow.domain.webhook_delivery import WebhookDelivery


class SqsDeliveryQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def enqueue(self, scope: Scope, delivery: WebhookDelivery) -> None:
        body = {"tenant_id": scope.tenant_id, "livemode": scope.livemode, "delivery_id": delivery.id}
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(body),
            MessageGroupId=delivery.group[:128],
            # Within SQS's five-minute window, the same delivery in the same state is queued
            # once; a retry by hand is a new version, hence a new message.
            MessageDeduplicationId=f"{delivery.id}:{delivery.version}",
        )
