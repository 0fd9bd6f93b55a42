"""Payment gateway configurations in the single table (an EntityStore of kind
"payment_gateway"; docs/data-model.md). A tenant has a handful per mode: listing them all is
how the default is found.

Inbound webhooks name only the gateway (``/v1/gateway-webhooks/{provider}/{gateway_id}``, no
API key), so each gateway also has a lookup item ``GATEWAY#{id}`` giving its tenant and mode,
written in the transaction that creates it."""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable, Transaction
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
        self.table = table
        self.store = EntityStore(table, GATEWAY)

    def scope_of(self, gateway_id: str) -> Scope | None:
        """The tenant and mode of a gateway, from its id alone (inbound webhooks)."""
        item = self.table.get(f"GATEWAY#{gateway_id}", "GATEWAY")
        return Scope(str(item["tenant_id"]), bool(item["livemode"])) if item else None

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
        tx = Transaction()
        for before, after in changes:
            if before is None:
                lookup = {"pk": f"GATEWAY#{after.id}", "sk": "GATEWAY", "kind": "gateway_lookup"}
                values = {**lookup, "tenant_id": scope.tenant_id, "livemode": scope.livemode}
                tx.put("gateway_lookup", self.table.name, values, "attribute_not_exists(pk)")
        self.store.write(scope, changes, events, extra=tx)
