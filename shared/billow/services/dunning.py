"""Dunning: the steps of an invoice's dunning run, as statemachines/dunning.asl.json runs them
(docs/dunning.md).

A run starts when an invoice's automatic payment fails (services/payments.py copies the
policy's steps onto the invoice). Each step falls due ``after_days`` after that first failure;
the invoice work index carries its due time, the billing cycle finds it like any other due
work (real time or a test clock's advance), and starts one execution of the dunning state
machine per step, named ``{run_id}-s{step}`` so a repeated start joins the first. The
execution asks which step is due (``plan``), then runs it:

- ``retry_payment``: a new charge attempt with the customer's default payment method; the
  attempt and the step's being done are one write, so a repeat never charges twice;
- ``notify``: only the ``dunning.step_executed`` event (the tenant's webhook sends the mail);
- ``cancel_subscription``: cancels the invoice's subscription now, then marks the step done;
- ``mark_uncollectible``: the invoice becomes uncollectible in the same write as the step.

Every step is checked against the run's next step and its due time before it acts, so a
repeated, late or stale execution changes nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from billow.domain.errors import ConcurrentModification, InvalidStateTransition
from billow.domain.invoice import Invoice
from billow.domain.tenancy import Scope
from billow.services.payments import MAX_ATTEMPTS, PaymentService

# Cancels a subscription at the step's time (SubscriptionService.cancel_at).
CancelSubscription = Callable[[Scope, str, str], object]


def _scope(ref: Mapping[str, Any]) -> Scope:
    return Scope(str(ref["tenant_id"]), bool(ref["livemode"]))


def execution_name(run_id: str, step: int) -> str:
    return f"{run_id}-s{step}"


@dataclass
class DunningService:
    payments: PaymentService
    cancel_subscription: CancelSubscription

    def plan(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Which step of the invoice's run is due by ``bound`` (the state machine's first task,
        and the billing cycle's choice of execution name)."""
        ref = state["invoice"]
        invoice = self.payments.invoicing.get(_scope(ref), ref["invoice_id"])
        run = invoice.dunning
        bound = str(state["bound"])
        if run is None or invoice.status != "finalized" or not run.is_due(run.next_step, bound):
            return {"invoice": ref, "bound": bound, "due": False}
        step = run.step
        assert step is not None
        return {
            "invoice": ref,
            "bound": bound,
            "due": True,
            "run_id": run.id,
            "step": run.next_step,
            "step_action": step.action,
            "name": execution_name(run.id, run.next_step),
        }

    def run_step(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out the planned step, once."""
        ref, step, bound = state["invoice"], int(state["step"]), str(state["bound"])
        scope = _scope(ref)
        invoice = self.payments.invoicing.get(scope, ref["invoice_id"])
        if not self._due(invoice, str(state["run_id"]), step, bound):
            return {"invoice_id": invoice.id, "step": step, "outcome": "already_done"}
        action = state["step_action"]
        if action == "retry_payment":
            if invoice.open_payment_id is not None:
                # A payment is already on its way (a bank debit): this retry has nothing to do.
                self._advance(scope, invoice.id, str(state["run_id"]), step, bound)
                return {"invoice_id": invoice.id, "step": step, "outcome": "payment_in_progress"}
            payment = self.payments.attempt_charge(
                scope, invoice.id, None, automatic=True, dunning_step=step, at=bound
            )
            outcome = payment.status if payment is not None else "no_payment_method"
            return {"invoice_id": invoice.id, "step": step, "outcome": outcome}
        if action == "cancel_subscription" and invoice.subscription_id is not None:
            # Already canceled or ended: the step's work is done.
            with contextlib.suppress(InvalidStateTransition):
                self.cancel_subscription(scope, invoice.subscription_id, bound)
        self._advance(
            scope,
            invoice.id,
            str(state["run_id"]),
            step,
            bound,
            uncollectible=action == "mark_uncollectible",
        )
        return {"invoice_id": invoice.id, "step": step, "outcome": "done"}

    @staticmethod
    def _due(invoice: Invoice, run_id: str, step: int, bound: str) -> bool:
        run = invoice.dunning
        return (
            run is not None and run.id == run_id and invoice.status == "finalized" and run.is_due(step, bound)
        )

    def _advance(
        self,
        scope: Scope,
        invoice_id: str,
        run_id: str,
        step: int,
        bound: str,
        *,
        uncollectible: bool = False,
    ) -> None:
        payments = self.payments
        for attempt in range(MAX_ATTEMPTS):
            invoice = payments.invoicing.get(scope, invoice_id)
            if not self._due(invoice, run_id, step, bound):
                return
            now = payments.time_of(scope, invoice, bound)
            after, events = payments.dunning_advanced(scope, invoice, now, one_version_from=invoice)
            kind = "invoice.updated"
            if uncollectible:
                after = payments.one_version(invoice, after.mark_uncollectible(now))
                kind = "invoice.marked_uncollectible"
            events.insert(0, payments.invoice_event(scope, kind, after))
            try:
                payments.invoicing.invoices.save(scope, [(invoice, after)], events)
            except ConcurrentModification:
                time.sleep(min(0.002 * (attempt + 1), 0.05))
                continue
            return
