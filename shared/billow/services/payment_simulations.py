"""Test payment simulations (``/v1/test-payment-simulations``, sandbox keys only).

Two kinds, like the test helpers of card networks and gateways:

- ``payment_method_id``: the next charge of that sandbox payment method succeeds, fails (with
  a decline code) or needs authentication, whatever its token says. The forced outcome waits
  in the sandbox gateway's ledger and the charge that takes it uses it up.
- ``payment_id``: what a gateway would report later about that payment happens now: a pending
  debit succeeds or fails, an authentication is completed or abandoned, a succeeded payment is
  charged back. It is recorded exactly as a gateway webhook would be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billow.domain.errors import Forbidden, InvalidStateTransition, validation_failed
from billow.domain.payment import PaymentFailure, PaymentStatus, payment_to_dict
from billow.domain.tenancy import Scope
from billow.ports.gateways import OutcomeForcing
from billow.services.payments import PaymentService, Report

OUTCOMES = ("succeed", "fail", "require_action", "charge_back")
_STATUS: dict[str, PaymentStatus] = {
    "succeed": "succeeded",
    "fail": "failed",
    "require_action": "requires_action",
    "charge_back": "charged_back",
}


@dataclass
class PaymentSimulationService:
    payments: PaymentService

    def simulate(self, scope: Scope, raw: Mapping[str, Any]) -> dict[str, Any]:
        if scope.livemode:
            raise Forbidden(detail="test payment simulations exist only for sandbox keys (bk_test_…)")
        outcome = raw["outcome"]
        has_method, has_payment = bool(raw.get("payment_method_id")), bool(raw.get("payment_id"))
        if has_method == has_payment:
            raise validation_failed("/payment_id", "name either a payment_id or a payment_method_id")
        simulation = {
            "id": self.payments.new_id(),
            "object": "test_payment_simulation",
            "livemode": False,
            "outcome": outcome,
            "decline_code": raw.get("decline_code"),
            "payment_method_id": raw.get("payment_method_id"),
            "payment_id": raw.get("payment_id"),
        }
        if has_method:
            return {**simulation, **self._force_next(scope, simulation)}
        return {**simulation, **self._report(scope, simulation)}

    def _sandbox_gateway(self, scope: Scope, gateway_id: str, pointer: str) -> Any:
        gateway = self.payments.gateways.get(scope, gateway_id)
        if gateway is None or gateway.provider != "sandbox":
            raise validation_failed(pointer, "simulations drive the sandbox gateway only")
        return gateway

    def _force_next(self, scope: Scope, simulation: dict[str, Any]) -> dict[str, Any]:
        pointer = "/payment_method_id"
        if simulation["outcome"] == "charge_back":
            raise validation_failed("/outcome", "a charge-back happens to a payment: name its payment_id")
        method = self.payments.methods.get(scope, simulation["payment_method_id"])
        if method is None:
            raise validation_failed(pointer, f"no payment method with id {simulation['payment_method_id']}")
        gateway = self._sandbox_gateway(scope, method.gateway_id, pointer)
        adapter = self.payments.adapters.gateway(scope, gateway)
        if not isinstance(adapter, OutcomeForcing):  # pragma: no cover - sandbox gateways force outcomes
            raise validation_failed(pointer, "this gateway's outcomes cannot be forced")
        adapter.force_next(
            simulation["id"], method.gateway_token, simulation["outcome"], simulation["decline_code"]
        )
        return {"status": "pending", "applies_to": "next_charge"}

    def _report(self, scope: Scope, simulation: dict[str, Any]) -> dict[str, Any]:
        payment = self.payments.get(scope, simulation["payment_id"])
        if payment.kind != "gateway" or payment.gateway_id is None:
            raise validation_failed("/payment_id", "a manual payment has no gateway to simulate")
        self._sandbox_gateway(scope, payment.gateway_id, "/payment_id")
        status = _STATUS[simulation["outcome"]]
        if status == "charged_back" and payment.status != "succeeded":
            raise InvalidStateTransition(
                detail=f"payment {payment.id} is {payment.status}: only a succeeded one can be charged back"
            )
        if status != "charged_back" and payment.status not in ("pending", "processing", "requires_action"):
            raise InvalidStateTransition(detail=f"payment {payment.id} is already {payment.status}")
        failure = (
            PaymentFailure(
                "card_declined", "The payment was declined.", simulation["decline_code"] or "generic_decline"
            )
            if status == "failed"
            else None
        )
        after = self.payments.record(scope, payment.id, Report(status, payment.gateway_reference, failure))
        return {"status": "applied", "payment": payment_to_dict(after)}
