"""Payment gateway configurations in the single table (an EntityStore of kind
"payment_gateway"; docs/data-model.md). A tenant has a handful per mode: listing them all is
how the default is found."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.events import EventEnvelope
from billow.domain.gateway import GatewayConfig, gateway_from_dict, gateway_to_record
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult

GATEWAY = EntityKind[GatewayConfig](
    name="payment_gateway",
    to_dict=gateway_to_record,
    from_dict=gateway_from_dict,
)


class DynamoGatewayRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.store = EntityStore(table, GATEWAY)

    def get(self, scope: Scope, gateway_id: str) -> GatewayConfig | None:
        return self.store.get(scope, gateway_id)

    def list(self, scope: Scope, page: Page, provider: str | None = None) -> PageResult[GatewayConfig]:
        return self.store.list(scope, page, ItemFilter().equals("provider", provider))

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[GatewayConfig | None, GatewayConfig]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """Several gateways at once (a new default and the old one), all or nothing."""
        self.store.write(scope, changes, events)
