"""Payments: money collected against an invoice, through a gateway or recorded by hand.

A gateway payment is one attempt to charge a payment method for an invoice. Its status only
moves forward: a gateway may report the same change twice or out of order (a late
"processing" after "succeeded"), and ``observe`` turns such reports into no change at all.

    pending ──► processing ──► succeeded ──► charged_back
       │   ╲        ▲   │
       │    ╲       │   └──► failed
       │     ► requires_action ──► succeeded | failed
       └──────────────────────────► failed

A failed attempt stays failed; retrying the invoice is a new attempt with its own idempotency
key (``attempt_key``), so the gateway can never mistake a retry for a repeat of the same call,
nor a repeat for a new charge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from billow.domain.errors import InvalidStateTransition
from billow.domain.money import Money

PaymentStatus = Literal["pending", "processing", "requires_action", "succeeded", "failed", "charged_back"]
PaymentKind = Literal["gateway", "manual"]
ManualMethod = Literal["bank_transfer", "cash", "check", "other"]
MANUAL_METHODS: tuple[ManualMethod, ...] = ("bank_transfer", "cash", "check", "other")

# Which reported status may follow which: anything else is stale or a repeat, and ignored.
_NEXT: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    "pending": frozenset({"processing", "requires_action", "succeeded", "failed"}),
    "processing": frozenset({"requires_action", "succeeded", "failed"}),
    "requires_action": frozenset({"processing", "succeeded", "failed"}),
    "succeeded": frozenset({"charged_back"}),
    "failed": frozenset(),
    "charged_back": frozenset(),
}
SETTLED: frozenset[PaymentStatus] = frozenset({"succeeded", "failed", "charged_back"})


def attempt_key(invoice_id: str, attempt: int) -> str:
    """The gateway idempotency key of an invoice's n-th charge attempt (DESIGN.md): the same
    attempt always sends the same key, a retry sends a new one."""
    return f"billow-{invoice_id}-attempt-{attempt}"


@dataclass(frozen=True)
class PaymentFailure:
    """Why a charge failed, in the gateway's words (``code``: e.g. card_declined) and ours."""

    code: str
    message: str
    decline_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "decline_code": self.decline_code}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaymentFailure:
        return cls(str(data["code"]), str(data["message"]), data.get("decline_code"))


@dataclass(frozen=True)
class Payment:
    id: str
    livemode: bool
    invoice_id: str
    customer_id: str
    amount: Decimal
    currency: str
    kind: PaymentKind
    status: PaymentStatus
    created_at: str
    updated_at: str
    # Gateway payments: the gateway, the payment method charged, the attempt and its key.
    gateway_id: str | None = None
    payment_method_id: str | None = None
    attempt: int = 0
    idempotency_key: str | None = None
    # The gateway's own id of the charge (a PaymentIntent, a GoCardless payment, ...).
    gateway_reference: str | None = None
    # Manual payments: how the money came and the payer's reference.
    method: ManualMethod | None = None
    reference: str | None = None
    failure: PaymentFailure | None = None
    # The customer must act (3-D Secure): where to send them.
    next_action_url: str | None = None
    amount_refunded: Decimal = Decimal(0)
    succeeded_at: str | None = None
    failed_at: str | None = None
    charged_back_at: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def refundable(self) -> Money:
        """What a refund may still send back: what succeeded less what was refunded."""
        if self.status != "succeeded":
            return Money.zero(self.currency)
        return Money(self.amount - self.amount_refunded, self.currency)

    def observe(
        self,
        status: PaymentStatus,
        now: str,
        *,
        gateway_reference: str | None = None,
        failure: PaymentFailure | None = None,
        next_action_url: str | None = None,
    ) -> Payment | None:
        """The payment after the gateway reported ``status``, or None when the report changes
        nothing (a repeat, or a step the payment is already past)."""
        if status == self.status or status not in _NEXT[self.status]:
            return None
        stamps: dict[str, Any] = {}
        if status == "succeeded":
            stamps["succeeded_at"] = now
        elif status == "failed":
            stamps["failed_at"] = now
        elif status == "charged_back":
            stamps["charged_back_at"] = now
        return replace(
            self,
            status=status,
            updated_at=now,
            version=self.version + 1,
            gateway_reference=gateway_reference or self.gateway_reference,
            failure=failure if status == "failed" else self.failure,
            next_action_url=next_action_url if status == "requires_action" else None,
            **stamps,
        )

    def refunded(self, amount: Money, now: str) -> Payment:
        if amount.currency != self.currency or amount.amount <= 0:
            raise InvalidStateTransition(
                detail=f"a refund of payment {self.id} must be positive, in {self.currency}"
            )
        if amount.amount > self.refundable.amount:
            raise InvalidStateTransition(
                detail=f"payment {self.id} has {self.refundable.amount} {self.currency} left to refund"
            )
        return replace(
            self,
            amount_refunded=self.amount_refunded + amount.amount,
            updated_at=now,
            version=self.version + 1,
        )

    def refund_released(self, amount: Money, now: str) -> Payment:
        """A refund the gateway refused: its amount can be refunded again."""
        released = min(amount.amount, self.amount_refunded)
        return replace(
            self, amount_refunded=self.amount_refunded - released, updated_at=now, version=self.version + 1
        )


def payment_to_dict(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "object": "payment",
        "livemode": payment.livemode,
        "invoice_id": payment.invoice_id,
        "customer_id": payment.customer_id,
        "amount": payment.money.as_dict(),
        "amount_refunded": Money(payment.amount_refunded, payment.currency).as_dict(),
        "kind": payment.kind,
        "status": payment.status,
        "gateway_id": payment.gateway_id,
        "payment_method_id": payment.payment_method_id,
        "attempt": payment.attempt,
        "gateway_reference": payment.gateway_reference,
        "method": payment.method,
        "reference": payment.reference,
        "failure": payment.failure.to_dict() if payment.failure else None,
        "next_action": {"type": "redirect_to_url", "url": payment.next_action_url}
        if payment.next_action_url
        else None,
        "succeeded_at": payment.succeeded_at,
        "failed_at": payment.failed_at,
        "charged_back_at": payment.charged_back_at,
        "metadata": dict(payment.metadata),
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "version": payment.version,
    }


def payment_from_dict(data: dict[str, Any]) -> Payment:
    failure = data.get("failure")
    next_action = data.get("next_action") or {}
    return Payment(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        invoice_id=str(data["invoice_id"]),
        customer_id=str(data["customer_id"]),
        amount=Decimal(str(data["amount_exact"] if "amount_exact" in data else data["amount"]["amount"])),
        currency=str(data["amount"]["currency"]),
        kind=data.get("payment_kind") or data["kind"],
        status=data["status"],
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        gateway_id=data.get("gateway_id"),
        payment_method_id=data.get("payment_method_id"),
        attempt=int(data.get("attempt") or 0),
        idempotency_key=data.get("idempotency_key"),
        gateway_reference=data.get("gateway_reference"),
        method=data.get("method"),
        reference=data.get("reference"),
        failure=PaymentFailure.from_dict(failure) if failure else None,
        next_action_url=next_action.get("url"),
        amount_refunded=Decimal(str(data.get("amount_refunded_exact") or data["amount_refunded"]["amount"])),
        succeeded_at=data.get("succeeded_at"),
        failed_at=data.get("failed_at"),
        charged_back_at=data.get("charged_back_at"),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version") or 1),
    )


def payment_to_record(payment: Payment) -> dict[str, Any]:
    """The stored form: the API form plus what clients never see and exact amounts (``kind``
    is the table's item kind, so the payment's own kind is stored as ``payment_kind``)."""
    public = payment_to_dict(payment)
    return {
        **{k: v for k, v in public.items() if k != "kind"},
        "payment_kind": payment.kind,
        "idempotency_key": payment.idempotency_key,
        "amount_exact": str(payment.amount),
        "amount_refunded_exact": str(payment.amount_refunded),
    }


def refund_key(refund_id: str) -> str:
    """The gateway idempotency key of a refund: a repeat of the same refund sends it again."""
    return f"billow-refund-{refund_id}"


RefundStatus = Literal["pending", "succeeded", "failed"]
RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer", "other"]
REFUND_REASONS: tuple[RefundReason, ...] = ("duplicate", "fraudulent", "requested_by_customer", "other")


@dataclass(frozen=True)
class Refund:
    """Money sent back of one payment. Its amount is taken from the payment's refundable
    amount when the refund is created (so two refunds can never together exceed it) and given
    back if the gateway refuses it."""

    id: str
    livemode: bool
    payment_id: str
    invoice_id: str
    customer_id: str
    amount: Decimal
    currency: str
    reason: RefundReason
    status: RefundStatus
    created_at: str
    updated_at: str
    credit_note_id: str | None = None
    gateway_id: str | None = None
    gateway_reference: str | None = None
    failure: PaymentFailure | None = None
    # The gateway has been asked at least once (an unknown answer is asked again, same key).
    sent: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def idempotency_key(self) -> str:
        return refund_key(self.id)

    def observe(
        self,
        status: RefundStatus,
        now: str,
        *,
        gateway_reference: str | None = None,
        failure: PaymentFailure | None = None,
    ) -> Refund | None:
        """The refund after the gateway reported ``status``; None when nothing changes (a
        settled refund stays settled)."""
        moves = self.status == "pending" and status != "pending"
        learns = gateway_reference is not None and gateway_reference != self.gateway_reference
        if not moves and not (learns or not self.sent):
            return None
        return replace(
            self,
            status=status if moves else self.status,
            gateway_reference=gateway_reference or self.gateway_reference,
            failure=failure if moves and status == "failed" else self.failure,
            sent=True,
            updated_at=now,
            version=self.version + 1,
        )


def refund_to_dict(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "livemode": refund.livemode,
        "payment_id": refund.payment_id,
        "invoice_id": refund.invoice_id,
        "customer_id": refund.customer_id,
        "amount": refund.money.as_dict(),
        "reason": refund.reason,
        "status": refund.status,
        "credit_note_id": refund.credit_note_id,
        "gateway_id": refund.gateway_id,
        "gateway_reference": refund.gateway_reference,
        "failure": refund.failure.to_dict() if refund.failure else None,
        "metadata": dict(refund.metadata),
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
        "version": refund.version,
    }


def refund_to_record(refund: Refund) -> dict[str, Any]:
    return {**refund_to_dict(refund), "amount_exact": str(refund.amount), "sent": refund.sent}


def refund_from_dict(data: dict[str, Any]) -> Refund:
    failure = data.get("failure")
    return Refund(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        payment_id=str(data["payment_id"]),
        invoice_id=str(data["invoice_id"]),
        customer_id=str(data["customer_id"]),
        amount=Decimal(str(data.get("amount_exact") or data["amount"]["amount"])),
        currency=str(data["amount"]["currency"]),
        reason=data.get("reason") or "other",
        status=data["status"],
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        credit_note_id=data.get("credit_note_id"),
        gateway_id=data.get("gateway_id"),
        gateway_reference=data.get("gateway_reference"),
        failure=PaymentFailure.from_dict(failure) if failure else None,
        sent=bool(data.get("sent", False)),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version") or 1),
    )
