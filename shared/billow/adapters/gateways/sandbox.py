"""The sandbox gateway: moves no money, answers like a real gateway.

What a charge does depends on the payment method's token, the way card networks' test numbers
do (docs/payments.md):

| token | outcome |
|---|---|
| `pm_sandbox_declined` | failed, `card_declined` / `generic_decline` |
| `pm_sandbox_insufficient_funds` | failed, `card_declined` / `insufficient_funds` |
| `pm_sandbox_expired` | failed, `expired_card` |
| `pm_sandbox_authentication_required` | requires_action, with a URL to send the customer to |
| `pm_sandbox_debit` | processing (a bank debit settles later) |
| `pm_sandbox_unavailable` | the gateway does not answer: `GatewayUnavailable`, nothing recorded |
| any other `pm_sandbox_…` | succeeded |

Every charge is recorded in the ledger under its idempotency key before it is answered; the
same key answers the first outcome again, as Stripe and GoCardless do, so a retry after a
timeout never charges twice. The ledger is also what tests count charges in.

A test payment simulation (``/v1/test-payment-simulations``) can force the next charge of a
payment method to succeed, fail (with a decline code) or need authentication, whatever its
token says; the forced outcome is used up by the charge that takes it, in the same write.
Refunds are kept under their own idempotency keys and always succeed. The sandbox sends no
webhooks: simulations of what a gateway would report later (a bank debit settling, a
chargeback) are applied by the payments service directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from billow.domain.money import Money
from billow.domain.payment import PaymentFailure
from billow.ports.gateways import (
    ChargeOutcome,
    ChargeRequest,
    GatewayEvent,
    GatewayRefused,
    GatewayUnavailable,
    RefundOutcome,
)

_DECLINES: dict[str, PaymentFailure] = {
    "pm_sandbox_declined": PaymentFailure("card_declined", "The card was declined.", "generic_decline"),
    "pm_sandbox_insufficient_funds": PaymentFailure(
        "card_declined", "The card has insufficient funds.", "insufficient_funds"
    ),
    "pm_sandbox_expired": PaymentFailure("expired_card", "The card has expired.", None),
}


@dataclass(frozen=True)
class SandboxCharge:
    idempotency_key: str
    amount: Money
    payment_method_token: str
    outcome: ChargeOutcome


@dataclass(frozen=True)
class ForcedOutcome:
    """What a test payment simulation asks the next charge of a payment method to do."""

    id: str
    payment_method_token: str
    outcome: str  # succeed, fail, require_action
    decline_code: str | None = None


@dataclass(frozen=True)
class SandboxRefund:
    idempotency_key: str
    charge_reference: str
    amount: Money
    reference: str


class SandboxLedger(Protocol):
    def record(self, charge: SandboxCharge, forced: ForcedOutcome | None = None) -> SandboxCharge | None:
        """Keep the charge under its idempotency key, once: a key already kept returns the
        charge kept first. With ``forced``, use it up in the same write (None: another charge
        used it first)."""
        ...

    def forced(self, payment_method_token: str) -> ForcedOutcome | None: ...

    def force_next(self, forced: ForcedOutcome) -> None: ...

    def record_refund(self, refund: SandboxRefund) -> SandboxRefund: ...

    def charges(self) -> list[SandboxCharge]: ...


def _reference(idempotency_key: str) -> str:
    return "sbx_ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def forced_outcome(request: ChargeRequest, forced: ForcedOutcome) -> ChargeOutcome:
    reference = _reference(request.idempotency_key)
    if forced.outcome == "fail":
        code = forced.decline_code or "generic_decline"
        return ChargeOutcome(
            "failed", reference, failure=PaymentFailure("card_declined", "The card was declined.", code)
        )
    if forced.outcome == "require_action":
        url = f"https://sandbox.billow.invalid/authenticate/{reference}"
        return ChargeOutcome("requires_action", reference, next_action_url=url)
    return ChargeOutcome("succeeded", reference)


def decide(request: ChargeRequest) -> ChargeOutcome:
    """The outcome the token asks for."""
    token, reference = request.payment_method_token, _reference(request.idempotency_key)
    if token in _DECLINES:
        return ChargeOutcome("failed", reference, failure=_DECLINES[token])
    if token == "pm_sandbox_authentication_required":
        return ChargeOutcome(
            "requires_action",
            reference,
            next_action_url=f"https://sandbox.billow.invalid/authenticate/{reference}",
        )
    if token == "pm_sandbox_debit":
        return ChargeOutcome("processing", reference)
    return ChargeOutcome("succeeded", reference)


class SandboxGateway:
    def __init__(self, ledger: SandboxLedger) -> None:
        self.ledger = ledger

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        if not request.payment_method_token.startswith("pm_sandbox_"):
            raise GatewayRefused("resource_missing", "the sandbox gateway only knows pm_sandbox_… tokens")
        if request.amount.amount <= 0:
            raise GatewayRefused("amount_too_small", "a charge must be more than zero")
        if request.payment_method_token == "pm_sandbox_unavailable":
            raise GatewayUnavailable("the sandbox gateway did not answer (simulated)")
        kept: SandboxCharge | None = None
        while kept is None:
            forced = self.ledger.forced(request.payment_method_token)
            outcome = forced_outcome(request, forced) if forced else decide(request)
            charge = SandboxCharge(
                request.idempotency_key, request.amount, request.payment_method_token, outcome
            )
            kept = self.ledger.record(charge, forced)
        if kept.amount != request.amount or kept.payment_method_token != request.payment_method_token:
            # Stripe answers a reused key with other parameters with an error: so does the sandbox.
            raise GatewayRefused("idempotency_key_in_use", "the idempotency key was used for another charge")
        return kept.outcome

    def force_next(
        self, simulation_id: str, payment_method_token: str, outcome: str, decline_code: str | None
    ) -> None:
        self.ledger.force_next(ForcedOutcome(simulation_id, payment_method_token, outcome, decline_code))

    def refund(self, charge_reference: str, amount: Money, idempotency_key: str) -> RefundOutcome:
        if amount.amount <= 0:
            raise GatewayRefused("amount_too_small", "a refund must be more than zero")
        reference = "sbx_re_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        kept = self.ledger.record_refund(SandboxRefund(idempotency_key, charge_reference, amount, reference))
        if kept.charge_reference != charge_reference or kept.amount != amount:
            raise GatewayRefused("idempotency_key_in_use", "the idempotency key was used for another refund")
        return RefundOutcome("succeeded", kept.reference)

    def verify_webhook(self, payload: bytes, headers: Mapping[str, str]) -> list[GatewayEvent]:
        # Nothing outside Billow speaks for the sandbox: its later reports are simulations.
        raise GatewayRefused("invalid_signature", "the sandbox gateway sends no webhooks")
