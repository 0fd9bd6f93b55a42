"""The payments issue's "done when", on the running local stack over HTTP: a subscription
renews, its payment fails, dunning retries on schedule through a test clock (the billing-cycle
state machine starting the dunning state machine), the retry succeeds and the subscription is
active again, with every event emitted. Once with the sandbox gateway, once against the local
Stripe server and once against the local GoCardless server."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import Http, Providers, RunningStack

EVENTS_OF_THE_FLOW = {
    "payment.failed",
    "invoice.payment_failed",
    "subscription.past_due",
    "dunning.step_executed",
    "payment.succeeded",
    "invoice.paid",
    "subscription.activated",
}


@pytest.fixture
def http(stack: RunningStack) -> Http:
    """A tenant of its own: its gateways make the stack's other tenants' invoices no concern of
    theirs (the demo tenant has no gateway, so its invoices are never charged)."""
    tenant = stack.cli("tenants", "create", "--name", f"Payments {uuid.uuid4().hex[:6]}")
    return stack.client(stack.cli("api-keys", "create", "--tenant", tenant["id"])["secret"])


def post(http: Http, path: str, body: Any, *, status: int = 201) -> Any:
    return http.post_data(path, body, status=status)


def advance(http: Http, clock_id: str, to: str) -> None:
    advanced = post(http, f"/v1/test-clocks/{clock_id}/advance", {"to": to}, status=200)
    assert (advanced["status"], advanced["frozen_time"]) == ("ready", to)


def renewal_of(http: Http, subscription_id: str) -> dict[str, Any]:
    invoices = http.get_data(f"/v1/invoices?subscription_id={subscription_id}")
    return dict(next(i for i in invoices if i["billing_reason"] == "subscription_cycle"))


def setup_subscription(
    http: Http, gateway_id: str, method: dict[str, Any]
) -> tuple[str, dict[str, Any], str]:
    """A clock, a customer with the payment method as default, a dunning policy retrying after
    2 and 4 days, and a monthly 49.00 subscription (its first invoice charged at once)."""
    clock = post(http, "/v1/test-clocks", {"frozen_time": "2026-01-01T09:00:00Z"})["id"]
    customer = post(http, "/v1/customers", {"name": "Dunning AG", "currency": "EUR", "test_clock_id": clock})
    attached = post(
        http, "/v1/payment-methods", {"customer_id": customer["id"], "gateway_id": gateway_id, **method}
    )
    assert attached["is_default"] is True
    post(
        http,
        "/v1/dunning-policies",
        {
            "name": f"Retry twice {uuid.uuid4().hex[:6]}",
            "steps": [
                {"after_days": 2, "action": "retry_payment"},
                {"after_days": 4, "action": "retry_payment"},
                {"after_days": 9, "action": "cancel_subscription"},
            ],
            "applies_to": {"customer_ids": [customer["id"]]},
        },
    )
    product = post(http, "/v1/products", {"name": "Pro", "type": "recurring"})
    price = post(
        http,
        "/v1/prices",
        {"product_id": product["id"], "currency": "EUR", "model": "flat", "amount": "49.00"},
    )
    subscription = post(
        http,
        "/v1/subscriptions",
        {
            "customer_id": customer["id"],
            "items": [{"price_id": price["id"]}],
            "billing_anchor": {"day_of_month": 1},
        },
    )
    return clock, subscription, attached["id"]


def assert_recovered(http: Http, stack: RunningStack, subscription_id: str, renewal_id: str) -> None:
    renewal = http.get_data(f"/v1/invoices/{renewal_id}")
    assert (renewal["status"], renewal["attempt_count"], renewal["dunning"]["status"]) == (
        "paid",
        2,
        "recovered",
    )
    assert http.get_data(f"/v1/subscriptions/{subscription_id}")["status"] == "active"
    emitted = {e["type"] for e in http.get_data("/v1/events?limit=100")}
    assert emitted >= EVENTS_OF_THE_FLOW, EVENTS_OF_THE_FLOW - emitted
    # The retry ran as an execution of the dunning state machine, named after the run and step.
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=stack.env_endpoint(),
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    machine = next(
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"].endswith("-dunning")
    )
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    name = f"{renewal['dunning']['id']}-s0"
    assert [(e["name"], e["status"]) for e in executions if e["name"] == name] == [(name, "SUCCEEDED")]


def test_a_failed_renewal_recovers_through_dunning_with_the_sandbox_gateway(
    http: Http, stack: RunningStack
) -> None:
    gateway = post(http, "/v1/payment-gateways", {"provider": "sandbox", "name": "Sandbox e2e"})
    clock, subscription, method = setup_subscription(
        http, gateway["id"], {"type": "card", "gateway_token": "pm_sandbox_visa"}
    )
    post(http, "/v1/test-payment-simulations", {"payment_method_id": method, "outcome": "fail"})
    advance(http, clock, "2026-02-01T09:00:00Z")
    renewal = renewal_of(http, subscription["id"])
    assert (renewal["status"], renewal["dunning"]["next_step_at"]) == ("finalized", "2026-02-03T00:00:00Z")
    assert http.get_data(f"/v1/subscriptions/{subscription['id']}")["status"] == "past_due"
    advance(http, clock, "2026-02-03T12:00:00Z")
    assert_recovered(http, stack, subscription["id"], renewal["id"])


def test_the_same_flow_against_the_local_stripe_server(
    http: Http, stack: RunningStack, providers: Providers
) -> None:
    stripe_api = providers.stripe
    gateway = post(
        http,
        "/v1/payment-gateways",
        {
            "provider": "stripe",
            "name": "Stripe e2e",
            "credentials": {"secret_key": "sk_test_e2eLocalKey000001"},
        },
    )
    token = f"pm_card_e2e{uuid.uuid4().hex[:10]}"
    clock, subscription, _ = setup_subscription(
        http,
        gateway["id"],
        {"type": "card", "gateway_token": token, "gateway_customer_token": "cus_e2eLocal0001"},
    )
    assert http.get_data(f"/v1/invoices?subscription_id={subscription['id']}")[0]["status"] == "paid"
    stripe_api.set_outcome(token, "insufficient_funds")
    advance(http, clock, "2026-02-01T09:00:00Z")
    renewal = renewal_of(http, subscription["id"])
    assert http.get_data(f"/v1/subscriptions/{subscription['id']}")["status"] == "past_due"
    stripe_api.set_outcome(token, "succeeded")
    advance(http, clock, "2026-02-03T12:00:00Z")
    assert_recovered(http, stack, subscription["id"], renewal["id"])
    keys = [r.idempotency_key for r in stripe_api.requests if r.method == "POST" and r.idempotency_key]
    assert f"billow-{renewal['id']}-attempt-1" in keys
    assert f"billow-{renewal['id']}-attempt-2" in keys


def test_the_same_flow_against_the_local_gocardless_server(
    http: Http, stack: RunningStack, providers: Providers
) -> None:
    gocardless_api = providers.gocardless
    gateway = post(
        http,
        "/v1/payment-gateways",
        {
            "provider": "gocardless",
            "name": "GoCardless e2e",
            "credentials": {
                "access_token": gocardless_api.access_token,
                "webhook_secret": gocardless_api.webhook_secret,
            },
        },
    )
    mandate = gocardless_api.add_mandate()
    clock, subscription, _ = setup_subscription(
        http, gateway["id"], {"type": "sepa_debit", "gateway_token": mandate}
    )
    hook = f"/v1/gateway-webhooks/gocardless/{gateway['id']}"

    def settle(invoice_id: str) -> None:
        payments = http.get_data(f"/v1/payments?invoice_id={invoice_id}")
        processing = next((p for p in payments if p["status"] == "processing"), None)
        assert processing is not None, [(p["status"], p["failure"]) for p in payments]
        body, headers = gocardless_api.settle(processing["gateway_reference"])
        response = http.request("POST", hook, raw=body, headers=headers)
        assert response.status == 200, response.body

    first = http.get_data(f"/v1/invoices?subscription_id={subscription['id']}")[0]
    settle(first["id"])
    assert http.get_data(f"/v1/invoices/{first['id']}")["status"] == "paid"
    gocardless_api.set_mandate_outcome(mandate, "failed")
    advance(http, clock, "2026-02-01T09:00:00Z")
    renewal = renewal_of(http, subscription["id"])
    settle(renewal["id"])
    assert http.get_data(f"/v1/subscriptions/{subscription['id']}")["status"] == "past_due"
    gocardless_api.set_mandate_outcome(mandate, "confirmed")
    advance(http, clock, "2026-02-03T12:00:00Z")
    settle(renewal["id"])
    assert_recovered(http, stack, subscription["id"], renewal["id"])
