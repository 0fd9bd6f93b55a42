"""Paying through the Stripe and GoCardless gateways end to end: the API handler on moto, the
real SDKs and the local servers that speak the providers' HTTP APIs (tests/support). Charges,
refunds and idempotency keys are counted at the server, and the providers' signed webhooks
are posted to ``/v1/gateway-webhooks/{provider}/{gateway_id}`` as the providers send them."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from billow.api.container import container
from billow.settings import reset_settings
from tests.integration.invoicing.conftest import assert_refused, get_invoice
from tests.integration.payments.conftest import open_invoice
from tests.support.api_client import ApiClient, ApiResponse
from tests.support.aws import TABLE
from tests.support.gocardless_server import GoCardlessServer
from tests.support.stripe_server import StripeServer
from tests.support.subscriptions import events_of, new_customer

# Local test credentials in the shapes the gateway API accepts; nothing real.
STRIPE_SECRET_KEY = "sk_test_51BillowProviders0000Local0001"
STRIPE_WEBHOOK_SECRET = "whsec_BillowProvidersLocal0001"
STRIPE_CUSTOMER = "cus_BillowProviders0001"


@contextmanager
def api_base(variable: str, url: str) -> Iterator[None]:
    """Point an SDK at a local server; the settings are cached, so forget them both ways."""
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv(variable, url)
            reset_settings()
            yield
    finally:
        reset_settings()


@pytest.fixture
def stripe_api() -> Iterator[StripeServer]:
    with (
        StripeServer(webhook_secret=STRIPE_WEBHOOK_SECRET) as server,
        api_base("BILLOW_STRIPE_API_BASE", server.url),
    ):
        yield server


@pytest.fixture
def gc_api() -> Iterator[GoCardlessServer]:
    with GoCardlessServer() as server, api_base("BILLOW_GOCARDLESS_API_BASE", server.url):
        yield server


def new_gateway(api: ApiClient, provider: str, credentials: dict[str, str]) -> str:
    response = api.post("/v1/payment-gateways", {"provider": provider, "credentials": credentials})
    assert response.status == 201, response.body
    return str(response.data["id"])


@pytest.fixture
def stripe_gateway(api: ApiClient, stripe_api: StripeServer) -> str:
    return new_gateway(
        api, "stripe", {"secret_key": STRIPE_SECRET_KEY, "webhook_secret": STRIPE_WEBHOOK_SECRET}
    )


@pytest.fixture
def gc_gateway(api: ApiClient, gc_api: GoCardlessServer) -> str:
    return new_gateway(
        api, "gocardless", {"access_token": gc_api.access_token, "webhook_secret": gc_api.webhook_secret}
    )


def attach(api: ApiClient, customer: str, gateway: str, token: str, method_type: str = "card") -> str:
    """The customer's new default method (the ``customer`` fixture's sandbox card loses it)."""
    body: dict[str, Any] = {
        "customer_id": customer,
        "gateway_id": gateway,
        "type": method_type,
        "gateway_token": token,
        "is_default": True,
    }
    if token.startswith("pm_"):
        # Stripe charges a saved method off-session only together with its customer.
        body["gateway_customer_token"] = STRIPE_CUSTOMER
    response = api.post("/v1/payment-methods", body)
    assert response.status == 201, response.body
    return str(response.data["id"])


def pay(api: ApiClient, invoice_id: str, **body: Any) -> ApiResponse:
    return api.post(f"/v1/invoices/{invoice_id}/pay", body or None)


def paid_with(api: ApiClient, invoice_id: str, status: str) -> dict[str, Any]:
    response = pay(api, invoice_id)
    assert response.status == 201, response.body
    assert response.data["status"] == status, response.body
    return dict(response.data)


def deliver(
    api: ApiClient, provider: str, gateway_id: str, payload: bytes, headers: Mapping[str, str]
) -> ApiResponse:
    """A webhook as the provider posts it: the raw signed body, no API key."""
    return api.request(
        "POST",
        f"/v1/gateway-webhooks/{provider}/{gateway_id}",
        raw_body=payload.decode(),
        headers=dict(headers),
        auth=False,
    )


def receipt(response: ApiResponse) -> tuple[int, int]:
    assert response.status == 200, response.body
    body = response.json()
    return body["received"], body["applied"]


def payment_of(api: ApiClient, payment_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/payments/{payment_id}")
    assert response.status == 200, response.body
    return dict(response.data)


def event_types(aggregate_id: str) -> list[str]:
    return [e["type"] for e in events_of(aggregate_id)]


def event_counts(*aggregate_ids: str) -> Counter[str]:
    """How many events each aggregate has, in one scan (events_of scans once per aggregate)."""
    names = {"#kind": "kind", "#envelope": "envelope", "#aggregate": "aggregate", "#id": "id"}
    values: dict[str, Any] = {":event": {"S": "event"}}
    values.update({f":id{i}": {"S": aggregate_id} for i, aggregate_id in enumerate(aggregate_ids)})
    wanted = ", ".join(f":id{i}" for i in range(len(aggregate_ids)))
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=TABLE,
            FilterExpression=f"#kind = :event AND #envelope.#aggregate.#id IN ({wanted})",
            ProjectionExpression="#envelope.#aggregate.#id",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    )
    return Counter(
        item["envelope"]["M"]["aggregate"]["M"]["id"]["S"] for page in pages for item in page["Items"]
    )


def snapshot(api: ApiClient, invoice_id: str, payment_id: str) -> tuple[Any, ...]:
    """What must not move when a webhook is refused or repeated."""
    return get_invoice(api, invoice_id), payment_of(api, payment_id), event_counts(invoice_id, payment_id)


def standing(api: ApiClient, invoice_id: str) -> tuple[str, str, str]:
    invoice = get_invoice(api, invoice_id)
    return invoice["status"], invoice["amount_paid"]["amount"], invoice["amount_remaining"]["amount"]


def precondition(holds: bool, detail: object) -> None:
    """A broken setup fails an xfail test outright instead of passing for the expected failure."""
    if not holds:
        pytest.fail(f"precondition not met: {detail}")


def header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


# --- Stripe --------------------------------------------------------------------------------


def test_a_card_payment_is_one_payment_intent_under_the_attempt_key(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "119.00")
    method = attach(api, customer, stripe_gateway, "pm_card_visa")
    payment = paid_with(api, invoice["id"], "succeeded")
    assert (payment["attempt"], payment["gateway_id"], payment["payment_method_id"]) == (
        1,
        stripe_gateway,
        method,
    )
    assert payment["amount"] == {"amount": "119.00", "currency": "EUR"}
    [intent] = stripe_api.payment_intents.values()
    assert payment["gateway_reference"] == intent["id"]
    assert (intent["amount"], intent["currency"], intent["status"]) == (11900, "eur", "succeeded")
    assert (intent["customer"], intent["payment_method"]) == (STRIPE_CUSTOMER, "pm_card_visa")
    assert intent["metadata"] == {"billow_invoice_id": invoice["id"], "billow_payment_id": payment["id"]}
    assert [(r.method, r.path, r.idempotency_key) for r in stripe_api.requests] == [
        ("POST", "/v1/payment_intents", f"billow-{invoice['id']}-attempt-1")
    ]
    assert [c["amount"] for c in stripe_api.charges] == [11900]
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"], paid["attempt_count"]) == ("paid", "119.00", 1)
    assert event_types(payment["id"]) == ["payment.succeeded"]
    assert event_types(invoice["id"])[-1] == "invoice.paid"


def test_a_declined_card_fails_and_the_next_attempt_has_its_own_key(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "40.00")
    attach(api, customer, stripe_gateway, "pm_card_chargeDeclined")
    failed = paid_with(api, invoice["id"], "failed")
    assert failed["failure"] == {
        "code": "card_declined",
        "message": "Your card was declined.",
        "decline_code": "generic_decline",
    }
    # Stripe's 402 names the PaymentIntent: the failed attempt keeps it.
    assert failed["gateway_reference"] in stripe_api.payment_intents
    after_failure = get_invoice(api, invoice["id"])
    assert (after_failure["status"], after_failure["amount_paid"]["amount"]) == ("finalized", "0.00")
    assert "invoice.payment_failed" in event_types(invoice["id"])
    assert stripe_api.charges == []
    attach(api, customer, stripe_gateway, "pm_card_visa")
    second = paid_with(api, invoice["id"], "succeeded")
    assert second["attempt"] == 2
    assert [r.idempotency_key for r in stripe_api.requests] == [
        f"billow-{invoice['id']}-attempt-1",
        f"billow-{invoice['id']}-attempt-2",
    ]
    assert [(c["payment_intent"], c["amount"]) for c in stripe_api.charges] == [
        (second["gateway_reference"], 4000)
    ]
    assert get_invoice(api, invoice["id"])["status"] == "paid"


def requires_action(api: ApiClient, customer: str, gateway: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An invoice whose card needs 3-D Secure: off-session, Stripe declines with
    ``authentication_required`` and the customer must come back."""
    invoice = open_invoice(api, customer, "60.00")
    attach(api, customer, gateway, "pm_card_authenticationRequired")
    return invoice, paid_with(api, invoice["id"], "requires_action")


def authenticated(stripe_api: StripeServer, intent_id: str, status: str = "succeeded") -> dict[str, Any]:
    """The PaymentIntent once the customer authenticated on-session (the server's off-session
    decline leaves it waiting for a payment method, so its later state is built here)."""
    intent = stripe_api.payment_intents[intent_id]
    received = intent["amount"] if status == "succeeded" else 0
    return {**intent, "status": status, "amount_received": received, "last_payment_error": None}


def test_an_authentication_is_settled_by_the_signed_webhook_once(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice, payment = requires_action(api, customer, stripe_gateway)
    assert payment["failure"] is None
    assert stripe_api.charges == []
    waiting = get_invoice(api, invoice["id"])
    assert (waiting["status"], waiting["amount_paid"]["amount"]) == ("finalized", "0.00")
    # While the customer has to act, paying again is refused without a gateway call.
    assert_refused(pay(api, invoice["id"]), 409, "invalid_state_transition")
    assert len(stripe_api.requests) == 1
    intent_id = payment["gateway_reference"]
    payload, headers = stripe_api.event("payment_intent.succeeded", authenticated(stripe_api, intent_id))
    assert receipt(deliver(api, "stripe", stripe_gateway, payload, headers)) == (1, 1)
    succeeded = payment_of(api, payment["id"])
    assert (succeeded["status"], succeeded["attempt"]) == ("succeeded", 1)
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"]) == ("paid", "60.00")
    assert event_types(invoice["id"])[-1] == "invoice.paid"
    settled = snapshot(api, invoice["id"], payment["id"])
    assert settled[2] == {invoice["id"]: len(events_of(invoice["id"])), payment["id"]: 2}
    # Stripe redelivers until it gets a 2xx: the same event again changes nothing.
    again = deliver(api, "stripe", stripe_gateway, payload, headers)
    assert again.status == 200, again.body
    assert snapshot(api, invoice["id"], payment["id"]) == settled
    # Events arrive out of order: a processing report after the success is no change.
    late, late_headers = stripe_api.event(
        "payment_intent.processing", authenticated(stripe_api, intent_id, "processing")
    )
    assert deliver(api, "stripe", stripe_gateway, late, late_headers).status == 200
    assert snapshot(api, invoice["id"], payment["id"]) == settled


def test_a_redirecting_authentication_gives_the_customer_its_url(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    stripe_api.set_outcome("pm_card_threeDSecureRequired", "requires_action")
    invoice = open_invoice(api, customer, "15.00")
    attach(api, customer, stripe_gateway, "pm_card_threeDSecureRequired")
    payment = paid_with(api, invoice["id"], "requires_action")
    assert payment["next_action"]["type"] == "redirect_to_url"
    assert payment["next_action"]["url"].startswith("https://hooks.stripe.com/redirect/authenticate/")
    payload, headers = stripe_api.succeed_payment_intent(payment["gateway_reference"])
    assert receipt(deliver(api, "stripe", stripe_gateway, payload, headers)) == (1, 1)
    done = payment_of(api, payment["id"])
    assert (done["status"], done["next_action"]) == ("succeeded", None)
    assert get_invoice(api, invoice["id"])["status"] == "paid"
    assert len(stripe_api.charges) == 1


def test_webhooks_without_a_valid_signature_or_gateway_are_refused_and_change_nothing(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice, payment = requires_action(api, customer, stripe_gateway)
    before = snapshot(api, invoice["id"], payment["id"])
    obj = authenticated(stripe_api, payment["gateway_reference"])
    payload, headers = stripe_api.event("payment_intent.succeeded", obj)
    tampered = payload.replace(b'"amount": 6000', b'"amount": 1')
    assert tampered != payload
    _, other_delivery = stripe_api.event("payment_intent.succeeded", obj)
    wrong_secret = stripe_api.event("payment_intent.succeeded", obj, secret="whsec_SomeoneElsesSecret01")
    stale = stripe_api.event("payment_intent.succeeded", obj, signed_at=int(time.time()) - 3600)
    no_header = {k: v for k, v in headers.items() if k.lower() != "stripe-signature"}
    refused = [
        (tampered, headers),  # the body was changed after signing
        wrong_secret,  # signed with another endpoint's secret
        (payload, other_delivery),  # the signature of another delivery
        stale,  # older than Stripe's 300 s tolerance: a replay
        (payload, no_header),
        (payload, {**headers, "Stripe-Signature": "t=1,v1=nothex"}),
    ]
    for body, sent in refused:
        assert_refused(deliver(api, "stripe", stripe_gateway, body, sent), 400, "invalid_signature")
    assert_refused(deliver(api, "stripe", str(uuid.uuid4()), payload, headers), 404, "not_found")
    # The gateway id names a Stripe gateway: under another provider's path it is unknown.
    assert_refused(deliver(api, "gocardless", stripe_gateway, payload, headers), 404, "not_found")
    assert_refused(deliver(api, "sandbox", stripe_gateway, payload, headers), 404, "not_found")
    assert snapshot(api, invoice["id"], payment["id"]) == before
    # None of them used the event up: the genuine delivery still applies.
    assert receipt(deliver(api, "stripe", stripe_gateway, payload, headers)) == (1, 1)
    assert payment_of(api, payment["id"])["status"] == "succeeded"


def test_a_charge_whose_answer_was_lost_is_asked_again_under_the_same_key_and_charged_once(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "88.00")
    attach(api, customer, stripe_gateway, "pm_card_visa")
    # Stripe charges, then a 500 comes from in front of its idempotency layer.
    stripe_api.fail_after_charge_next(replayed=False)
    assert_refused(pay(api, invoice["id"]), 503, "gateway_unavailable")
    [pending] = api.get("/v1/payments", query={"invoice_id": invoice["id"]}).data
    assert (pending["status"], pending["attempt"]) == ("pending", 1)
    waiting = get_invoice(api, invoice["id"])
    assert (waiting["status"], waiting["attempt_count"]) == ("finalized", 1)
    assert len(stripe_api.charges) == 1
    retried = paid_with(api, invoice["id"], "succeeded")
    assert (retried["id"], retried["attempt"]) == (pending["id"], 1)
    key = f"billow-{invoice['id']}-attempt-1"
    assert [(r.idempotency_key, r.status, r.replayed) for r in stripe_api.requests] == [
        (key, 500, False),
        (key, 200, True),
    ]
    assert len(stripe_api.charges) == 1
    assert len(stripe_api.payment_intents) == 1
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"], paid["attempt_count"]) == ("paid", "88.00", 1)


def test_a_charge_whose_500_stripe_replays_is_settled_by_its_webhook(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "88.00")
    attach(api, customer, stripe_gateway, "pm_card_visa")
    # As Stripe documents: the 500 of a request that had begun is what its key replays.
    stripe_api.fail_after_charge_next(replayed=True)
    for _ in range(2):
        precondition(pay(api, invoice["id"]).code == "gateway_unavailable", "Stripe's 500 is replayed")
    [pending] = api.get("/v1/payments", query={"invoice_id": invoice["id"]}).data
    [intent] = stripe_api.payment_intents.values()
    precondition(intent["metadata"].get("billow_payment_id") == pending["id"], intent["metadata"])
    precondition(len(stripe_api.charges) == 1, "Stripe charged once")
    # Only the webhook can tell Billow now; it names the payment in the metadata Billow sent.
    payload, headers = stripe_api.event("payment_intent.succeeded", intent)
    delivered = deliver(api, "stripe", stripe_gateway, payload, headers)
    precondition(delivered.status == 200, delivered.body)
    assert payment_of(api, pending["id"])["status"] == "succeeded"
    assert get_invoice(api, invoice["id"])["status"] == "paid"


# A UUIDv7 Billow could issue (about 1 in 650 does): its digits "4-7968-9226-8870" pass the Luhn check.
LUHN_LOOKING_ID = "01a1fdd7-7ec4-7968-9226-8870c62548f7"


def test_a_customer_whose_id_looks_like_a_card_number_can_attach_a_card(
    api: ApiClient, stripe_gateway: str, clock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = container().customers
    issue = customers.new_id
    chosen = iter([LUHN_LOOKING_ID])
    monkeypatch.setattr(customers, "new_id", lambda: next(chosen, None) or issue())
    customer = new_customer(api, currency="EUR", test_clock_id=clock)
    precondition(customer == LUHN_LOOKING_ID, customer)
    body = {
        "customer_id": customer,
        "gateway_id": stripe_gateway,
        "type": "card",
        "gateway_token": "pm_card_visa",
        "gateway_customer_token": STRIPE_CUSTOMER,
    }
    response = api.post("/v1/payment-methods", body)
    assert response.status == 201, response.body


def test_concurrent_pay_requests_make_one_charge_at_stripe(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "75.50")
    attach(api, customer, stripe_gateway, "pm_card_visa")
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: pay(api, invoice["id"]), range(8)))
    # Winners answer the one payment; the others find it paid (409) or its key busy at Stripe (503).
    assert {r.status for r in responses} <= {201, 409, 503}, [r.body for r in responses]
    created = {r.data["id"] for r in responses if r.status == 201}
    assert len(created) <= 1
    if get_invoice(api, invoice["id"])["status"] != "paid":
        created.add(paid_with(api, invoice["id"], "succeeded")["id"])
    assert len(created) == 1
    assert len(stripe_api.charges) == 1
    assert len(stripe_api.payment_intents) == 1
    assert {r.idempotency_key for r in stripe_api.requests} == {f"billow-{invoice['id']}-attempt-1"}
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"], paid["attempt_count"]) == ("paid", "75.50", 1)


def test_a_dispute_charges_the_payment_back_and_reopens_the_invoice(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "119.00")
    attach(api, customer, stripe_gateway, "pm_card_visa")
    payment = paid_with(api, invoice["id"], "succeeded")
    intent_id = payment["gateway_reference"]
    # An inquiry moves no money: acknowledged, not acted on.
    inquiry, inquiry_headers = stripe_api.dispute(intent_id, inquiry=True)
    assert receipt(deliver(api, "stripe", stripe_gateway, inquiry, inquiry_headers)) == (1, 0)
    assert payment_of(api, payment["id"])["status"] == "succeeded"
    payload, headers = stripe_api.dispute(intent_id)
    assert receipt(deliver(api, "stripe", stripe_gateway, payload, headers)) == (1, 1)
    charged_back = payment_of(api, payment["id"])
    assert charged_back["status"] == "charged_back"
    assert charged_back["charged_back_at"] is not None
    assert standing(api, invoice["id"]) == ("finalized", "0.00", "119.00")
    assert event_types(invoice["id"])[-1] == "invoice.reopened"
    assert event_types(payment["id"])[-1] == "payment.charged_back"
    settled = snapshot(api, invoice["id"], payment["id"])
    assert deliver(api, "stripe", stripe_gateway, payload, headers).status == 200
    assert snapshot(api, invoice["id"], payment["id"]) == settled
    # The reopened invoice can be paid again: a new attempt with its own key.
    again = paid_with(api, invoice["id"], "succeeded")
    assert again["attempt"] == 2
    assert len(stripe_api.charges) == 2


def test_a_refund_goes_to_stripe_with_a_credit_note_and_never_more_than_was_paid(
    api: ApiClient, stripe_api: StripeServer, stripe_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "119.00")
    attach(api, customer, stripe_gateway, "pm_card_visa")
    payment = paid_with(api, invoice["id"], "succeeded")
    response = api.post("/v1/refunds", {"payment_id": payment["id"], "amount": "30.00"})
    assert response.status == 201, response.body
    made = response.data
    assert (made["status"], made["amount"]) == ("succeeded", {"amount": "30.00", "currency": "EUR"})
    [at_stripe] = stripe_api.refunds
    assert made["gateway_reference"] == at_stripe["id"]
    assert (at_stripe["amount"], at_stripe["payment_intent"], at_stripe["status"]) == (
        3000,
        payment["gateway_reference"],
        "succeeded",
    )
    refund_keys = [r.idempotency_key for r in stripe_api.requests if r.path == "/v1/refunds"]
    assert refund_keys == [f"billow-refund-{made['id']}"]
    note = api.get(f"/v1/credit-notes/{made['credit_note_id']}").data
    assert (note["outcome"], note["total"]["amount"]) == ("refund", "30.00")
    assert note["invoice_id"] == invoice["id"]
    assert payment_of(api, payment["id"])["amount_refunded"]["amount"] == "30.00"
    # 89.00 is left: more is refused before anything is written or sent.
    notes = api.get("/v1/credit-notes", query={"invoice_id": invoice["id"]}).data
    assert_refused(
        api.post("/v1/refunds", {"payment_id": payment["id"], "amount": "89.01"}),
        422,
        "validation_failed",
        "/amount",
    )
    assert len(stripe_api.refunds) == 1
    assert api.get("/v1/credit-notes", query={"invoice_id": invoice["id"]}).data == notes
    assert payment_of(api, payment["id"])["amount_refunded"]["amount"] == "30.00"
    rest = api.post("/v1/refunds", {"payment_id": payment["id"]})
    assert (rest.status, rest.data["amount"]["amount"]) == (201, "89.00")
    assert sorted(r["amount"] for r in stripe_api.refunds) == [3000, 8900]


# --- GoCardless ----------------------------------------------------------------------------


def debit(api: ApiClient, gc_api: GoCardlessServer, customer: str, gateway: str, **mandate: Any) -> str:
    mandate_id = gc_api.add_mandate(**mandate)
    attach(api, customer, gateway, mandate_id, "sepa_debit")
    return mandate_id


def test_a_bank_debit_is_processing_until_the_settlement_webhook(
    api: ApiClient, gc_api: GoCardlessServer, gc_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "119.00")
    mandate = debit(api, gc_api, customer, gc_gateway)
    payment = paid_with(api, invoice["id"], "processing")
    [created] = gc_api.created_payments
    assert payment["gateway_reference"] == created["id"]
    assert (created["amount"], created["currency"], created["links"]["mandate"]) == (11900, "EUR", mandate)
    [sent] = [r for r in gc_api.requests if r.method == "POST"]
    assert header(sent.headers, "Idempotency-Key") == f"billow-{invoice['id']}-attempt-1"
    waiting = get_invoice(api, invoice["id"])
    assert (waiting["status"], waiting["amount_paid"]["amount"]) == ("finalized", "0.00")
    # The debit is on its way: no second attempt starts.
    assert_refused(pay(api, invoice["id"]), 409, "invalid_state_transition")
    payload, headers = gc_api.settle(created["id"])
    received, _ = receipt(deliver(api, "gocardless", gc_gateway, payload, headers))
    assert received == 2  # submitted, then confirmed
    succeeded = payment_of(api, payment["id"])
    assert succeeded["status"] == "succeeded"
    paid = get_invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]["amount"]) == ("paid", "119.00")
    assert event_types(invoice["id"])[-1] == "invoice.paid"
    settled = snapshot(api, invoice["id"], payment["id"])
    assert deliver(api, "gocardless", gc_gateway, payload, headers).status == 200
    assert snapshot(api, invoice["id"], payment["id"]) == settled
    assert len(gc_api.created_payments) == 1


def test_a_debit_whose_answer_was_lost_is_found_again_under_the_same_key(
    api: ApiClient, gc_api: GoCardlessServer, gc_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "52.00")
    debit(api, gc_api, customer, gc_gateway)
    # GoCardless creates the payment, then its answer is a 500 (the SDK repeats no answered 5xx).
    gc_api.fail_after_create_next()
    assert_refused(pay(api, invoice["id"]), 503, "gateway_unavailable")
    [pending] = api.get("/v1/payments", query={"invoice_id": invoice["id"]}).data
    assert (pending["status"], pending["attempt"]) == ("pending", 1)
    # Asked again, GoCardless answers 409 naming the payment made first, which the SDK fetches.
    retried = paid_with(api, invoice["id"], "processing")
    [created] = gc_api.created_payments
    assert (retried["id"], retried["attempt"], retried["gateway_reference"]) == (
        pending["id"],
        1,
        created["id"],
    )
    keys = {header(r.headers, "Idempotency-Key") for r in gc_api.requests if r.method == "POST"}
    assert keys == {f"billow-{invoice['id']}-attempt-1"}
    deliver(api, "gocardless", gc_gateway, *gc_api.settle(created["id"]))
    assert standing(api, invoice["id"]) == ("paid", "52.00", "0.00")
    assert len(gc_api.created_payments) == 1


def test_a_failed_debit_fails_the_payment_with_the_schemes_reason(
    api: ApiClient, gc_api: GoCardlessServer, gc_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "45.00")
    debit(api, gc_api, customer, gc_gateway, outcome="failed")
    payment = paid_with(api, invoice["id"], "processing")
    payload, headers = gc_api.settle(payment["gateway_reference"])
    assert receipt(deliver(api, "gocardless", gc_gateway, payload, headers))[0] == 2
    failed = payment_of(api, payment["id"])
    assert failed["status"] == "failed"
    assert (failed["failure"]["code"], failed["failure"]["decline_code"]) == ("insufficient_funds", "AM04")
    after = get_invoice(api, invoice["id"])
    assert (after["status"], after["amount_paid"]["amount"]) == ("finalized", "0.00")
    assert event_types(invoice["id"]).count("invoice.payment_failed") == 1
    assert event_types(payment["id"])[-1] == "payment.failed"
    assert len(gc_api.created_payments) == 1


def test_a_charged_back_debit_reopens_the_invoice(
    api: ApiClient, gc_api: GoCardlessServer, gc_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "70.00")
    debit(api, gc_api, customer, gc_gateway)
    payment = paid_with(api, invoice["id"], "processing")
    deliver(api, "gocardless", gc_gateway, *gc_api.settle(payment["gateway_reference"]))
    assert get_invoice(api, invoice["id"])["status"] == "paid"
    payload, headers = gc_api.charge_back(payment["gateway_reference"])
    assert receipt(deliver(api, "gocardless", gc_gateway, payload, headers)) == (1, 1)
    assert payment_of(api, payment["id"])["status"] == "charged_back"
    assert standing(api, invoice["id"]) == ("finalized", "0.00", "70.00")
    assert event_types(invoice["id"])[-1] == "invoice.reopened"
    assert event_types(payment["id"])[-1] == "payment.charged_back"


def test_a_gocardless_webhook_without_a_valid_signature_is_refused(
    api: ApiClient, gc_api: GoCardlessServer, gc_gateway: str, customer: str
) -> None:
    invoice = open_invoice(api, customer, "33.00")
    debit(api, gc_api, customer, gc_gateway)
    payment = paid_with(api, invoice["id"], "processing")
    before = snapshot(api, invoice["id"], payment["id"])
    payload, headers = gc_api.settle(payment["gateway_reference"])
    signature = headers["Webhook-Signature"]
    no_header = {k: v for k, v in headers.items() if k != "Webhook-Signature"}
    refused = [
        (payload.replace(b'"confirmed"', b'"paid_out"'), headers),  # changed after signing
        (payload, {**headers, "Webhook-Signature": signature[::-1]}),
        (payload, {**headers, "Webhook-Signature": "é" * 64}),  # not even ASCII
        (payload, no_header),
    ]
    for body, sent in refused:
        assert_refused(deliver(api, "gocardless", gc_gateway, body, sent), 400, "invalid_signature")
    # The same batch signed with another endpoint's secret.
    other = GoCardlessServer(webhook_secret="another-endpoints-secret")
    foreign = other.webhook(json.loads(payload)["events"])
    assert_refused(deliver(api, "gocardless", gc_gateway, *foreign), 400, "invalid_signature")
    assert_refused(deliver(api, "stripe", gc_gateway, payload, headers), 404, "not_found")
    assert snapshot(api, invoice["id"], payment["id"]) == before
    assert receipt(deliver(api, "gocardless", gc_gateway, payload, headers))[0] == 2
    assert payment_of(api, payment["id"])["status"] == "succeeded"
