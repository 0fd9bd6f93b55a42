"""Inbound gateway webhooks (``POST /v1/gateway-webhooks/{provider}/{gateway_id}``).

The route carries no API key: the gateway id in the path names the tenant (through the
gateway's lookup item) and the provider's signature, checked with the provider's own SDK
helper and the gateway's webhook secret, proves the sender. Each event then goes through the
same recording as a charge's answer (services/payments.py): a redelivered event finds its
marker and changes nothing, and a report the payment is already past (a late "processing"
after "succeeded") is no change at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from aws_lambda_powertools import Logger

from billow.domain.errors import InvalidSignature, NotFound
from billow.domain.gateway import GatewayConfig
from billow.domain.payment import PaymentStatus
from billow.domain.tenancy import Scope
from billow.ports.gateways import GatewayEvent, GatewayRefused
from billow.services.payments import PaymentService, Report
from billow.services.refunds import RefundService

logger = Logger(service="billow")
PAYMENT_STATUSES = frozenset(get_args(PaymentStatus))


@dataclass(frozen=True)
class Receipt:
    received: int
    applied: int


@dataclass
class GatewayWebhookService:
    payments: PaymentService
    refunds: RefundService

    def receive(self, provider: str, gateway_id: str, body: bytes, headers: Mapping[str, str]) -> Receipt:
        gateways = self.payments.gateways
        scope = gateways.scope_of(gateway_id)
        config = gateways.get(scope, gateway_id) if scope is not None else None
        if scope is None or config is None or config.provider != provider:
            raise NotFound(detail=f"no {provider} gateway with id {gateway_id}")
        try:
            events = self.payments.adapters.gateway(scope, config).verify_webhook(body, headers)
        except GatewayRefused as refused:
            raise InvalidSignature(
                detail=f"the webhook's signature does not verify: {refused.detail}"
            ) from None
        applied = sum(1 for event in events if self._apply(scope, config, event))
        return Receipt(len(events), applied)

    def _apply(self, scope: Scope, config: GatewayConfig, event: GatewayEvent) -> bool:
        marker = (config.id, event.id)
        if event.kind in ("charge", "dispute"):
            if event.status not in PAYMENT_STATUSES:
                # A dispute won or lost after the chargeback: the money moved already.
                return False
            payment = self.payments.payments.by_reference(scope, config.id, event.reference)
            if payment is None and event.billow_payment_id:
                # The charge's answer was lost (a timeout, a replayed 500): the payment still
                # waits without the gateway's reference, which this event brings.
                candidate = self.payments.payments.get(scope, event.billow_payment_id)
                if (
                    candidate is not None
                    and candidate.gateway_id == config.id
                    and candidate.gateway_reference is None
                ):
                    payment = candidate
            if payment is None:
                logger.info("webhook about an unknown charge", extra={"reference": event.reference})
                return False
            report = Report(
                event.status,  # type: ignore[arg-type]
                event.reference,
                event.failure,
                gateway_event=marker,
            )
            self.payments.record(scope, payment.id, report)
            return True
        if event.kind == "refund":
            refund = self.payments.payments.refund_by_reference(scope, config.id, event.reference)
            if refund is None or event.status not in ("pending", "succeeded", "failed"):
                return False
            self.refunds.record(
                scope,
                refund.id,
                event.status,  # type: ignore[arg-type]
                reference=event.reference,
                failure=event.failure,
                gateway_event=marker,
            )
            return True
        logger.info("gateway event not acted on", extra={"kind": event.kind, "status": event.status})
        return False
