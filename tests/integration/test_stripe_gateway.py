"""The Stripe gateway through the real SDK against a local Stripe (tests/support/stripe_server.py):
outcomes, error mapping, one charge per idempotency key whatever fails in between, refunds and
webhook signatures."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from billow.adapters.gateways.stripe import StripeGateway
from billow.domain.money import Money
from billow.domain.payment import PaymentFailure
from billow.ports.gateways import (
    ChargeOutcome,
    ChargeRequest,
    GatewayEvent,
    GatewayRefused,
    GatewayUnavailable,
)
from tests.support.stripe_server import StripeServer

SECRET = "sk_test_billowLocal000000000000000001"


@pytest.fixture
def stripe_api() -> Iterator[StripeServer]:
    with StripeServer() as server:
        yield server


@pytest.fixture
def gateway(stripe_api: StripeServer) -> StripeGateway:
    return StripeGateway(SECRET, stripe_api.webhook_secret, api_base=stripe_api.url, timeout_seconds=5)


def wait_for(condition: Callable[[], object], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the local Stripe server did not get there in time"
        time.sleep(0.005)


def charge_request(
    payment_method: str = "pm_card_visa",
    *,
    key: str = "billow-inv_1-attempt-1",
    amount: str = "49.00",
    currency: str = "EUR",
    customer: str | None = "cus_Billow0001",
) -> ChargeRequest:
    return ChargeRequest(
        amount=Money(Decimal(amount), currency),
        payment_method_token=payment_method,
        idempotency_key=key,
        description="Invoice INV-0001",
        customer_token=customer,
        metadata={"billow_invoice_id": "inv_1", "billow_tenant_id": "ten_1"},
    )


# -- charges ------------------------------------------------------------------------------


def test_a_charge_creates_and_confirms_a_payment_intent_off_session(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    outcome = gateway.charge(charge_request())

    assert outcome == ChargeOutcome("succeeded", outcome.reference)
    assert outcome.reference.startswith("pi_")
    intent = stripe_api.payment_intents[outcome.reference]
    assert (intent["amount"], intent["currency"], intent["status"]) == (4900, "eur", "succeeded")
    assert intent["customer"] == "cus_Billow0001"
    assert intent["payment_method"] == "pm_card_visa"
    assert intent["description"] == "Invoice INV-0001"
    assert intent["metadata"] == {"billow_invoice_id": "inv_1", "billow_tenant_id": "ten_1"}
    assert intent["latest_charge"].startswith("ch_")
    assert [c["payment_intent"] for c in stripe_api.charges] == [outcome.reference]
    assert [(r.method, r.path, r.idempotency_key) for r in stripe_api.requests] == [
        ("POST", "/v1/payment_intents", "billow-inv_1-attempt-1")
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("49.00", "EUR", 4900), ("5000", "JPY", 5000), ("12.340", "KWD", 12340), ("500", "ISK", 50000)],
)
def test_amounts_go_in_stripes_minor_units(
    gateway: StripeGateway, stripe_api: StripeServer, amount: str, currency: str, minor: int
) -> None:
    outcome = gateway.charge(charge_request(amount=amount, currency=currency))
    intent = stripe_api.payment_intents[outcome.reference]
    assert (intent["amount"], intent["currency"]) == (minor, currency.lower())


def test_an_amount_stripe_cannot_express_is_refused_before_any_request(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    with pytest.raises(GatewayRefused) as refused:
        gateway.charge(charge_request(amount="10.5", currency="JPY"))
    assert refused.value.code == "invalid_amount"
    assert stripe_api.requests == []


def test_a_charge_without_a_customer_is_sent_without_one(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    outcome = gateway.charge(charge_request(customer=None))
    assert stripe_api.payment_intents[outcome.reference]["customer"] is None


@pytest.mark.parametrize(
    ("token", "failure"),
    [
        (
            "pm_card_chargeDeclined",
            PaymentFailure("card_declined", "Your card was declined.", "generic_decline"),
        ),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            PaymentFailure("card_declined", "Your card has insufficient funds.", "insufficient_funds"),
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            PaymentFailure("expired_card", "Your card has expired.", "expired_card"),
        ),
    ],
)
def test_a_decline_is_a_failed_outcome_on_its_payment_intent(
    gateway: StripeGateway, stripe_api: StripeServer, token: str, failure: PaymentFailure
) -> None:
    outcome = gateway.charge(charge_request(token))

    assert outcome == ChargeOutcome("failed", outcome.reference, failure=failure)
    intent = stripe_api.payment_intents[outcome.reference]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["code"] == failure.code
    assert stripe_api.charges == []


@pytest.mark.parametrize("token", ["pm_card_authenticationRequired", "pm_card_threeDSecureRequired"])
def test_a_card_that_needs_authentication_off_session_requires_action(
    gateway: StripeGateway, stripe_api: StripeServer, token: str
) -> None:
    outcome = gateway.charge(charge_request(token))

    # Stripe declines it (402 authentication_required); the customer must come back on-session.
    assert outcome == ChargeOutcome("requires_action", outcome.reference, next_action_url=None)
    assert stripe_api.payment_intents[outcome.reference]["status"] == "requires_payment_method"
    assert stripe_api.charges == []


def test_a_payment_intent_that_waits_for_a_redirect_gives_its_url(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    stripe_api.set_outcome("pm_card_visa", "requires_action")

    outcome = gateway.charge(charge_request())

    assert outcome.status == "requires_action"
    assert outcome.next_action_url is not None
    assert outcome.next_action_url.startswith("https://hooks.stripe.com/redirect/authenticate/")


def test_a_bank_debit_is_processing_until_its_webhook(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    outcome = gateway.charge(charge_request("pm_sepaDebit_DE"))

    assert outcome == ChargeOutcome("processing", outcome.reference)
    assert len(stripe_api.charges) == 1

    payload, headers = stripe_api.succeed_payment_intent(outcome.reference)
    [event] = gateway.verify_webhook(payload, headers)
    assert event.kind == "charge"
    assert (event.reference, event.status, event.amount) == (
        outcome.reference,
        "succeeded",
        Money(Decimal("49.00"), "EUR"),
    )


def test_a_failed_bank_debit_reports_why(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    outcome = gateway.charge(charge_request("pm_sepaDebit_DE"))

    [event] = gateway.verify_webhook(*stripe_api.fail_payment_intent(outcome.reference))

    assert (event.kind, event.reference, event.status) == ("charge", outcome.reference, "failed")
    assert event.failure == PaymentFailure(
        "insufficient_funds", "The customer's account has insufficient funds to cover this payment."
    )


def test_a_card_can_fail_and_then_succeed_on_the_next_attempt(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    stripe_api.set_outcome("pm_card_visa", "insufficient_funds")
    first = gateway.charge(charge_request(key="billow-inv_1-attempt-1"))
    stripe_api.set_outcome("pm_card_visa", "succeeded")
    second = gateway.charge(charge_request(key="billow-inv_1-attempt-2"))
    again = gateway.charge(charge_request(key="billow-inv_1-attempt-1"))

    assert (first.status, second.status) == ("failed", "succeeded")
    assert first.reference != second.reference
    assert again == first  # the first attempt's key still answers its decline
    assert [c["payment_intent"] for c in stripe_api.charges] == [second.reference]


@pytest.mark.parametrize(
    ("token", "customer", "code"),
    [
        ("card_1Legacy", "cus_Billow0001", "resource_missing"),
        ("pm_card_visa", "not_a_customer", "resource_missing"),
    ],
)
def test_an_unknown_payment_method_or_customer_is_refused(
    gateway: StripeGateway, stripe_api: StripeServer, token: str, customer: str, code: str
) -> None:
    with pytest.raises(GatewayRefused) as refused:
        gateway.charge(charge_request(token, customer=customer))
    assert refused.value.code == code
    assert stripe_api.payment_intents == {}


# -- when Stripe does not answer for sure ------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_before_anything_is_unavailable_and_the_repeat_charges(
    gateway: StripeGateway, stripe_api: StripeServer, status: int
) -> None:
    stripe_api.fail_next(status)

    with pytest.raises(GatewayUnavailable):
        gateway.charge(charge_request())
    assert stripe_api.payment_intents == {}

    outcome = gateway.charge(charge_request())
    assert outcome.status == "succeeded"
    assert len(stripe_api.charges) == 1


@pytest.mark.parametrize(
    ("status", "retry_after", "seconds"), [(429, "3", 3.0), (503, "1.5", 1.5), (429, None, None)]
)
def test_rate_limiting_and_overload_are_unavailable_with_retry_after(
    gateway: StripeGateway,
    stripe_api: StripeServer,
    status: int,
    retry_after: str | None,
    seconds: float | None,
) -> None:
    stripe_api.fail_next(status, retry_after=retry_after)

    with pytest.raises(GatewayUnavailable) as unavailable:
        gateway.charge(charge_request())

    assert unavailable.value.retry_after_seconds == seconds
    assert stripe_api.charges == []


def test_retry_after_may_be_a_date(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    stripe_api.fail_next(503, retry_after=email.utils.formatdate(time.time() + 30, usegmt=True))

    with pytest.raises(GatewayUnavailable) as unavailable:
        gateway.charge(charge_request())

    assert unavailable.value.retry_after_seconds is not None
    assert 27 <= unavailable.value.retry_after_seconds <= 30


def test_a_timeout_after_stripe_charged_is_unavailable_and_the_repeat_answers_the_same_intent(
    stripe_api: StripeServer,
) -> None:
    impatient = StripeGateway(SECRET, None, api_base=stripe_api.url, timeout_seconds=0.2)
    stripe_api.delay_next(0.6)

    with pytest.raises(GatewayUnavailable):
        impatient.charge(charge_request())
    wait_for(lambda: stripe_api.requests[0].status)
    [charged] = stripe_api.charges  # Stripe did charge

    outcome = impatient.charge(charge_request())

    assert outcome == ChargeOutcome("succeeded", charged["payment_intent"])
    assert len(stripe_api.charges) == 1
    assert stripe_api.requests[-1].replayed


def test_a_500_after_charging_is_what_the_key_replays_and_nothing_is_charged_twice(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    stripe_api.fail_after_charge_next()  # Stripe saves a 500 under the key, as documented

    with pytest.raises(GatewayUnavailable):
        gateway.charge(charge_request())
    with pytest.raises(GatewayUnavailable):
        gateway.charge(charge_request())

    [charged] = stripe_api.charges
    assert stripe_api.payment_intents[charged["payment_intent"]]["status"] == "succeeded"
    assert [r.replayed for r in stripe_api.requests] == [False, True]


def test_a_500_in_front_of_stripe_after_charging_then_a_repeat_gets_the_charge(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    stripe_api.fail_after_charge_next(replayed=False)

    with pytest.raises(GatewayUnavailable):
        gateway.charge(charge_request())
    outcome = gateway.charge(charge_request())

    [charged] = stripe_api.charges
    assert outcome == ChargeOutcome("succeeded", charged["payment_intent"])


def test_the_sdks_own_retries_reuse_the_key(stripe_api: StripeServer) -> None:
    retrying = StripeGateway(SECRET, None, api_base=stripe_api.url, timeout_seconds=5, max_network_retries=1)
    stripe_api.fail_after_charge_next(replayed=False)

    outcome = retrying.charge(charge_request())

    assert outcome.status == "succeeded"
    assert len(stripe_api.charges) == 1
    assert [(r.idempotency_key, r.status) for r in stripe_api.requests] == [
        ("billow-inv_1-attempt-1", 500),
        ("billow-inv_1-attempt-1", 200),
    ]


def test_the_same_key_with_another_amount_is_refused(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    gateway.charge(charge_request(amount="49.00"))

    with pytest.raises(GatewayRefused) as refused:
        gateway.charge(charge_request(amount="59.00"))

    assert refused.value.code == "idempotency_key_in_use"
    assert len(stripe_api.charges) == 1


def test_a_repeat_while_the_first_request_runs_is_unavailable_then_answers(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    stripe_api.hold_next(0.4)
    first: list[ChargeOutcome] = []
    running = threading.Thread(target=lambda: first.append(gateway.charge(charge_request())))
    running.start()
    wait_for(lambda: stripe_api.charges)  # charged, and holding the key for 0.4 s

    with pytest.raises(GatewayUnavailable):  # 409 idempotency_key_in_use: try again later
        gateway.charge(charge_request())
    running.join()

    assert gateway.charge(charge_request()) == first[0]
    assert len(stripe_api.charges) == 1


def test_sixteen_threads_charging_with_one_key_charge_once(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    start = threading.Barrier(16)

    def charge() -> ChargeOutcome | GatewayUnavailable:
        start.wait()
        try:
            return gateway.charge(charge_request())
        except GatewayUnavailable as unavailable:  # the key was busy: Stripe says try again
            return unavailable

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: charge(), range(16)))

    [charged] = stripe_api.charges
    outcomes = [r for r in results if isinstance(r, ChargeOutcome)]
    assert outcomes
    assert {o.reference for o in outcomes} == {charged["payment_intent"]}
    assert gateway.charge(charge_request()).reference == charged["payment_intent"]
    assert len(stripe_api.payment_intents) == 1


# -- credentials --------------------------------------------------------------------------


def test_a_bad_api_key_is_refused_without_repeating_it() -> None:
    with StripeServer(api_keys={SECRET}) as stripe_api:
        wrong = "sk_test_wrongKey0000000000000000000042"
        gateway = StripeGateway(wrong, None, api_base=stripe_api.url)

        with pytest.raises(GatewayRefused) as refused:
            gateway.charge(charge_request())

    assert refused.value.code == "invalid_api_key"
    assert wrong not in str(refused.value)
    assert refused.value.__cause__ is None
    assert wrong not in repr(gateway)
    assert stripe_api.payment_intents == {}


def test_each_api_key_is_its_own_account(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    outcome = gateway.charge(charge_request())
    other_tenant = StripeGateway("sk_test_otherTenant00000000000000000007", None, api_base=stripe_api.url)

    with pytest.raises(GatewayRefused) as refused:
        other_tenant.refund(outcome.reference, Money(Decimal("49.00"), "EUR"), "refund-1")

    assert refused.value.code == "resource_missing"


# -- refunds ------------------------------------------------------------------------------


def test_a_full_refund(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    charge = gateway.charge(charge_request())

    refund = gateway.refund(charge.reference, Money(Decimal("49.00"), "EUR"), "billow-refund-1")

    assert refund.status == "succeeded"
    assert refund.reference.startswith("re_")
    [stored] = stripe_api.refunds
    assert (stored["id"], stored["amount"], stored["payment_intent"]) == (
        refund.reference,
        4900,
        charge.reference,
    )


def test_partial_refunds_up_to_what_was_charged(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    charge = gateway.charge(charge_request())

    first = gateway.refund(charge.reference, Money(Decimal("20.00"), "EUR"), "billow-refund-1")
    second = gateway.refund(charge.reference, Money(Decimal("29.00"), "EUR"), "billow-refund-2")
    with pytest.raises(GatewayRefused) as refused:
        gateway.refund(charge.reference, Money(Decimal("0.01"), "EUR"), "billow-refund-3")

    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert refused.value.code == "charge_already_refunded"
    assert [r["amount"] for r in stripe_api.refunds] == [2000, 2900]


def test_a_refund_of_more_than_was_charged_is_refused(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    charge = gateway.charge(charge_request())

    with pytest.raises(GatewayRefused) as refused:
        gateway.refund(charge.reference, Money(Decimal("49.01"), "EUR"), "billow-refund-1")

    assert refused.value.code == "amount_too_large"
    assert stripe_api.refunds == []


def test_a_repeated_refund_refunds_once(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    charge = gateway.charge(charge_request())
    stripe_api.fail_after_charge_next(replayed=False)

    with pytest.raises(GatewayUnavailable):
        gateway.refund(charge.reference, Money(Decimal("10.00"), "EUR"), "billow-refund-1")
    refund = gateway.refund(charge.reference, Money(Decimal("10.00"), "EUR"), "billow-refund-1")
    again = gateway.refund(charge.reference, Money(Decimal("10.00"), "EUR"), "billow-refund-1")

    assert refund == again
    assert [r["id"] for r in stripe_api.refunds] == [refund.reference]


def test_a_bank_debit_refund_is_pending_until_its_webhook(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    charge = gateway.charge(charge_request("pm_sepaDebit_DE"))
    stripe_api.succeed_payment_intent(charge.reference)

    refund = gateway.refund(charge.reference, Money(Decimal("49.00"), "EUR"), "billow-refund-1")
    assert refund.status == "pending"

    [event] = gateway.verify_webhook(*stripe_api.update_refund(refund.reference, "succeeded"))
    assert (event.kind, event.reference, event.status, event.amount) == (
        "refund",
        refund.reference,
        "succeeded",
        Money(Decimal("49.00"), "EUR"),
    )


def test_a_failed_refund_event_says_why(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    charge = gateway.charge(charge_request())
    refund = gateway.refund(charge.reference, Money(Decimal("49.00"), "EUR"), "billow-refund-1")

    payload, headers = stripe_api.update_refund(
        refund.reference, "failed", failure_reason="lost_or_stolen_card"
    )
    [event] = gateway.verify_webhook(payload, headers)

    assert (event.kind, event.status) == ("refund", "failed")
    assert event.failure is not None
    assert event.failure.code == "lost_or_stolen_card"


def test_a_refund_may_name_the_charge_instead_of_the_payment_intent(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    gateway.charge(charge_request())
    [charge] = stripe_api.charges

    refund = gateway.refund(charge["id"], Money(Decimal("5.00"), "EUR"), "billow-refund-1")

    assert [(r["id"], r["charge"], r["amount"]) for r in stripe_api.refunds] == [
        (refund.reference, charge["id"], 500)
    ]


def test_a_refund_of_a_charge_that_failed_is_refused(gateway: StripeGateway) -> None:
    declined = gateway.charge(charge_request("pm_card_chargeDeclined"))

    with pytest.raises(GatewayRefused) as refused:
        gateway.refund(declined.reference, Money(Decimal("49.00"), "EUR"), "billow-refund-1")

    assert refused.value.code == "charge_not_refundable"


# -- webhooks -----------------------------------------------------------------------------


def intent_object(stripe_api: StripeServer, gateway: StripeGateway) -> dict[str, object]:
    outcome = gateway.charge(charge_request())
    return stripe_api.payment_intents[outcome.reference]


def test_a_signed_event_is_mapped(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    intent = intent_object(stripe_api, gateway)
    payload, headers = stripe_api.event("payment_intent.succeeded", intent)

    events = gateway.verify_webhook(payload, {k.lower(): v for k, v in headers.items()})

    assert events == [
        GatewayEvent(
            json.loads(payload)["id"],
            "charge",
            str(intent["id"]),
            "succeeded",
            None,
            Money(Decimal("49.00"), "EUR"),
        )
    ]


def test_a_tampered_payload_is_refused(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    payload, headers = stripe_api.event("payment_intent.succeeded", intent_object(stripe_api, gateway))
    tampered = payload.replace(b'"amount": 4900', b'"amount": 9900')
    assert tampered != payload

    with pytest.raises(GatewayRefused) as refused:
        gateway.verify_webhook(tampered, headers)
    assert refused.value.code == "invalid_signature"


def test_a_payload_signed_with_another_secret_is_refused(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    payload, headers = stripe_api.event(
        "payment_intent.succeeded", intent_object(stripe_api, gateway), secret="whsec_someone_else"
    )
    with pytest.raises(GatewayRefused) as refused:
        gateway.verify_webhook(payload, headers)
    assert refused.value.code == "invalid_signature"


def test_a_missing_signature_or_webhook_secret_is_refused(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    payload, headers = stripe_api.event("payment_intent.succeeded", intent_object(stripe_api, gateway))
    without_secret = StripeGateway(SECRET, None, api_base=stripe_api.url)

    with pytest.raises(GatewayRefused) as no_header:
        gateway.verify_webhook(payload, {"Content-Type": "application/json"})
    with pytest.raises(GatewayRefused) as no_secret:
        without_secret.verify_webhook(payload, headers)

    assert (no_header.value.code, no_secret.value.code) == ("invalid_signature", "invalid_signature")


def test_a_signature_older_than_five_minutes_is_refused(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    intent = intent_object(stripe_api, gateway)
    fresh = stripe_api.event("payment_intent.succeeded", intent, signed_at=int(time.time()) - 280)
    stale = stripe_api.event("payment_intent.succeeded", intent, signed_at=int(time.time()) - 301)

    assert len(gateway.verify_webhook(*fresh)) == 1
    with pytest.raises(GatewayRefused) as refused:
        gateway.verify_webhook(*stale)
    assert refused.value.code == "invalid_signature"


def test_an_event_type_billow_does_not_use_is_acknowledged_and_ignored(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    payload, headers = stripe_api.event(
        "customer.created", {"id": "cus_Billow0001", "object": "customer", "email": None}
    )
    assert gateway.verify_webhook(payload, headers) == []


def test_a_declined_payment_event_carries_the_failure(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    declined = gateway.charge(charge_request("pm_card_chargeDeclinedInsufficientFunds"))
    intent = stripe_api.payment_intents[declined.reference]

    [event] = gateway.verify_webhook(*stripe_api.event("payment_intent.payment_failed", intent))

    assert (event.kind, event.reference, event.status) == ("charge", declined.reference, "failed")
    assert event.failure == declined.failure


def test_a_dispute_is_a_chargeback_of_the_payment_intent(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    charge = gateway.charge(charge_request())

    [created] = gateway.verify_webhook(*stripe_api.dispute(charge.reference))
    dispute_id = stripe_api.events[-1]["data"]["object"]["id"]
    [closed] = gateway.verify_webhook(*stripe_api.close_dispute(dispute_id, "won"))

    assert dispute_id.startswith("du_")
    assert (created.kind, created.reference, created.status, created.amount) == (
        "dispute",
        charge.reference,
        "charged_back",
        Money(Decimal("49.00"), "EUR"),
    )
    assert (closed.kind, closed.reference, closed.status) == ("dispute", charge.reference, "won")


def test_an_inquiry_is_not_a_chargeback(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    charge = gateway.charge(charge_request())

    [event] = gateway.verify_webhook(*stripe_api.dispute(charge.reference, inquiry=True))

    assert (event.kind, event.status) == ("dispute", "inquiry")


def test_a_body_that_is_not_utf8_is_refused(gateway: StripeGateway, stripe_api: StripeServer) -> None:
    payload = b"\xff\xfe not text"
    with pytest.raises(GatewayRefused) as refused:
        gateway.verify_webhook(payload, {"Stripe-Signature": stripe_api.sign(payload)})
    assert refused.value.code == "invalid_signature"


def test_a_body_that_is_signed_but_not_an_event_is_refused(
    gateway: StripeGateway, stripe_api: StripeServer
) -> None:
    payload = b"not json"
    with pytest.raises(GatewayRefused) as refused:
        gateway.verify_webhook(payload, {"Stripe-Signature": stripe_api.sign(payload)})
    assert refused.value.code == "invalid_payload"
