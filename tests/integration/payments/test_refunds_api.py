"""Refunds and chargebacks through the API on moto with the sandbox gateway: each refund is
sent through the gateway with its own key and issues a credit note; a chargeback takes the
money back and reopens the invoice; too much is refused and nothing moves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.integration.invoicing.conftest import assert_refused, get_invoice
from tests.integration.payments.conftest import charges, open_invoice, refunds
from tests.support.api_client import ApiClient
from tests.support.subscriptions import events_of


def paid_invoice(
    api: ApiClient, customer: str, amount: str = "100.00"
) -> tuple[dict[str, Any], dict[str, Any]]:
    invoice = open_invoice(api, customer, amount)
    response = api.post(f"/v1/invoices/{invoice['id']}/pay")
    assert response.status == 201, response.body
    assert response.data["status"] == "succeeded"
    return invoice, dict(response.data)


def refund(api: ApiClient, payment_id: str, **body: Any) -> Any:
    return api.post("/v1/refunds", {"payment_id": payment_id, **body})


def test_a_partial_refund_goes_through_the_gateway_with_a_credit_note(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice, payment = paid_invoice(api, customer)
    response = refund(api, payment["id"], amount="30.00", reason="requested_by_customer")
    assert response.status == 201, response.body
    made = response.data
    assert (made["status"], made["amount"], made["payment_id"]) == (
        "succeeded",
        {"amount": "30.00", "currency": "EUR"},
        payment["id"],
    )
    assert made["gateway_reference"].startswith("sbx_re_")
    note = api.get(f"/v1/credit-notes/{made['credit_note_id']}").data
    assert (note["outcome"], note["total"]["amount"], note["invoice_id"]) == (
        "refund",
        "30.00",
        invoice["id"],
    )
    assert note["number"].startswith("CN-")
    after = api.get(f"/v1/payments/{payment['id']}").data
    assert after["amount_refunded"]["amount"] == "30.00"
    assert [(r.charge_reference, str(r.amount.amount)) for r in refunds(api, sandbox)] == [
        (payment["gateway_reference"], "30.00")
    ]
    assert [e["type"] for e in events_of(made["id"])] == ["refund.created", "refund.succeeded"]
    assert "payment.refunded" in [e["type"] for e in events_of(payment["id"])]
    # The rest, by default all that is left.
    rest = refund(api, payment["id"])
    assert (rest.status, rest.data["amount"]["amount"]) == (201, "70.00")
    assert_refused(refund(api, payment["id"], amount="0.01"), 422, "validation_failed", "/amount")
    assert len(refunds(api, sandbox)) == 2
    assert get_invoice(api, invoice["id"])["amount_credited"]["amount"] == "100.00"


def test_refunding_more_than_was_paid_is_refused_and_changes_nothing(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice, payment = paid_invoice(api, customer, "20.00")
    before = get_invoice(api, invoice["id"])
    assert_refused(refund(api, payment["id"], amount="20.01"), 422, "validation_failed", "/amount")
    assert_refused(refund(api, payment["id"], amount="-1.00"), 422, "validation_failed", "/amount")
    assert_refused(refund(api, payment["id"], amount=5), 422, "validation_failed", "/amount")
    assert_refused(refund(api, "0" * 36), 404, "not_found")
    assert refunds(api, sandbox) == []
    assert get_invoice(api, invoice["id"]) == before
    assert api.get("/v1/credit-notes", query={"invoice_id": invoice["id"]}).data == []
    # A credit note asking to refund more than was paid is refused the same way.
    unpaid = open_invoice(api, customer, "10.00")
    note = api.post(
        "/v1/credit-notes",
        {"invoice_id": unpaid["id"], "amount": "5.00", "reason": "other", "outcome": "refund"},
    )
    assert_refused(note, 422, "validation_failed", "/outcome")


def test_concurrent_refunds_never_send_back_more_than_was_paid(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    _, payment = paid_invoice(api, customer, "50.00")
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: refund(api, payment["id"], amount="20.00"), range(6)))
    made = [r for r in responses if r.status == 201]
    assert len(made) == 2, [r.body for r in responses]
    assert sum(float(r.amount.amount) for r in refunds(api, sandbox)) == 40.0
    assert api.get(f"/v1/payments/{payment['id']}").data["amount_refunded"]["amount"] == "40.00"


def test_a_refund_credit_note_refunds_through_the_gateway(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice, payment = paid_invoice(api, customer, "80.00")
    note = api.post(
        "/v1/credit-notes",
        {"invoice_id": invoice["id"], "amount": "80.00", "reason": "duplicate", "outcome": "refund"},
    )
    assert note.status == 201, note.body
    made = api.get("/v1/refunds", query={"payment_id": payment["id"]}).data
    assert [(r["amount"]["amount"], r["status"], r["credit_note_id"]) for r in made] == [
        ("80.00", "succeeded", note.data["id"])
    ]
    assert len(refunds(api, sandbox)) == 1


def test_a_manual_payment_is_refunded_without_a_gateway(api: ApiClient, sandbox: str, customer: str) -> None:
    invoice = open_invoice(api, customer, "25.00")
    paid = api.post(f"/v1/invoices/{invoice['id']}/payments", {"amount": "25.00", "method": "bank_transfer"})
    response = refund(api, paid.data["id"], amount="5.00")
    assert (response.status, response.data["status"], response.data["gateway_id"]) == (201, "succeeded", None)
    assert refunds(api, sandbox) == []


def test_a_chargeback_takes_the_money_back_and_reopens_the_invoice(
    api: ApiClient, sandbox: str, customer: str
) -> None:
    invoice, payment = paid_invoice(api, customer, "60.00")
    response = api.post(
        "/v1/test-payment-simulations", {"payment_id": payment["id"], "outcome": "charge_back"}
    )
    assert response.status == 201, response.body
    assert response.data["payment"]["status"] == "charged_back"
    reopened = get_invoice(api, invoice["id"])
    assert (
        reopened["status"],
        reopened["amount_paid"]["amount"],
        reopened["amount_remaining"]["amount"],
    ) == (
        "finalized",
        "0.00",
        "60.00",
    )
    assert [e["type"] for e in events_of(payment["id"])][-1] == "payment.charged_back"
    assert [e["type"] for e in events_of(invoice["id"])][-1] == "invoice.reopened"
    # A charged-back payment can neither be refunded nor charged back again.
    assert_refused(refund(api, payment["id"]), 409, "invalid_state_transition")
    again = api.post("/v1/test-payment-simulations", {"payment_id": payment["id"], "outcome": "charge_back"})
    assert_refused(again, 409, "invalid_state_transition")
    # The invoice can be paid again: a new attempt, a new key.
    second = api.post(f"/v1/invoices/{invoice['id']}/pay")
    assert (second.data["status"], second.data["attempt"]) == ("succeeded", 2)
    assert len(charges(api, sandbox)) == 2


def test_simulations_are_sandbox_only_and_checked(
    api: ApiClient, live_api: ApiClient, sandbox: str, customer: str
) -> None:
    body = {"payment_id": "0" * 36, "outcome": "succeed"}
    assert_refused(live_api.post("/v1/test-payment-simulations", body), 403, "forbidden")
    assert_refused(api.post("/v1/test-payment-simulations", {"outcome": "succeed"}), 422, "validation_failed")
    assert_refused(
        api.post("/v1/test-payment-simulations", {"payment_id": "0" * 36, "outcome": "explode"}),
        422,
        "validation_failed",
    )
