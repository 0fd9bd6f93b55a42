"""Webhook endpoints in the single table: an EntityStore of kind "webhook_endpoint"
(docs/data-model.md). The item holds the sealed signing secrets (KMS ciphertext, base64), never
a secret in clear. A tenant has a handful of endpoints per mode, so finding the ones an event
goes to reads them all (filtered to the enabled ones)."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.domain.webhook_endpoint import (
    WebhookEndpoint,
    webhook_endpoint_from_dict,
    webhook_endpoint_to_record,
)
from billow.ports.repositories import Page, PageResult

WEBHOOK_ENDPOINT = EntityKind[WebhookEndpoint](
    name="webhook_endpoint",
    to_dict=webhook_endpoint_to_record,
    from_dict=webhook_endpoint_from_dict,
)


class DynamoWebhookEndpointRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, WEBHOOK_ENDPOINT)

    def get(self, scope: Scope, endpoint_id: str) -> WebhookEndpoint | None:
        return self.store.get(scope, endpoint_id)

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[WebhookEndpoint]:
        return self.store.list(scope, page, ItemFilter().equals("status", status))

    def save(
        self,
        scope: Scope,
        before: WebhookEndpoint | None,
        after: WebhookEndpoint,
        events: Sequence[EventEnvelope],
    ) -> None:
        self.store.write(scope, [(before, after)], events)
