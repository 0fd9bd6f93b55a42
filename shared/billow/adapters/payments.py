"""Payment collection before gateways exist: a finalized invoice waits for its payment.

The payments issue replaces this with gateway adapters behind the same port; until then the
hand-over is recorded (the invoice leaves the collection queue) and nothing is charged.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from billow.domain.credit_note import CreditNote
from billow.domain.errors import validation_failed
from billow.domain.invoice import Invoice
from billow.domain.money import Money
from billow.domain.tenancy import Scope
from billow.ports.payments import Handover

logger = Logger(service="billow")


class AwaitingPayment:
    def collect(self, scope: Scope, invoice: Invoice) -> Handover:
        logger.info(
            "invoice awaits payment",
            extra={
                "invoice_id": invoice.id,
                "tenant_id": scope.tenant_id,
                "method": invoice.collection_method,
            },
        )
        return Handover("awaiting_payment", "no payment gateway is configured; the invoice awaits payment")

    def refund(self, scope: Scope, invoice: Invoice, note: CreditNote, amount: Money) -> None:
        # Nothing can have been paid through a gateway yet, so there is nothing to send back.
        raise validation_failed("/outcome", "no payment gateway is configured to refund through")
