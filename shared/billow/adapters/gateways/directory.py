"""Which adapter speaks for a gateway configuration: the sandbox (its ledger in the table),
Stripe or GoCardless (their SDKs, with the gateway's opened credentials). The SDK modules are
imported only when a gateway of theirs is used, so an API cold start loads neither."""

from __future__ import annotations

from collections.abc import Callable

from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.gateway import GatewayConfig
from billow.domain.tenancy import Scope
from billow.ports.gateways import PaymentGateway
from billow.settings import get_settings


class GatewayAdapters:
    def __init__(
        self, table: DynamoTable, credentials: Callable[[Scope, GatewayConfig], dict[str, str]]
    ) -> None:
        self.table = table
        self.credentials = credentials

    def gateway(self, scope: Scope, config: GatewayConfig) -> PaymentGateway:
        if config.provider == "sandbox":
            from billow.adapters.dynamodb.sandbox_ledger import DynamoSandboxLedger
            from billow.adapters.gateways.sandbox import SandboxGateway

            return SandboxGateway(DynamoSandboxLedger(self.table, scope, config.id))
        opened = self.credentials(scope, config)
        settings = get_settings()
        if config.provider == "stripe":
            from billow.adapters.gateways.stripe import StripeGateway

            return StripeGateway(
                opened["secret_key"],
                opened.get("webhook_secret"),
                api_base=settings.stripe_api_base or None,
            )
        from billow.adapters.gateways.gocardless import GoCardlessGateway

        return GoCardlessGateway(
            opened["access_token"],
            opened.get("webhook_secret"),
            api_base=settings.gocardless_api_base or None,
        )
