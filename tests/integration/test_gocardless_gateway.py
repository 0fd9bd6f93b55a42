"""The GoCardless gateway through the real gocardless-pro SDK, over HTTP, against the local
GoCardless server (tests/support/gocardless_server.py): charges, refunds, webhooks, and one
payment per idempotency key through timeouts, lost answers and races."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from billow.adapters.gateways.gocardless import GoCardlessGateway
from billow.domain.money import Money
from billow.domain.payment import PaymentFailure
from billow.ports.gateways import (
    ChargeRequest,
    GatewayEvent,
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
)
from tests.support.gocardless_server import GoCardlessServer


@pytest.fixture
def gc() -> Iterator[GoCardlessServer]:
    with GoCardlessServer() as server:
        yield server


@pytest.fixture
def gateway(gc: GoCardlessServer) -> GoCardlessGateway:
    return GoCardlessGateway(gc.access_token, gc.webhook_secret, api_base=gc.url, timeout_seconds=2.0)


@pytest.fixture
def mandate(gc: GoCardlessServer) -> str:
    return gc.add_mandate()


def charge_request(
    mandate: str, *, key: str = "billow-inv_1-attempt-1", amount: str = "49.00", currency: str = "EUR"
) -> ChargeRequest:
    return ChargeRequest(
        amount=Money(Decimal(amount), currency),
        payment_method_token=mandate,
        idempotency_key=key,
        description="Invoice INV-0001",
        metadata={"invoice_id": "inv_1", "customer_id": "cus_1", "attempt": "1", "tenant": "t_1"},
    )


def settled_payment(gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str) -> str:
    reference = gateway.charge(charge_request(mandate)).reference
    gc.settle(reference)
    return reference


def test_the_adapter_is_a_payment_gateway(gateway: GoCardlessGateway) -> None:
    implementation: PaymentGateway = gateway
    assert implementation is gateway


# -- charges -------------------------------------------------------------------------------


def test_a_charge_is_a_bank_debit_on_its_way(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    outcome = gateway.charge(charge_request(mandate, amount="12.34", currency="GBP"))

    assert outcome.status == "processing"
    assert outcome.reference.startswith("PM")
    assert outcome.failure is None
    [payment] = gc.created_payments
    assert payment["id"] == outcome.reference
    assert payment["status"] == "pending_submission"
    assert (payment["amount"], payment["currency"]) == (1234, "GBP")
    assert payment["links"]["mandate"] == mandate
    assert payment["description"] == "Invoice INV-0001"
    # GoCardless takes at most 3 metadata keys: the first 3 are kept.
    assert payment["metadata"] == {"invoice_id": "inv_1", "customer_id": "cus_1", "attempt": "1"}
    [sent] = [r for r in gc.requests if r.method == "POST"]
    assert sent.path == "/payments"
    assert sent.headers["Idempotency-Key"] == "billow-inv_1-attempt-1"
    assert sent.headers["GoCardless-Version"] == "2015-07-06"
    assert sent.headers["Authorization"] == f"Bearer {gc.access_token}"
    assert sent.body["payments"]["amount"] == 1234  # minor units, a JSON integer


def test_a_confirmed_payment_arrives_as_a_webhook(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    reference = gateway.charge(charge_request(mandate)).reference
    body, headers = gc.settle(reference)

    events = gateway.verify_webhook(body, headers)

    assert [(e.kind, e.reference, e.status) for e in events] == [
        ("charge", reference, "processing"),
        ("charge", reference, "succeeded"),
    ]
    sent_ids = [event["id"] for event in json.loads(body)["events"]]
    assert [e.id for e in events] == sent_ids
    assert all(e.id.startswith("EV") for e in events)
    # The same key once settled answers the settled payment.
    assert gateway.charge(charge_request(mandate)).status == "succeeded"


def test_a_failed_debit_carries_the_banks_cause(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    gc.set_mandate_outcome(mandate, "failed")
    reference = gateway.charge(charge_request(mandate)).reference

    failed = gateway.verify_webhook(*gc.settle(reference))[-1]

    assert (failed.kind, failed.reference, failed.status) == ("charge", reference, "failed")
    assert failed.failure == PaymentFailure(
        "insufficient_funds", "The customer's account had insufficient funds to make this payment.", "AM04"
    )
    repeat = gateway.charge(charge_request(mandate))
    assert (repeat.status, repeat.reference) == ("failed", reference)
    assert repeat.failure is not None


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_leaves_the_outcome_unknown(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str, status: int
) -> None:
    gc.fail_next(status)
    with pytest.raises(GatewayUnavailable):
        gateway.charge(charge_request(mandate))
    assert gc.created_payments == []
    # An answered 5xx is not retried by the SDK: one request.
    assert len(gc.requests) == 1


def test_rate_limited_says_when_to_come_back(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    gc.fail_next(429, retry_after="7")
    with pytest.raises(GatewayUnavailable) as raised:
        gateway.charge(charge_request(mandate))
    assert raised.value.retry_after_seconds == 7.0

    # Without Retry-After, GoCardless's RateLimit-Reset (an HTTP date, a minute away here).
    gc.fail_next(429)
    with pytest.raises(GatewayUnavailable) as raised:
        gateway.charge(charge_request(mandate))
    assert raised.value.retry_after_seconds is not None
    assert 50 <= raised.value.retry_after_seconds <= 61
    assert gc.created_payments == []


def test_a_malformed_answer_is_retried_by_the_sdk_then_unavailable(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    gc.fail_next(502)  # an HTML page from a proxy: the SDK repeats the request, same key
    assert gateway.charge(charge_request(mandate)).status == "processing"

    gc.fail_next(502, count=3)
    with pytest.raises(GatewayUnavailable, match="malformed"):
        gateway.charge(charge_request(mandate, key="another-key"))
    assert len(gc.created_payments) == 1


def test_a_timeout_is_resolved_by_the_sdks_retry_without_a_second_payment(
    gc: GoCardlessServer, mandate: str
) -> None:
    gateway = GoCardlessGateway(gc.access_token, None, api_base=gc.url, timeout_seconds=0.2)
    gc.delay_next(0.6)  # the payment is created, the answer comes too late

    outcome = gateway.charge(charge_request(mandate))

    [payment] = gc.created_payments
    assert (outcome.status, outcome.reference) == ("processing", payment["id"])
    # The SDK repeated the POST with the same key, got the 409 and fetched the payment.
    assert [(r.method, r.path) for r in gc.requests] == [
        ("POST", "/payments"),
        ("POST", "/payments"),
        ("GET", f"/payments/{payment['id']}"),
    ]
    assert gc.requests[0].headers["Idempotency-Key"] == gc.requests[1].headers["Idempotency-Key"]


def test_a_timeout_then_the_same_key_answers_the_same_payment(gc: GoCardlessServer, mandate: str) -> None:
    gateway = GoCardlessGateway(gc.access_token, None, api_base=gc.url, timeout_seconds=0.2)
    gc.delay_next(0.5, count=3)  # every attempt of the SDK times out

    started = time.monotonic()
    with pytest.raises(GatewayUnavailable, match="in time"):
        gateway.charge(charge_request(mandate))
    assert time.monotonic() - started < 3

    again = gateway.charge(charge_request(mandate))

    [payment] = gc.created_payments
    assert (again.status, again.reference) == ("processing", payment["id"])


def test_an_answer_lost_after_the_payment_was_created_then_the_same_key(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    gc.fail_after_create_next()
    with pytest.raises(GatewayUnavailable):
        gateway.charge(charge_request(mandate))
    assert len(gc.created_payments) == 1

    again = gateway.charge(charge_request(mandate))

    [payment] = gc.created_payments
    assert again.reference == payment["id"]


def test_sixteen_racing_charges_with_one_key_make_one_payment(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(lambda _: gateway.charge(charge_request(mandate)), range(16)))

    [payment] = gc.created_payments
    assert {o.reference for o in outcomes} == {payment["id"]}
    assert {o.status for o in outcomes} == {"processing"}


def test_a_key_reused_for_another_charge_is_refused(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    gateway.charge(charge_request(mandate, amount="49.00"))
    with pytest.raises(GatewayRefused) as raised:
        gateway.charge(charge_request(mandate, amount="50.00"))
    assert raised.value.code == "idempotency_key_in_use"
    assert len(gc.created_payments) == 1


@pytest.mark.parametrize("status", ["cancelled", "failed", "expired"])
def test_an_inactive_mandate_is_refused(
    gc: GoCardlessServer, gateway: GoCardlessGateway, status: str
) -> None:
    mandate = gc.add_mandate(status=status)
    with pytest.raises(GatewayRefused) as raised:
        gateway.charge(charge_request(mandate))
    assert raised.value.code == "mandate_is_inactive"
    assert gc.created_payments == []


def test_an_unknown_mandate_or_currency_is_refused(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    with pytest.raises(GatewayRefused) as raised:
        gateway.charge(charge_request("MD0000NOSUCH"))
    assert raised.value.code == "resource_not_found"

    with pytest.raises(GatewayRefused) as raised:
        gateway.charge(charge_request(mandate, currency="JPY", amount="100"))
    assert raised.value.code == "validation_failed"
    assert "currency" in raised.value.detail
    assert gc.created_payments == []


def test_a_wrong_token_is_refused_and_never_repeated(gc: GoCardlessServer, mandate: str) -> None:
    token = "sandbox_not-the-right-token"
    gateway = GoCardlessGateway(token, None, api_base=gc.url)
    with pytest.raises(GatewayRefused) as raised:
        gateway.charge(charge_request(mandate))
    assert raised.value.code == "access_token_not_found"
    assert token not in str(raised.value)
    assert gc.created_payments == []


def test_tokens_choose_the_environment_and_nothing_else_is_a_token() -> None:
    assert GoCardlessGateway("sandbox_abcdefgh", None).environment == "sandbox"
    assert GoCardlessGateway("live_abcdefgh", None).environment == "live"
    with pytest.raises(ValueError, match="sandbox_ or live_") as raised:
        GoCardlessGateway("sk_test_abcdefgh", None)
    assert "sk_test_abcdefgh" not in str(raised.value)


def test_two_tenants_in_one_process_keep_their_own_tokens(gc: GoCardlessServer, mandate: str) -> None:
    with GoCardlessServer(access_token="sandbox_second-tenant-token") as other:
        other_mandate = other.add_mandate()
        first = GoCardlessGateway(gc.access_token, None, api_base=gc.url)
        second = GoCardlessGateway(other.access_token, None, api_base=other.url)

        first.charge(charge_request(mandate))
        second.charge(charge_request(other_mandate))

        assert len(gc.created_payments) == len(other.created_payments) == 1
        assert other.requests[0].headers["Authorization"] == "Bearer sandbox_second-tenant-token"


def test_gocardless_out_of_reach_is_unavailable(mandate: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = GoCardlessGateway("sandbox_abcdefgh", None, api_base=f"http://127.0.0.1:{port}")
    with pytest.raises(GatewayUnavailable, match="could not be reached"):
        gateway.charge(charge_request(mandate))


# -- refunds -------------------------------------------------------------------------------


def test_partial_then_full_refunds(gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str) -> None:
    reference = settled_payment(gc, gateway, mandate)

    first = gateway.refund(reference, Money(Decimal("10.00"), "EUR"), "refund-1")
    rest = gateway.refund(reference, Money(Decimal("39.00"), "EUR"), "refund-2")

    assert (first.status, rest.status) == ("pending", "pending")
    assert first.reference.startswith("RF")
    assert [(r["id"], r["amount"]) for r in gc.created_refunds] == [
        (first.reference, 1000),
        (rest.reference, 3900),
    ]
    # GoCardless's safeguard: each refund confirms the total refunded so far, itself included.
    confirmations = [
        r.body["refunds"]["total_amount_confirmation"] for r in gc.requests if r.path == "/refunds"
    ]
    assert confirmations == [1000, 4900]
    assert gc.payments[reference]["amount_refunded"] == 4900


def test_refunding_more_than_was_paid_is_refused(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    reference = settled_payment(gc, gateway, mandate)
    gateway.refund(reference, Money(Decimal("40.00"), "EUR"), "refund-1")

    with pytest.raises(GatewayRefused) as raised:
        gateway.refund(reference, Money(Decimal("10.00"), "EUR"), "refund-2")

    assert raised.value.code == "validation_failed"
    assert "amount" in raised.value.detail
    assert len(gc.created_refunds) == 1


def test_a_repeated_refund_key_refunds_once(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    reference = settled_payment(gc, gateway, mandate)
    gc.fail_after_create_next()
    with pytest.raises(GatewayUnavailable):
        gateway.refund(reference, Money(Decimal("10.00"), "EUR"), "refund-1")

    again = gateway.refund(reference, Money(Decimal("10.00"), "EUR"), "refund-1")
    once_more = gateway.refund(reference, Money(Decimal("10.00"), "EUR"), "refund-1")

    [refund] = gc.created_refunds
    assert again.reference == once_more.reference == refund["id"]
    assert gc.payments[reference]["amount_refunded"] == 1000


def test_refunds_gocardless_cannot_make_are_refused(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    unsettled = gateway.charge(charge_request(mandate)).reference
    with pytest.raises(GatewayRefused) as raised:
        gateway.refund(unsettled, Money(Decimal("1.00"), "EUR"), "refund-1")
    assert raised.value.code == "refund_payment_invalid_state"

    with pytest.raises(GatewayRefused) as raised:
        gateway.refund(unsettled, Money(Decimal("1.00"), "GBP"), "refund-2")
    assert raised.value.code == "currency_mismatch"

    with pytest.raises(GatewayRefused) as raised:
        gateway.refund("PM0000NOSUCH", Money(Decimal("1.00"), "EUR"), "refund-3")
    assert raised.value.code == "resource_not_found"

    with pytest.raises(GatewayRefused) as raised:
        gateway.refund("../mandates/x", Money(Decimal("1.00"), "EUR"), "refund-4")
    assert raised.value.code == "resource_not_found"
    assert gc.created_refunds == []


def test_refund_webhooks(gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str) -> None:
    reference = settled_payment(gc, gateway, mandate)
    paid = gateway.refund(reference, Money(Decimal("10.00"), "EUR"), "refund-1").reference
    bounced = gateway.refund(reference, Money(Decimal("5.00"), "EUR"), "refund-2").reference

    [paid_event] = gateway.verify_webhook(*gc.settle_refund(paid))
    [bounced_event] = gateway.verify_webhook(*gc.settle_refund(bounced, "bounced"))

    assert (paid_event.kind, paid_event.reference, paid_event.status) == ("refund", paid, "succeeded")
    assert (bounced_event.kind, bounced_event.reference, bounced_event.status) == (
        "refund",
        bounced,
        "failed",
    )
    assert bounced_event.failure is not None
    assert bounced_event.failure.code == "refund_bounced"


# -- webhooks ------------------------------------------------------------------------------


def test_a_tampered_body_is_refused(gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str) -> None:
    reference = gateway.charge(charge_request(mandate))
    body, headers = gc.settle(reference.reference)
    tampered = body.replace(b'"confirmed"', b'"cancelled"')
    assert tampered != body

    with pytest.raises(GatewayRefused) as raised:
        gateway.verify_webhook(tampered, headers)
    assert raised.value.code == "invalid_signature"


def test_a_webhook_signed_with_another_secret_is_refused(gc: GoCardlessServer, mandate: str) -> None:
    body, headers = gc.webhook([gc.event("payments", "confirmed", {"payment": "PM0000000001"})])
    gateway = GoCardlessGateway(gc.access_token, "another-endpoint-secret", api_base=gc.url)
    with pytest.raises(GatewayRefused) as raised:
        gateway.verify_webhook(body, headers)
    assert raised.value.code == "invalid_signature"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Webhook-Signature": ""}, {"Webhook-Signature": "not-hex"}, {"Webhook-Signature": "é" * 64}],
)
def test_a_missing_or_malformed_signature_is_refused(
    gc: GoCardlessServer, gateway: GoCardlessGateway, headers: dict[str, str]
) -> None:
    body, _ = gc.webhook([gc.event("payments", "confirmed", {"payment": "PM0000000001"})])
    with pytest.raises(GatewayRefused) as raised:
        gateway.verify_webhook(body, headers)
    assert raised.value.code == "invalid_signature"


def test_without_a_webhook_secret_nothing_verifies(gc: GoCardlessServer) -> None:
    body, headers = gc.webhook([gc.event("payments", "confirmed", {"payment": "PM0000000001"})])
    gateway = GoCardlessGateway(gc.access_token, None, api_base=gc.url)
    with pytest.raises(GatewayRefused) as raised:
        gateway.verify_webhook(body, headers)
    assert raised.value.code == "invalid_signature"


def test_the_signature_header_is_found_whatever_its_case(
    gc: GoCardlessServer, gateway: GoCardlessGateway
) -> None:
    body, headers = gc.webhook([gc.event("payments", "paid_out", {"payment": "PM0000000001"})])
    lowered = {key.lower(): value for key, value in headers.items()}
    [event] = gateway.verify_webhook(body, lowered)
    assert (event.kind, event.status) == ("charge", "succeeded")


def test_a_charge_back_is_a_dispute(gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str) -> None:
    reference = settled_payment(gc, gateway, mandate)

    [event] = gateway.verify_webhook(*gc.charge_back(reference))

    assert (event.kind, event.reference, event.status) == ("dispute", reference, "charged_back")
    assert gateway.charge(charge_request(mandate)).status == "charged_back"


def test_a_cancelled_mandate_is_a_mandate_event(
    gc: GoCardlessServer, gateway: GoCardlessGateway, mandate: str
) -> None:
    [event] = gateway.verify_webhook(*gc.cancel_mandate(mandate))

    assert (event.kind, event.reference, event.status) == ("mandate", mandate, "cancelled")
    with pytest.raises(GatewayRefused, match="cancelled"):
        gateway.charge(charge_request(mandate))


def test_a_batch_maps_what_billow_follows_and_skips_the_rest(
    gc: GoCardlessServer, gateway: GoCardlessGateway
) -> None:
    pm = {"payment": "PM0000000001"}
    events = [
        gc.event("payments", "customer_approval_granted", pm),
        gc.event("payments", "resubmission_requested", pm),  # skipped
        gc.event("payouts", "paid", {"payout": "PO0000000001"}),  # skipped
        gc.event(
            "payments",
            "late_failure_settled",
            pm,
            origin="bank",
            cause="refer_to_payer",
            description="The customer's bank refused the payment.",
            scheme="bacs",
            reason_code="ARUDD-4",
        ),
        gc.event("mandates", "expired", {"mandate": "MD0000000001"}),
        gc.event("mandates", "active", {"mandate": "MD0000000001"}),  # skipped
        gc.event("refunds", "created", {"refund": "RF0000000001", "payment": "PM0000000001"}),
    ]

    mapped = gateway.verify_webhook(*gc.webhook(events))

    assert mapped == [
        GatewayEvent(events[0]["id"], "charge", "PM0000000001", "processing"),
        GatewayEvent(
            events[3]["id"],
            "charge",
            "PM0000000001",
            "failed",
            PaymentFailure("refer_to_payer", "The customer's bank refused the payment.", "ARUDD-4"),
        ),
        GatewayEvent(
            events[4]["id"],
            "mandate",
            "MD0000000001",
            "expired",
            PaymentFailure("mandate_expired", "GoCardless reports: expired"),
        ),
        GatewayEvent(events[6]["id"], "refund", "RF0000000001", "pending"),
    ]


@pytest.mark.parametrize("body", [b"[1, 2]", b"{}", b"not json", b"\xff\xfe"])
def test_a_signed_body_that_is_no_event_batch_is_refused(
    gc: GoCardlessServer, gateway: GoCardlessGateway, body: bytes
) -> None:
    signature = hmac.new(gc.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(GatewayRefused) as raised:
        gateway.verify_webhook(body, {"Webhook-Signature": signature})
    assert raised.value.code == "invalid_payload"
