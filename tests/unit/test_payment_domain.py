"""Payments without storage: a payment's status only moves forward whatever order and however
often the gateway reports it, attempts have their own idempotency keys, refunds stay within
what succeeded, and an invoice takes payments (partial, full) and chargebacks."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.errors import InvalidStateTransition
from billow.domain.money import Money
from billow.domain.payment import (
    SETTLED,
    Payment,
    PaymentFailure,
    PaymentStatus,
    attempt_key,
    payment_from_dict,
    payment_to_record,
)
from tests.unit.test_invoice_domain import LATER, NOW, eur, finalize, make_invoice

STATUSES: list[PaymentStatus] = [
    "pending",
    "processing",
    "requires_action",
    "succeeded",
    "failed",
    "charged_back",
]
# How far along a status is: a report may never take a payment back to an earlier rank.
RANK = {"pending": 0, "processing": 1, "requires_action": 1, "succeeded": 2, "failed": 2, "charged_back": 3}


def payment(**changes: object) -> Payment:
    base = Payment(
        id="pay-1",
        livemode=False,
        invoice_id="inv-1",
        customer_id="cus-1",
        amount=Decimal("49.00"),
        currency="EUR",
        kind="gateway",
        status="pending",
        created_at=NOW,
        updated_at=NOW,
        gateway_id="gw-1",
        payment_method_id="pm-1",
        attempt=1,
        idempotency_key=attempt_key("inv-1", 1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_attempts_have_distinct_and_stable_keys() -> None:
    assert attempt_key("inv-1", 1) == attempt_key("inv-1", 1)
    assert len({attempt_key("inv-1", n) for n in range(1, 50)} | {attempt_key("inv-2", 1)}) == 50


@given(st.lists(st.sampled_from(STATUSES), max_size=12))
def test_reports_in_any_order_never_move_a_payment_back(reports: list[PaymentStatus]) -> None:
    current = payment()
    for report in reports:
        after = current.observe(report, LATER)
        if after is None:
            continue
        assert RANK[after.status] >= RANK[current.status]
        assert after.version == current.version + 1
        if current.status in ("failed", "charged_back"):
            pytest.fail(f"{current.status} is final, yet {report} changed it")
        current = after
    # Replaying every report again changes nothing once the payment is settled.
    if current.status in SETTLED - {"succeeded"}:
        assert all(current.observe(r, LATER) is None for r in STATUSES)


def test_a_late_processing_after_succeeded_changes_nothing() -> None:
    succeeded = payment().observe("succeeded", LATER, gateway_reference="pi_123")
    assert succeeded is not None
    assert (succeeded.status, succeeded.succeeded_at, succeeded.gateway_reference) == (
        "succeeded",
        LATER,
        "pi_123",
    )
    assert succeeded.observe("processing", LATER) is None
    assert succeeded.observe("succeeded", LATER) is None  # a duplicated webhook
    assert succeeded.observe("failed", LATER) is None


def test_a_failure_keeps_its_reason_and_an_action_its_url() -> None:
    waiting = payment().observe("requires_action", NOW, next_action_url="https://bank.example/3ds")
    assert waiting is not None
    assert waiting.next_action_url == "https://bank.example/3ds"
    failed = waiting.observe(
        "failed", LATER, failure=PaymentFailure("card_declined", "Declined", "insufficient_funds")
    )
    assert failed is not None
    assert (failed.status, failed.failed_at, failed.next_action_url) == ("failed", LATER, None)
    assert failed.failure == PaymentFailure("card_declined", "Declined", "insufficient_funds")


def test_refunds_stay_within_what_succeeded() -> None:
    with pytest.raises(InvalidStateTransition):
        payment().refunded(eur("1.00"), LATER)  # nothing succeeded yet
    succeeded = payment(status="succeeded")
    partly = succeeded.refunded(eur("19.00"), LATER)
    assert partly.refundable == eur("30.00")
    with pytest.raises(InvalidStateTransition):
        partly.refunded(eur("30.01"), LATER)
    with pytest.raises(InvalidStateTransition):
        partly.refunded(Money(Decimal("1.00"), "USD"), LATER)
    assert partly.refunded(eur("30.00"), LATER).refundable == eur("0.00")


def test_the_stored_form_reads_back_the_same() -> None:
    stored = payment(
        status="failed",
        failure=PaymentFailure("card_declined", "Declined", None),
        amount_refunded=Decimal("0"),
        metadata={"k": "v"},
    )
    assert payment_from_dict(payment_to_record(stored)) == stored
    manual = payment(kind="manual", method="bank_transfer", reference="SEPA 123", gateway_id=None, attempt=0)
    assert payment_from_dict(payment_to_record(manual)) == manual


# --- the invoice's side ------------------------------------------------------------------------


def test_partial_payments_then_the_rest_make_the_invoice_paid() -> None:
    invoice = finalize(make_invoice("49.00", "51.00"))
    part = invoice.record_payment(eur("40.00"), LATER)
    assert (part.status, part.amount_remaining) == ("finalized", eur("60.00"))
    paid = part.record_payment(eur("60.00"), LATER)
    assert (paid.status, paid.paid_at, paid.collection_pending) == ("paid", LATER, False)


@pytest.mark.parametrize("amount", ["0.00", "-1.00", "100.01"])
def test_a_payment_must_fit_what_is_left(amount: str) -> None:
    invoice = finalize(make_invoice("100.00"))
    with pytest.raises(InvalidStateTransition):
        invoice.record_payment(eur(amount), LATER)


def test_drafts_void_and_paid_invoices_take_no_payment() -> None:
    draft = make_invoice("10.00")
    with pytest.raises(InvalidStateTransition, match="draft"):
        draft.record_payment(eur("10.00"), LATER)
    void = finalize(draft).void(LATER)
    with pytest.raises(InvalidStateTransition, match="void"):
        void.record_payment(eur("10.00"), LATER)
    paid = finalize(draft).record_payment(eur("10.00"), LATER)
    with pytest.raises(InvalidStateTransition, match="paid"):
        paid.record_payment(eur("10.00"), LATER)
    with pytest.raises(InvalidStateTransition):
        finalize(draft).record_payment(Money(Decimal("10.00"), "USD"), LATER)


def test_an_uncollectible_invoice_paid_after_all_is_paid() -> None:
    written_off = finalize(make_invoice("10.00")).mark_uncollectible(LATER)
    assert written_off.record_payment(eur("10.00"), LATER).status == "paid"


def test_a_chargeback_reopens_a_paid_invoice() -> None:
    paid = finalize(make_invoice("25.00")).record_payment(eur("25.00"), LATER)
    reopened = paid.reverse_payment(eur("25.00"), LATER)
    assert (reopened.status, reopened.paid_at, reopened.amount_remaining) == ("finalized", None, eur("25.00"))
    with pytest.raises(InvalidStateTransition):
        reopened.reverse_payment(eur("0.01"), LATER)  # nothing paid any more
