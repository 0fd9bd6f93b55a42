"""Paying invoices through the API on moto with the sandbox gateway: charging now, attempts
and their keys, manual payments, partial payments, never charging twice under concurrency,
and what is refused with no gateway call (counted in the sandbox gateway's ledger)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from tests.integration.invoicing.conftest import assert_refused, create_draft, get_invoice, line
from tests.integration.payments.conftest import attach_card, charges, open_invoice
from tests.support.api_client import ApiClient
from tests.support.subscriptions import events_of, new_customer


def pay(api: ApiClient, invoice_id: str, **body: Any) -> Any:
    return api.post(f"/v1/invoices/{invoice_id}/pay", body or None)


def test_paying_charges_the_default_method_once_and_the_invoice_is_paid(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "119.00")
    response = pay(api, invoice["id"])
    assert response.status == 201, response.body
    payment = response.data
    assert (payment["status"], payment["amount"], payment["attempt"], payment["kind"]) == (
        "succeeded",
        {"amount": "119.00", "currency": "EUR"},
        1,
        "gateway",
    )
    assert payment["gateway_reference"].startswith("sbx_ch_")
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"], paid["amount_remaining"]["amount"]) == (
        "paid",
        "119.00",
        "0.00",
    )
    assert paid["attempt_count"] == 1
    assert [c.idempotency_key for c in charges(api, sandbox)] == [f"billow-{invoice['id']}-attempt-1"]
    assert [e["type"] for e in events_of(payment["id"])] == ["payment.succeeded"]
    assert [e["type"] for e in events_of(invoice["id"])][-2:] == ["invoice.updated", "invoice.paid"]
    # Paying a paid invoice is refused without a gateway call.
    assert_refused(pay(api, invoice["id"]), 409, "invalid_state_transition")
    assert len(charges(api, sandbox)) == 1
    listed = api.get("/v1/payments", query={"invoice_id": invoice["id"]})
    assert [p["id"] for p in listed.data] == [payment["id"]]
    assert api.get(f"/v1/payments/{payment['id']}").data == payment


def test_a_declined_attempt_fails_and_a_retry_is_a_new_attempt_with_a_new_key(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice = open_invoice(api, customer)
    declined = attach_card(api, customer, sandbox, "pm_sandbox_insufficient_funds")
    failed = pay(api, invoice["id"], payment_method_id=declined)
    assert failed.status == 201, failed.body
    assert (failed.data["status"], failed.data["failure"]["decline_code"]) == ("failed", "insufficient_funds")
    after_failure = get_invoice(api, invoice["id"])
    assert (after_failure["status"], after_failure["amount_paid"]["amount"]) == ("finalized", "0.00")
    assert "invoice.payment_failed" in [e["type"] for e in events_of(invoice["id"])]
    # A one-off invoice sent to the customer is not dunned.
    assert after_failure["dunning"] is None
    second = pay(api, invoice["id"])
    assert (second.data["status"], second.data["attempt"]) == ("succeeded", 2)
    assert [c.idempotency_key for c in charges(api, sandbox)] == [
        f"billow-{invoice['id']}-attempt-1",
        f"billow-{invoice['id']}-attempt-2",
    ]


def test_concurrent_pay_requests_charge_once(api: ApiClient, sandbox: str, customer: str) -> None:
    invoice = open_invoice(api, customer, "75.50")
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: pay(api, invoice["id"]), range(8)))
    succeeded = [r for r in responses if r.status == 201]
    assert succeeded, [r.body for r in responses]
    # Every winner answers with the one payment; the others are told the invoice is paid.
    assert {r.data["id"] for r in succeeded} == {succeeded[0].data["id"]}
    for response in responses:
        if response.status != 201:
            assert_refused(response, 409, response.code or "")
    assert len(charges(api, sandbox)) == 1
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"], paid["attempt_count"]) == ("paid", "75.50", 1)


def test_a_gateway_without_an_answer_leaves_the_payment_pending_and_the_retry_uses_the_same_key(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice = open_invoice(api, customer)
    silent = attach_card(api, customer, sandbox, "pm_sandbox_unavailable")
    response = pay(api, invoice["id"], payment_method_id=silent)
    assert_refused(response, 503, "gateway_unavailable")
    pending = get_invoice(api, invoice["id"])
    assert pending["attempt_count"] == 1
    payments = api.get("/v1/payments", query={"invoice_id": invoice["id"]}).data
    assert [(p["status"], p["attempt"]) for p in payments] == [("pending", 1)]
    # Asking again is the same attempt (same key), never a second one while the first is open.
    assert_refused(pay(api, invoice["id"], payment_method_id=silent), 503, "gateway_unavailable")
    assert get_invoice(api, invoice["id"])["attempt_count"] == 1
    assert charges(api, sandbox) == []


def test_a_bank_debit_is_processing_until_the_gateway_settles_it(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice = open_invoice(api, customer)
    debit = attach_card(api, customer, sandbox, "pm_sandbox_debit")
    response = pay(api, invoice["id"], payment_method_id=debit)
    payment = response.data
    assert payment["status"] == "processing"
    # While the debit is on its way, no second attempt starts.
    assert_refused(pay(api, invoice["id"]), 409, "invalid_state_transition")
    settled = api.post("/v1/test-payment-simulations", {"payment_id": payment["id"], "outcome": "succeed"})
    assert settled.status == 201, settled.body
    assert settled.data["payment"]["status"] == "succeeded"
    assert get_invoice(api, invoice["id"])["status"] == "paid"
    # A second report of the settled payment changes nothing.
    again = api.post("/v1/test-payment-simulations", {"payment_id": payment["id"], "outcome": "fail"})
    assert_refused(again, 409, "invalid_state_transition")
    assert len(charges(api, sandbox)) == 1


def test_partial_manual_payments_add_up_and_the_last_makes_the_invoice_paid(
    api: ApiClient, customer: str
) -> None:
    invoice = open_invoice(api, customer, "100.00")
    first = api.post(
        f"/v1/invoices/{invoice['id']}/payments",
        {"amount": "40.00", "method": "bank_transfer", "reference": "SEPA-2026-03-001"},
    )
    assert first.status == 201, first.body
    assert (first.data["kind"], first.data["status"], first.data["method"]) == (
        "manual",
        "succeeded",
        "bank_transfer",
    )
    partly = get_invoice(api, invoice["id"])
    assert (partly["status"], partly["amount_remaining"]["amount"]) == ("finalized", "60.00")
    too_much = api.post(f"/v1/invoices/{invoice['id']}/payments", {"amount": "60.01", "method": "cash"})
    assert_refused(too_much, 422, "validation_failed", "/amount")
    as_number = api.post(f"/v1/invoices/{invoice['id']}/payments", {"amount": 60, "method": "cash"})
    assert_refused(as_number, 422, "validation_failed", "/amount")
    too_precise = api.post(f"/v1/invoices/{invoice['id']}/payments", {"amount": "10.001", "method": "cash"})
    assert_refused(too_precise, 422, "validation_failed", "/amount")
    assert get_invoice(api, invoice["id"])["version"] == partly["version"]
    rest = api.post(f"/v1/invoices/{invoice['id']}/payments", {"amount": "60.00", "method": "check"})
    assert rest.status == 201, rest.body
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"]) == ("paid", "100.00")


def test_bad_payments_are_refused_without_a_gateway_call(
    api: ApiClient, other_api: ApiClient, sandbox: str, customer: str, clock: str
) -> None:
    draft = create_draft(api, customer, line("Draft", "10.00"))
    assert_refused(pay(api, draft["id"]), 409, "invalid_state_transition")
    voided = open_invoice(api, customer)
    assert api.post(f"/v1/invoices/{voided['id']}/void", idempotency_key=None).status == 200
    assert_refused(pay(api, voided["id"]), 409, "invalid_state_transition")
    invoice = open_invoice(api, customer)
    # Another customer's payment method.
    stranger = new_customer(api, currency="EUR", test_clock_id=clock)
    theirs = attach_card(api, stranger, sandbox)
    assert_refused(
        pay(api, invoice["id"], payment_method_id=theirs), 422, "validation_failed", "/payment_method_id"
    )
    # A gateway that does not collect the invoice's currency.
    usd_only = api.post("/v1/payment-gateways", {"provider": "sandbox", "supported_currencies": ["USD"]})
    assert usd_only.status == 201, usd_only.body
    usd_card = attach_card(api, customer, usd_only.data["id"])
    assert_refused(
        pay(api, invoice["id"], payment_method_id=usd_card), 422, "validation_failed", "/payment_method_id"
    )
    # Unknown and malformed ids, and another tenant's invoice.
    assert_refused(pay(api, invoice["id"], payment_method_id="0" * 36), 422, "validation_failed")
    assert_refused(pay(api, invoice["id"], payment_method_id="not an id"), 422, "validation_failed")
    assert_refused(pay(other_api, invoice["id"]), 404, "not_found")
    # Manual payments on a draft or void invoice, with an unknown method.
    assert_refused(
        api.post(f"/v1/invoices/{draft['id']}/payments", {"amount": "1.00", "method": "cash"}),
        409,
        "invalid_state_transition",
    )
    assert_refused(
        api.post(f"/v1/invoices/{invoice['id']}/payments", {"amount": "1.00", "method": "barter"}),
        422,
        "validation_failed",
    )
    # Nothing reached a gateway and nothing changed.
    assert charges(api, sandbox) == []
    assert get_invoice(api, invoice["id"])["attempt_count"] == 0
    assert api.get("/v1/payments").data == []


def test_pay_needs_an_idempotency_key_and_replays_the_first_answer(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice = open_invoice(api, customer)
    missing = api.post(f"/v1/invoices/{invoice['id']}/pay", None, idempotency_key=None)
    assert_refused(missing, 400, "idempotency_key_required")
    first = api.post(f"/v1/invoices/{invoice['id']}/pay", None, idempotency_key="pay-once")
    replay = api.post(f"/v1/invoices/{invoice['id']}/pay", None, idempotency_key="pay-once")
    assert (first.status, replay.status) == (201, 201)
    assert replay.header("Idempotent-Replayed") == "true"
    assert replay.data == first.data
    assert len(charges(api, sandbox)) == 1


def test_a_payment_arriving_after_the_invoice_was_paid_goes_to_the_credit_balance(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "50.00")
    debit = attach_card(api, customer, sandbox, "pm_sandbox_debit")
    processing = pay(api, invoice["id"], payment_method_id=debit).data
    manual = api.post(
        f"/v1/invoices/{invoice['id']}/payments", {"amount": "50.00", "method": "bank_transfer"}
    )
    assert manual.status == 201, manual.body
    settled = api.post("/v1/test-payment-simulations", {"payment_id": processing["id"], "outcome": "succeed"})
    assert settled.status == 201, settled.body
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"]) == ("paid", "50.00")
    balance = api.get(f"/v1/customers/{customer}/credit-balance").data["balances"]
    assert [Decimal(b["amount"]) for b in balance if b["currency"] == "EUR"] == [Decimal("50.00")]
