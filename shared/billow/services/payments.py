"""Payments: charging invoices through gateways, recording manual payments, and applying what
gateways report later (docs/payments.md).

A charge goes in three writes, each safe to repeat:

1. **start** the attempt: the invoice gets attempt n and its open payment (``pending``), one
   transaction conditional on the invoice's version, so concurrent starts make one attempt;
2. **send** it with the attempt's idempotency key ``billow-{invoice}-attempt-{n}``; a repeat
   (a retried step, a second request finding the attempt pending, a timeout) sends the same
   key, and the gateway answers with the first charge instead of charging again;
3. **record** the answer: the payment, the invoice (paid when covered), the dunning that starts
   on a failure, and the events, in one transaction; a report the payment is already past
   changes nothing.

While an attempt has no answer its invoice stays in the invoice work index (``collect``), so
the billing cycle sends it again until the gateway answers.
"""

from __future__ import annotations

import builtins
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools import Logger

from billow.domain.dunning_run import DunningRun
from billow.domain.errors import (
    AlreadyApplied,
    ConcurrentModification,
    Conflict,
    GatewayNoAnswer,
    InvalidStateTransition,
    NotFound,
    validation_failed,
)
from billow.domain.events import DomainEvent, EventEnvelope
from billow.domain.gateway import GatewayConfig
from billow.domain.invoice import Invoice, invoice_to_dict
from billow.domain.money import Money, minor_units, parse_decimal
from billow.domain.payment import (
    Payment,
    PaymentFailure,
    PaymentStatus,
    attempt_key,
    payment_to_dict,
)
from billow.domain.payment_method import PaymentMethod
from billow.domain.tenancy import Scope
from billow.ports.clock import rfc3339
from billow.ports.gateways import (
    ChargeOutcome,
    ChargeRequest,
    GatewayDirectory,
    GatewayRefused,
    GatewayUnavailable,
)
from billow.ports.payments import Handover
from billow.ports.queries import Page, PageResult
from billow.ports.repositories import (
    CreditEntry,
    GatewayRepository,
    PaymentMethodRepository,
    PaymentRepository,
)
from billow.services.events import change_event, envelope
from billow.services.invoices import InvoiceService

logger = Logger(service="billow")
MAX_ATTEMPTS = 20

# (policy id or None for the built-in one, [(after_days, action), ...]) for a customer and
# the subscription an invoice bills.
PolicyFor = Callable[[Scope, str, str | None], tuple[str | None, Sequence[tuple[int, str]]]]
# Past due (True) or back to active (False): SubscriptionService.payment_standing.
Standing = Callable[[Scope, str, bool], object]


@dataclass(frozen=True)
class Report:
    """What a gateway said about one of its charges, from its answer or a later webhook."""

    status: PaymentStatus
    reference: str | None = None
    failure: PaymentFailure | None = None
    next_action_url: str | None = None
    # The webhook event it came from: recorded with the change, so a redelivery is ignored.
    gateway_event: tuple[str, str] | None = None

    @classmethod
    def of(cls, outcome: ChargeOutcome) -> Report:
        return cls(outcome.status, outcome.reference, outcome.failure, outcome.next_action_url)


@dataclass
class PaymentService:
    invoicing: InvoiceService
    payments: PaymentRepository
    methods: PaymentMethodRepository
    gateways: GatewayRepository
    adapters: GatewayDirectory
    policy_for: PolicyFor
    standing: Standing

    @property
    def new_id(self) -> Callable[[], str]:
        return self.invoicing.new_id

    def time_of(self, scope: Scope, invoice: Invoice, at: str | None = None) -> str:
        """``at`` when a billing-cycle step gives its time (a test clock mid-advance), else now."""
        return at or rfc3339(self.invoicing.now_for(scope, invoice.test_clock_id))

    def staged(self, scope: Scope, **writes: Any) -> Callable[[Any], None]:
        """Payment-side writes for the transaction the invoice repository commits."""

        def stage(tx: Any) -> None:
            self.payments.stage(tx, scope, **writes)

        return stage

    # --- reading ------------------------------------------------------------------------------

    def get(self, scope: Scope, payment_id: str) -> Payment:
        payment = self.payments.get(scope, payment_id)
        if payment is None:
            raise NotFound(detail=f"no payment with id {payment_id}")
        return payment

    def list(
        self,
        scope: Scope,
        page: Page,
        *,
        invoice_id: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
    ) -> PageResult[Payment]:
        return self.payments.list(scope, page, invoice_id=invoice_id, customer_id=customer_id, status=status)

    # --- charging -----------------------------------------------------------------------------

    def pay(self, scope: Scope, invoice_id: str, payment_method_id: str | None) -> Payment:
        """``POST /v1/invoices/{id}/pay``: charge now. An attempt still waiting for its answer is
        sent again (same key) rather than started twice."""
        invoice = self.invoicing.get(scope, invoice_id)
        if invoice.open_payment_id is None:
            invoice.require_payable()
        try:
            payment = self.attempt_charge(scope, invoice_id, payment_method_id, automatic=False)
        except GatewayUnavailable as unavailable:
            open_id = self.invoicing.get(scope, invoice_id).open_payment_id
            raise GatewayNoAnswer(
                detail=f"the gateway did not answer ({unavailable.detail}); payment {open_id} stays pending "
                "and paying again asks the gateway about the same charge"
            ) from None
        assert payment is not None  # an API payment either starts or raises
        return payment

    def collect(self, scope: Scope, invoice: Invoice, at: str | None = None) -> Handover:
        """The payment-collection port: the billing cycle hands over a finalized invoice.
        ``send_invoice`` waits for the customer; ``charge_automatically`` is charged now with the
        customer's default payment method (none: the attempt fails and dunning begins)."""
        if invoice.collection_method != "charge_automatically":
            return Handover("awaiting_payment", "the invoice was sent; the customer pays by its due date")
        try:
            payment = self.attempt_charge(scope, invoice.id, None, automatic=True, at=at)
        except GatewayUnavailable as unavailable:
            # The attempt stays open and the invoice in the work index: the next round asks again.
            logger.warning(
                "gateway did not answer", extra={"invoice_id": invoice.id, "detail": unavailable.detail}
            )
            return Handover("charge_started", "the gateway did not answer; the charge will be asked again")
        if payment is None:
            return Handover("awaiting_payment", "nothing to charge")
        return Handover("charge_started", f"payment {payment.id} is {payment.status}")

    def attempt_charge(
        self,
        scope: Scope,
        invoice_id: str,
        payment_method_id: str | None,
        *,
        automatic: bool,
        dunning_step: int | None = None,
        at: str | None = None,
    ) -> Payment | None:
        for attempt in range(MAX_ATTEMPTS):
            invoice = self.invoicing.get(scope, invoice_id)
            if invoice.open_payment_id is not None:
                open_payment = self.get(scope, invoice.open_payment_id)
                if open_payment.status == "pending":
                    return self._send(scope, invoice, open_payment, at)
                if automatic:
                    return open_payment
                raise InvalidStateTransition(
                    detail=f"payment {open_payment.id} of invoice {invoice.number or invoice.id} is "
                    f"{open_payment.status}; wait for the gateway (or the customer) to settle it"
                )
            if invoice.status not in ("finalized", "uncollectible") or invoice.amount_remaining.amount <= 0:
                if automatic:
                    return None
                invoice.require_payable()
            now = self.time_of(scope, invoice, at)
            method, gateway = self._charge_with(scope, invoice, payment_method_id, automatic=automatic)
            if method is None or gateway is None:
                if self._collects_payments(scope):
                    self._no_payment_method(scope, invoice, now, dunning_step)
                return None
            number = invoice.payment_attempts + 1
            payment = Payment(
                id=self.new_id(),
                livemode=scope.livemode,
                invoice_id=invoice.id,
                customer_id=invoice.customer_id,
                amount=invoice.amount_remaining.amount,
                currency=invoice.currency,
                kind="gateway",
                status="pending",
                created_at=now,
                updated_at=now,
                gateway_id=gateway.id,
                payment_method_id=method.id,
                attempt=number,
                idempotency_key=attempt_key(invoice.id, number),
                metadata={"dunning_step": str(dunning_step)} if dunning_step is not None else {},
            )
            after = replace(invoice.attempt_started(payment.id, now), collection_pending=True)
            events = [self.invoice_event(scope, "invoice.updated", after)]
            if dunning_step is not None and after.dunning is not None:
                after, step_events = self.dunning_advanced(scope, after, now, one_version_from=invoice)
                events = [self.invoice_event(scope, "invoice.updated", after), *step_events]
            if not self._saved_with_new_payment(scope, invoice, after, payment, events, attempt):
                continue
            return self._send(scope, after, payment, at)
        raise ConcurrentModification(detail="the invoice is being paid by many requests at once; retry")

    def _saved_with_new_payment(
        self,
        scope: Scope,
        before: Invoice,
        after: Invoice,
        payment: Payment,
        events: Sequence[EventEnvelope],
        attempt: int,
    ) -> bool:
        """Write the invoice under its read version with a new payment; False when another
        writer came first (after a short, growing pause: the caller reads again)."""
        try:
            self.invoicing.invoices.save(
                scope, [(before, after)], events, also=self.staged(scope, payments=[(None, payment)])
            )
        except ConcurrentModification:
            time.sleep(min(0.002 * (attempt + 1), 0.05))
            return False
        return True

    def _collects_payments(self, scope: Scope) -> bool:
        """Whether the tenant collects through a gateway at all in this mode. A tenant that
        uses Billow for invoicing only (no active gateway) is never put into dunning."""
        page = self.gateways.list(scope, Page(limit=100))
        return any(gateway.status == "active" for gateway in page.items)

    def _charge_with(
        self, scope: Scope, invoice: Invoice, payment_method_id: str | None, *, automatic: bool
    ) -> tuple[PaymentMethod | None, GatewayConfig | None]:
        """The payment method to charge and its gateway, checked before any gateway call."""
        pointer = "/payment_method_id"
        if payment_method_id is None:
            method = next(
                (m for m in self.methods.of_customer(scope, invoice.customer_id) if m.is_default),
                None,
            )
            if method is None or method.status != "active":
                if automatic:
                    return None, None
                raise validation_failed(
                    pointer, "the customer has no default payment method: attach one or name one here"
                )
        else:
            found = self.methods.get(scope, payment_method_id)
            if found is None:
                raise validation_failed(pointer, f"no payment method with id {payment_method_id}")
            method = found
            if method.customer_id != invoice.customer_id:
                raise validation_failed(pointer, "the payment method belongs to another customer")
            if method.status != "active":
                raise validation_failed(pointer, "the payment method is detached")
        gateway = self.gateways.get(scope, method.gateway_id)
        if gateway is None or gateway.status != "active":
            if automatic:
                return None, None
            raise validation_failed(pointer, f"the payment method's gateway {method.gateway_id} is disabled")
        if not gateway.accepts(invoice.currency):
            if automatic:
                return None, None
            raise validation_failed(
                pointer,
                f"{gateway.provider} gateway {gateway.id} does not collect {invoice.currency}; "
                f"it supports {', '.join(gateway.supported_currencies)}",
            )
        return method, gateway

    def _send(self, scope: Scope, invoice: Invoice, payment: Payment, at: str | None = None) -> Payment:
        method = self.methods.get(scope, payment.payment_method_id or "")
        gateway = self.gateways.get(scope, payment.gateway_id or "")
        if method is None or gateway is None:  # pragma: no cover - neither is ever deleted
            raise NotFound(detail="the payment's method or gateway is gone")
        request = ChargeRequest(
            amount=payment.money,
            payment_method_token=method.gateway_token,
            idempotency_key=payment.idempotency_key or attempt_key(invoice.id, payment.attempt),
            description=f"Invoice {invoice.number or invoice.id}",
            customer_token=method.gateway_customer_token,
            metadata={"billow_invoice_id": invoice.id, "billow_payment_id": payment.id},
        )
        try:
            outcome = self.adapters.gateway(scope, gateway).charge(request)
            report = Report.of(outcome)
        except GatewayRefused as refused:
            # The request itself was wrong (an unknown token, a cancelled mandate): nothing was
            # charged, and sending it again cannot help, so the attempt fails.
            report = Report("failed", failure=PaymentFailure(refused.code, refused.detail))
        return self.record(scope, payment.id, report, at)

    def _no_payment_method(self, scope: Scope, invoice: Invoice, now: str, dunning_step: int | None) -> None:
        """Automatic collection without a usable payment method: the attempt fails without a
        gateway call, as if declined, so dunning begins (its retries use a method attached
        meanwhile)."""
        for _ in range(MAX_ATTEMPTS):
            current = self.invoicing.get(scope, invoice.id)
            after = current.touched(now, collection_pending=False)
            failure = PaymentFailure("no_payment_method", "the customer has no usable default payment method")
            events: builtins.list[EventEnvelope] = []
            if dunning_step is not None and after.dunning is not None:
                after, events = self.dunning_advanced(scope, after, now, one_version_from=current)
            elif after.dunning is None:
                after = self._dunning_started(scope, after, now)
            events = [self._payment_failed_event(scope, after, failure), *events]
            try:
                self.invoicing.invoices.save(scope, [(current, after)], events)
            except ConcurrentModification:
                continue
            self._standing(scope, after)
            return

    # --- recording what the gateway said ----------------------------------------------------

    def record(self, scope: Scope, payment_id: str, report: Report, at: str | None = None) -> Payment:
        """Apply a gateway's answer or webhook to the payment and its invoice, once."""
        for attempt in range(MAX_ATTEMPTS):
            payment = self.get(scope, payment_id)
            invoice = self.invoicing.get(scope, payment.invoice_id)
            now = self.time_of(scope, invoice, at)
            after = payment.observe(
                report.status,
                now,
                gateway_reference=report.reference,
                failure=report.failure,
                next_action_url=report.next_action_url,
            )
            if after is None and report.reference and payment.gateway_reference is None:
                # Still pending, but now we know the gateway's id (for its webhooks).
                after = replace(payment, gateway_reference=report.reference, version=payment.version + 1)
            if after is None:
                if report.gateway_event is not None:
                    self._mark_event(scope, invoice, report.gateway_event, now)
                self._standing(scope, invoice)
                return payment
            invoice_after, events, credits = self._invoice_after(scope, invoice, payment, after, now)
            events.insert(0, self._payment_event(scope, after))
            changes = [(invoice, invoice_after)] if invoice_after is not invoice else []
            try:
                self.invoicing.invoices.save(
                    scope,
                    changes,
                    events,
                    credits=credits,
                    also=self.staged(
                        scope, payments=[(payment, after)], gateway_event=report.gateway_event, at=now
                    ),
                )
            except AlreadyApplied:
                return self.get(scope, payment_id)
            except (ConcurrentModification, Conflict):
                time.sleep(min(0.002 * (attempt + 1), 0.05))
                continue
            self._standing(scope, invoice_after)
            return after
        raise ConcurrentModification(detail="the payment is being changed by many reports at once")

    def _invoice_after(
        self, scope: Scope, invoice: Invoice, before: Payment, after: Payment, now: str
    ) -> tuple[Invoice, builtins.list[EventEnvelope], builtins.list[CreditEntry]]:
        """The invoice once the payment moved from ``before`` to ``after``: one new version at
        most, and the events that tell it."""
        credits: builtins.list[CreditEntry] = []
        if after.status == "succeeded":
            changed = invoice.attempt_settled(after.id, now)
            paid, extra = self._applied(invoice, after.money)
            if paid.amount > 0:
                changed = changed.record_payment(paid, now)
            if extra.amount > 0:
                # Paid twice (a manual payment while the debit was on its way): the excess goes
                # to the customer's credit balance rather than being lost.
                credits.append(self._overpayment(invoice, extra, now))
            changed = self.one_version(invoice, changed)
            kind = (
                "invoice.paid" if changed.status == "paid" and invoice.status != "paid" else "invoice.updated"
            )
            return changed, [self.invoice_event(scope, kind, changed)], credits
        if after.status == "failed":
            changed = invoice.attempt_settled(after.id, now)
            if changed.dunning is None and invoice.status == "finalized":
                changed = self._dunning_started(scope, changed, now)
            changed = self.one_version(invoice, changed)
            return changed, [self._payment_failed_event(scope, changed, after.failure)], credits
        if after.status == "charged_back":
            taken = min(after.amount, invoice.amount_paid)
            changed = invoice.reverse_payment(Money(taken, invoice.currency), now) if taken > 0 else invoice
            if changed is invoice:
                return invoice, [], credits
            kind = (
                "invoice.reopened"
                if invoice.status == "paid" and changed.status != "paid"
                else "invoice.updated"
            )
            return changed, [self.invoice_event(scope, kind, changed)], credits
        if after.status in ("processing", "requires_action") and invoice.collection_pending:
            # The gateway answered; what remains is for its webhook (or the customer) to settle.
            changed = invoice.touched(now, collection_pending=False)
            return changed, [self.invoice_event(scope, "invoice.updated", changed)], credits
        return invoice, [], credits

    @staticmethod
    def _applied(invoice: Invoice, amount: Money) -> tuple[Money, Money]:
        """The part of a payment the invoice takes, and the excess."""
        if invoice.status not in ("finalized", "uncollectible"):
            return Money.zero(invoice.currency), amount
        taken = min(amount.amount, invoice.amount_remaining.amount)
        return Money(taken, invoice.currency), Money(amount.amount - taken, invoice.currency)

    def _overpayment(self, invoice: Invoice, extra: Money, now: str) -> CreditEntry:
        return CreditEntry(
            id=self.new_id(),
            customer_id=invoice.customer_id,
            amount=extra,
            reason="overpayment",
            created_at=now,
            subscription_id=invoice.subscription_id,
            invoice_id=invoice.id,
        )

    @staticmethod
    def one_version(before: Invoice, after: Invoice) -> Invoice:
        # One decision is one version (and one event), however many domain steps made it.
        return after if after is before else replace(after, version=before.version + 1)

    def _mark_event(self, scope: Scope, invoice: Invoice, gateway_event: tuple[str, str], now: str) -> None:
        with contextlib.suppress(AlreadyApplied):
            self.invoicing.invoices.save(
                scope,
                [],
                [],
                also=self.staged(scope, gateway_event=gateway_event, at=now),
            )

    # --- manual payments ----------------------------------------------------------------------

    def record_manual(self, scope: Scope, invoice_id: str, raw: Mapping[str, Any]) -> Payment:
        """``POST /v1/invoices/{id}/payments``: money that came outside any gateway."""
        for attempt in range(MAX_ATTEMPTS):
            invoice = self.invoicing.get(scope, invoice_id)
            invoice.require_payable()
            amount = parse_decimal(raw["amount"], "/amount", max_decimals=minor_units(invoice.currency))
            if amount <= 0:
                raise validation_failed("/amount", "must be more than zero")
            if amount > invoice.amount_remaining.amount:
                raise validation_failed(
                    "/amount",
                    f"the invoice has {invoice.amount_remaining.amount} {invoice.currency} left to pay",
                )
            now = self.time_of(scope, invoice)
            payment = Payment(
                id=self.new_id(),
                livemode=scope.livemode,
                invoice_id=invoice.id,
                customer_id=invoice.customer_id,
                amount=amount,
                currency=invoice.currency,
                kind="manual",
                status="succeeded",
                created_at=now,
                updated_at=now,
                method=raw["method"],
                reference=raw.get("reference"),
                succeeded_at=now,
                metadata=dict(raw.get("metadata") or {}),
            )
            after = invoice.record_payment(payment.money, now)
            kind = "invoice.paid" if after.status == "paid" else "invoice.updated"
            events = [self._payment_event(scope, payment), self.invoice_event(scope, kind, after)]
            if not self._saved_with_new_payment(scope, invoice, after, payment, events, attempt):
                continue
            self._standing(scope, after)
            return payment
        raise ConcurrentModification(detail="the invoice is being paid by many requests at once; retry")

    # --- dunning --------------------------------------------------------------------------------

    def _dunning_started(self, scope: Scope, invoice: Invoice, failed_at: str) -> Invoice:
        """A subscription's automatically charged invoice goes into dunning on its first
        failure; other invoices wait for their customer."""
        if invoice.subscription_id is None or invoice.collection_method != "charge_automatically":
            return invoice
        policy_id, steps = self.policy_for(scope, invoice.customer_id, invoice.subscription_id)
        return replace(invoice, dunning=DunningRun.start(policy_id, steps, failed_at, run_id=self.new_id()))

    def dunning_advanced(
        self, scope: Scope, invoice: Invoice, now: str, *, one_version_from: Invoice
    ) -> tuple[Invoice, builtins.list[EventEnvelope]]:
        """The invoice with its dunning's next step marked done, and the dunning events (the
        step; exhaustion when it was the last)."""
        run = invoice.dunning
        assert run is not None
        assert run.step is not None
        index = run.next_step
        advanced = run.advanced(now)
        after = self.one_version(one_version_from, replace(invoice, dunning=advanced, updated_at=now))
        events = [self._dunning_event(scope, "dunning.step_executed", after, index + 1, step=index)]
        if advanced.status == "exhausted":
            events.append(self._dunning_event(scope, "dunning.exhausted", after, index + 2, step=None))
        return after, events

    def _standing(self, scope: Scope, invoice: Invoice) -> None:
        """Keep the subscription's status in line with its invoice: past due while in dunning,
        active again once paid. Repeating it is harmless, so it runs after every record."""
        if invoice.subscription_id is None:
            return
        if (
            invoice.dunning is not None
            and invoice.dunning.status == "active"
            and invoice.status == "finalized"
        ):
            self.standing(scope, invoice.subscription_id, True)
        elif invoice.status == "paid" and invoice.dunning is not None:
            self.standing(scope, invoice.subscription_id, False)

    # --- events ---------------------------------------------------------------------------------

    def _payment_event(self, scope: Scope, payment: Payment) -> EventEnvelope:
        kind = {
            "succeeded": "payment.succeeded",
            "failed": "payment.failed",
            "requires_action": "payment.requires_action",
            "charged_back": "payment.charged_back",
            "processing": "payment.processing",
        }.get(payment.status, "payment.updated")
        return change_event(scope, kind, "payment", payment_to_dict(payment), new_id=self.new_id)

    def invoice_event(self, scope: Scope, type_: str, invoice: Invoice) -> EventEnvelope:
        return change_event(scope, type_, "invoice", invoice_to_dict(invoice), new_id=self.new_id)

    def _payment_failed_event(
        self, scope: Scope, invoice: Invoice, failure: PaymentFailure | None
    ) -> EventEnvelope:
        data = invoice_to_dict(invoice)
        data["last_payment_error"] = failure.to_dict() if failure else None
        return change_event(scope, "invoice.payment_failed", "invoice", data, new_id=self.new_id)

    def _dunning_event(
        self, scope: Scope, type_: str, invoice: Invoice, sequence: int, *, step: int | None
    ) -> EventEnvelope:
        run = invoice.dunning
        assert run is not None
        data = {
            "id": run.id,
            "object": "dunning_run",
            "invoice_id": invoice.id,
            "customer_id": invoice.customer_id,
            "subscription_id": invoice.subscription_id,
            "step": {"index": step, **run.steps[step].to_dict()} if step is not None else None,
            **run.to_dict(),
        }
        return envelope(
            scope,
            DomainEvent(type_, "dunning_run", run.id, data),
            sequence=sequence,
            created_at=invoice.updated_at,
            new_id=self.new_id,
        )
