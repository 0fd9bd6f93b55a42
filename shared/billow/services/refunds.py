"""Refunds: money sent back of an invoice's payments, always with a credit note (docs/payments.md).

``POST /v1/refunds`` and a credit note with outcome ``refund`` are the same use case: the
credit note, the refunds it sends (one per payment it draws on, newest payment first), the
amounts taken from those payments' refundable amounts and the events are one transaction
(CreditNoteService.issue). Then each refund goes to its gateway with the key
``billow-refund-{refund_id}`` (a manual payment's refund is recorded as done: the money went
back outside Billow), and the answer is recorded; a refused refund gives its amount back to
the payment. A refund whose gateway did not answer stays ``pending`` until
``POST /v1/refunds/{id}/retry`` (or the gateway's webhook) settles it.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from billow.domain.errors import (
    AlreadyApplied,
    ConcurrentModification,
    InvalidStateTransition,
    NotFound,
    validation_failed,
)
from billow.domain.events import EventEnvelope
from billow.domain.invoice import Invoice
from billow.domain.money import Money, minor_units, parse_decimal
from billow.domain.payment import (
    Payment,
    PaymentFailure,
    Refund,
    RefundStatus,
    payment_to_dict,
    refund_to_dict,
)
from billow.domain.tenancy import Scope
from billow.ports.gateways import GatewayRefused, GatewayUnavailable
from billow.ports.queries import Page, PageResult
from billow.services.events import change_event

if TYPE_CHECKING:
    from billow.services.credit_notes import CreditNoteService
    from billow.services.payments import PaymentService

logger = Logger(service="billow")
SEND_TRIES = 3
# Our refund reasons, and the credit note reason each one gives.
NOTE_REASON = {
    "duplicate": "duplicate",
    "fraudulent": "fraudulent",
    "requested_by_customer": "other",
    "other": "other",
}


@dataclass(frozen=True)
class RefundPlan:
    """What a refund of an invoice draws on: (payment before, payment after, refund)."""

    draws: tuple[tuple[Payment, Payment, Refund], ...]
    events: tuple[EventEnvelope, ...]


@dataclass
class RefundService:
    payments: PaymentService
    credit_notes: CreditNoteService

    @property
    def repository(self) -> Any:
        return self.payments.payments

    # --- reading ----------------------------------------------------------------------------

    def get(self, scope: Scope, refund_id: str) -> Refund:
        refund: Refund | None = self.repository.get_refund(scope, refund_id)
        if refund is None:
            raise NotFound(detail=f"no refund with id {refund_id}")
        return refund

    def list(
        self, scope: Scope, page: Page, *, payment_id: str | None = None, status: str | None = None
    ) -> PageResult[Refund]:
        result: PageResult[Refund] = self.repository.list_refunds(
            scope, page, payment_id=payment_id, status=status
        )
        return result

    # --- creating -----------------------------------------------------------------------------

    def create(self, scope: Scope, raw: Mapping[str, Any]) -> Refund:
        """``POST /v1/refunds``: refund (part of) one payment, with its credit note."""
        payment = self.payments.get(scope, raw["payment_id"])
        if payment.status != "succeeded":
            raise InvalidStateTransition(
                detail=f"payment {payment.id} is {payment.status}: only a succeeded payment can be refunded"
            )
        amount = payment.refundable
        if raw.get("amount") is not None:
            value = parse_decimal(raw["amount"], "/amount", max_decimals=minor_units(payment.currency))
            if value <= 0:
                raise validation_failed("/amount", "must be more than zero")
            if value > payment.refundable.amount:
                raise validation_failed(
                    "/amount",
                    f"payment {payment.id} has {payment.refundable.amount} {payment.currency} left to refund",
                )
            amount = Money(value, payment.currency)
        elif amount.amount <= 0:
            raise InvalidStateTransition(detail=f"payment {payment.id} is already fully refunded")
        reason = raw.get("reason") or "requested_by_customer"
        note, refunds = self.credit_notes.issue_with_refunds(
            scope,
            {
                "invoice_id": payment.invoice_id,
                "amount": str(amount.amount),
                "reason": NOTE_REASON[reason],
                "outcome": "refund",
                "memo": raw.get("memo") or "Refund",
                "metadata": dict(raw.get("metadata") or {}),
            },
            refund_request={"payment_id": payment.id, "reason": reason, "metadata": raw.get("metadata")},
        )
        del note
        refund: Refund = refunds[0]
        return refund

    def plan(
        self,
        scope: Scope,
        invoice: Invoice,
        amount: Money,
        note_id: str,
        now: str,
        request: Mapping[str, Any] | None = None,
    ) -> RefundPlan:
        """Draw ``amount`` from the invoice's succeeded payments (the named one only, else the
        newest first); 422 when they hold less."""
        request = request or {}
        payments = [p for p in self.repository.of_invoice(scope, invoice.id) if p.refundable.amount > 0]
        if request.get("payment_id"):
            payments = [p for p in payments if p.id == request["payment_id"]]
        payments.sort(key=lambda p: p.created_at, reverse=True)
        available = sum((p.refundable.amount for p in payments), Decimal(0))
        if amount.amount > available:
            raise validation_failed(
                "/amount",
                f"the invoice's payments have {available} {invoice.currency} left to refund; "
                f"this refund is {amount.amount} {invoice.currency}",
            )
        left = amount.amount
        draws: builtins.list[tuple[Payment, Payment, Refund]] = []
        events: builtins.list[EventEnvelope] = []
        for payment in payments:
            if left <= 0:
                break
            part = Money(min(left, payment.refundable.amount), invoice.currency)
            left -= part.amount
            manual = payment.kind == "manual"
            refund = Refund(
                id=self.payments.new_id(),
                livemode=scope.livemode,
                payment_id=payment.id,
                invoice_id=invoice.id,
                customer_id=invoice.customer_id,
                amount=part.amount,
                currency=invoice.currency,
                reason=request.get("reason") or "requested_by_customer",
                status="succeeded" if manual else "pending",
                created_at=now,
                updated_at=now,
                credit_note_id=note_id,
                gateway_id=payment.gateway_id,
                sent=manual,
                metadata=dict(request.get("metadata") or {}),
            )
            after = payment.refunded(part, now)
            draws.append((payment, after, refund))
            events += [
                change_event(
                    scope, "refund.created", "refund", refund_to_dict(refund), new_id=self.payments.new_id
                ),
                change_event(
                    scope, "payment.refunded", "payment", payment_to_dict(after), new_id=self.payments.new_id
                ),
            ]
        return RefundPlan(tuple(draws), tuple(events))

    # --- sending and recording -----------------------------------------------------------

    def send_all(self, scope: Scope, refunds: Sequence[Refund]) -> builtins.list[Refund]:
        return [self.send(scope, refund) for refund in refunds]

    def retry(self, scope: Scope, refund_id: str) -> Refund:
        refund = self.get(scope, refund_id)
        if refund.status != "pending":
            raise InvalidStateTransition(detail=f"refund {refund.id} is already {refund.status}")
        return self.send(scope, refund)

    def send(self, scope: Scope, refund: Refund) -> Refund:
        if refund.status != "pending" or refund.gateway_id is None:
            return refund
        payment = self.payments.get(scope, refund.payment_id)
        gateway = self.payments.gateways.get(scope, refund.gateway_id)
        if gateway is None or payment.gateway_reference is None:  # pragma: no cover - never deleted
            raise NotFound(detail="the refund's gateway or charge is unknown")
        adapter = self.payments.adapters.gateway(scope, gateway)
        for attempt in range(SEND_TRIES):
            try:
                outcome = adapter.refund(payment.gateway_reference, refund.money, refund.idempotency_key)
            except GatewayUnavailable as unavailable:
                logger.warning(
                    "refund not answered", extra={"refund_id": refund.id, "detail": unavailable.detail}
                )
                time.sleep(0.2 * (attempt + 1))
                continue
            except GatewayRefused as refused:
                return self.record(
                    scope, refund.id, "failed", failure=PaymentFailure(refused.code, refused.detail)
                )
            return self.record(
                scope, refund.id, outcome.status, reference=outcome.reference, failure=outcome.failure
            )
        return refund

    def record(
        self,
        scope: Scope,
        refund_id: str,
        status: RefundStatus,
        *,
        reference: str | None = None,
        failure: PaymentFailure | None = None,
        gateway_event: tuple[str, str] | None = None,
    ) -> Refund:
        invoicing = self.payments.invoicing
        for attempt in range(20):
            refund = self.get(scope, refund_id)
            invoice = invoicing.get(scope, refund.invoice_id)
            now = self.payments.time_of(scope, invoice)
            after = refund.observe(status, now, gateway_reference=reference, failure=failure)
            if after is None:
                return refund
            writes: dict[str, Any] = {"refunds": [(refund, after)], "gateway_event": gateway_event, "at": now}
            events = [self._refund_event(scope, after)]
            if after.status == "failed" and refund.status == "pending":
                payment = self.payments.get(scope, refund.payment_id)
                released = payment.refund_released(refund.money, now)
                writes["payments"] = [(payment, released)]
                events.append(
                    change_event(
                        scope,
                        "payment.updated",
                        "payment",
                        payment_to_dict(released),
                        new_id=self.payments.new_id,
                    )
                )
            try:
                invoicing.invoices.save(scope, [], events, also=self.payments.staged(scope, **writes))
            except AlreadyApplied:
                return self.get(scope, refund_id)
            except ConcurrentModification:
                time.sleep(min(0.002 * (attempt + 1), 0.05))
                continue
            return after
        raise ConcurrentModification(detail="the refund is being changed by many reports at once")

    def _refund_event(self, scope: Scope, refund: Refund) -> EventEnvelope:
        kind = {"succeeded": "refund.succeeded", "failed": "refund.failed"}.get(
            refund.status, "refund.updated"
        )
        return change_event(scope, kind, "refund", refund_to_dict(refund), new_id=self.payments.new_id)
