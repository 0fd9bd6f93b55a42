"""Credit notes: correct a finalized invoice, by lines or by amount (docs/invoicing.md).

The note, the invoice's credited amounts, the customer's credit balance (outcome ``credit``),
the next number of the tenant's credit-note sequence and the events are one transaction, so a
note exists exactly when everything it does has happened, and no two notes can together credit
more than the invoice's total.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from billow.domain.credit_note import (
    OUTCOMES,
    CreditNote,
    CreditPlan,
    credit_note_to_dict,
    plan_by_amount,
    plan_by_lines,
)
from billow.domain.errors import ConcurrentModification, InvalidStateTransition, NotFound, validation_failed
from billow.domain.events import EventEnvelope
from billow.domain.invoice import Invoice, invoice_to_dict
from billow.domain.money import Money
from billow.domain.numbering import format_number
from billow.domain.periods import local_date
from billow.domain.subscription import parse_time
from billow.domain.tenancy import Scope
from billow.ports.clock import rfc3339
from billow.ports.queries import Page, PageResult
from billow.ports.repositories import CreditEntry
from billow.services.events import change_event
from billow.services.invoices import FINALIZE_ATTEMPTS, InvoiceService

if TYPE_CHECKING:
    from billow.domain.payment import Refund
    from billow.services.refunds import RefundService

CREDIT_NOTE_SEQUENCE = "credit_note"


@dataclass
class CreditNoteService:
    invoicing: InvoiceService
    # Refund credit notes send their money back through RefundService (set by the container).
    refunds: RefundService | None = None

    def get(self, scope: Scope, note_id: str) -> CreditNote:
        note = self.invoicing.invoices.get_credit_note(scope, note_id)
        if note is None:
            raise NotFound(detail=f"no credit note with id {note_id}")
        return note

    def list(
        self, scope: Scope, invoice_id: str | None, customer_id: str | None, page: Page
    ) -> PageResult[CreditNote]:
        return self.invoicing.invoices.list_credit_notes(scope, invoice_id, customer_id, page)

    def preview(self, scope: Scope, raw: Mapping[str, Any]) -> CreditPlan:
        invoice = self.invoicing.get(scope, raw["invoice_id"])
        return self._plan(invoice, raw)

    def _plan(self, invoice: Invoice, raw: Mapping[str, Any]) -> CreditPlan:
        if invoice.status not in ("finalized", "paid", "uncollectible"):
            raise InvalidStateTransition(
                detail=f"invoice {invoice.number or invoice.id} is {invoice.status}: only a finalized, "
                "paid or uncollectible invoice can be credited"
            )
        has_lines, has_amount = bool(raw.get("lines")), raw.get("amount") is not None
        if has_lines == has_amount:
            raise validation_failed("/lines", "give either lines or an amount to credit")
        if has_lines:
            return plan_by_lines(invoice, raw["lines"], self.invoicing.new_id)
        description = raw.get("memo") or "Credit"
        return plan_by_amount(invoice, raw["amount"], description, self.invoicing.new_id)

    def issue(self, scope: Scope, raw: Mapping[str, Any]) -> CreditNote:
        return self.issue_with_refunds(scope, raw)[0]

    def issue_with_refunds(
        self, scope: Scope, raw: Mapping[str, Any], refund_request: Mapping[str, Any] | None = None
    ) -> tuple[CreditNote, builtins.list[Refund]]:
        """The credit note and, for outcome ``refund``, the refunds it sent (in one transaction
        with the note, then through their gateways)."""
        invoicing = self.invoicing
        tenant = invoicing.tenant(scope)
        for attempt in range(FINALIZE_ATTEMPTS):
            invoice = invoicing.get(scope, raw["invoice_id"])
            plan = self._plan(invoice, raw)
            outcome = raw.get("outcome") or ("offset" if invoice.amount_remaining.amount > 0 else "credit")
            if outcome not in OUTCOMES:
                raise validation_failed("/outcome", f"must be one of {', '.join(OUTCOMES)}")
            total = plan.total
            self._check_outcome(invoice, outcome, total)
            now = rfc3339(invoicing.now_for(scope, invoice.test_clock_id))
            last = invoicing.invoices.last_number(scope, CREDIT_NOTE_SEQUENCE)
            today = local_date(parse_time(now), tenant.timezone)
            note = CreditNote(
                id=invoicing.new_id(),
                livemode=scope.livemode,
                number=format_number(tenant.invoicing.credit_note_number_format, last + 1, today),
                sequence=last + 1,
                invoice_id=invoice.id,
                invoice_number=invoice.number,
                customer_id=invoice.customer_id,
                currency=invoice.currency,
                reason=raw["reason"],
                outcome=outcome,  # type: ignore[arg-type]
                lines=plan.lines,
                tax_breakdown=plan.tax_breakdown,
                tax_notes=plan.tax_notes,
                created_at=now,
                updated_at=now,
                memo=raw.get("memo"),
                test_clock_id=invoice.test_clock_id,
                metadata=dict(raw.get("metadata") or {}),
            )
            offset = total if outcome == "offset" else Money.zero(invoice.currency)
            after = invoice.credit(plan.by_line, total, offset, now)
            credits = []
            if outcome == "credit":
                credits.append(
                    CreditEntry(
                        id=invoicing.new_id(),
                        customer_id=invoice.customer_id,
                        amount=total,
                        reason="credit_note",
                        created_at=now,
                        subscription_id=invoice.subscription_id,
                        invoice_id=invoice.id,
                    )
                )
            events = [
                change_event(
                    scope,
                    "credit_note.created",
                    "credit_note",
                    credit_note_to_dict(note),
                    new_id=invoicing.new_id,
                ),
                self.invoice_event(scope, after),
            ]
            also = None
            refunds: builtins.list[Refund] = []
            if outcome == "refund" and self.refunds is not None:
                drawn = self.refunds.plan(scope, invoice, total, note.id, now, refund_request)
                refunds = [refund for _, _, refund in drawn.draws]
                events += drawn.events
                also = self.refunds.payments.staged(
                    scope,
                    payments=[(before, after_) for before, after_, _ in drawn.draws],
                    refunds=[(None, refund) for refund in refunds],
                )
            try:
                invoicing.invoices.save(
                    scope,
                    [(invoice, after)],
                    events,
                    credits=credits,
                    numbered=(CREDIT_NOTE_SEQUENCE, last, last + 1),
                    credit_notes=[note],
                    also=also,
                )
            except ConcurrentModification:
                time.sleep(min(0.002 * (attempt + 1), 0.05))
                continue
            if outcome == "refund" and self.refunds is not None:
                return note, self.refunds.send_all(scope, refunds)
            if outcome == "refund":
                invoicing.collection.refund(scope, after, note, total)
            return note, []
        raise ConcurrentModification(detail="the invoice is being credited by many requests at once; retry")

    @staticmethod
    def _check_outcome(invoice: Invoice, outcome: str, total: Money) -> None:
        currency = invoice.currency
        if outcome == "offset" and total.amount > invoice.amount_remaining.amount:
            raise validation_failed(
                "/outcome",
                f"an offset reduces what is still owed ({invoice.amount_remaining.amount} {currency}); "
                f"this credit note is {total.amount} {currency}: credit the rest to the balance",
            )
        if outcome == "refund" and total.amount > invoice.amount_paid:
            raise validation_failed(
                "/outcome",
                f"a refund sends back what was paid ({invoice.amount_paid} {currency}); "
                f"this credit note is {total.amount} {currency}",
            )

    def invoice_event(self, scope: Scope, invoice: Invoice) -> EventEnvelope:
        type_ = (
            "invoice.paid"
            if invoice.status == "paid" and invoice.paid_at == invoice.updated_at
            else "invoice.updated"
        )
        return change_event(scope, type_, "invoice", invoice_to_dict(invoice), new_id=self.invoicing.new_id)


def plan_to_dict(plan: CreditPlan, invoice_currency: str) -> dict[str, Any]:
    """The preview of a credit note: what it would credit, before it is issued."""
    lines: Sequence[Any] = plan.lines
    return {
        "object": "credit_note_preview",
        "currency": invoice_currency,
        "lines": [line.to_dict() for line in lines],
        "tax_breakdown": [g.to_dict() for g in plan.tax_breakdown],
        "total": plan.total.as_dict(),
    }
