"""Dunning through test clocks (the billing cycle runs in process here; the state machine test
runs the same steps on the local stack): a renewal's payment fails, the subscription goes past
due, the policy's steps run at their due times, and a payment at any point ends it."""

from __future__ import annotations

from typing import Any

from tests.integration.invoicing.conftest import get_invoice
from tests.integration.payments.conftest import attach_card, charges
from tests.support.api_client import ApiClient
from tests.support.subscriptions import Catalog, advance, events_of, get_sub, invoices_of, subscribe

RETRY_TWICE_THEN_WRITE_OFF = [
    {"after_days": 2, "action": "retry_payment"},
    {"after_days": 4, "action": "notify"},
    {"after_days": 5, "action": "retry_payment"},
    {"after_days": 9, "action": "mark_uncollectible"},
]


def policy(api: ApiClient, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/dunning-policies", {"name": "Standard", "steps": steps, **extra})
    assert response.status == 201, response.body
    return dict(response.data)


def fail_next_charge(api: ApiClient, method_id: str, decline_code: str = "insufficient_funds") -> None:
    body = {"payment_method_id": method_id, "outcome": "fail", "decline_code": decline_code}
    response = api.post("/v1/test-payment-simulations", body)
    assert response.status == 201, response.body


def renewal_fails(api: ApiClient, catalog: Catalog, clock: str, customer: str, method: str) -> dict[str, Any]:
    """A monthly subscription whose first invoice is paid and whose first renewal fails."""
    sub = subscribe(api, clock, catalog["fee50"], customer_id=customer)
    first = invoices_of(api, sub["id"])
    assert [i["status"] for i in first] == ["paid"], first
    fail_next_charge(api, method)
    advance(api, clock, "2026-04-15T09:00:00Z")
    return sub


def test_a_failed_renewal_is_retried_on_schedule_and_recovers(
    api: ApiClient, catalog: Catalog, clock: str, customer: str, sandbox: str
) -> None:
    policy(api, RETRY_TWICE_THEN_WRITE_OFF, is_default=True)
    method = api.get("/v1/payment-methods", query={"customer_id": customer}).data[0]["id"]
    sub = renewal_fails(api, catalog, clock, customer, method)
    renewal = invoices_of(api, sub["id"])[-1]
    assert (renewal["status"], renewal["attempt_count"]) == ("finalized", 1)
    assert renewal["dunning"]["status"] == "active"
    assert renewal["dunning"]["next_step_at"] == "2026-04-17T00:00:00Z"
    assert renewal["next_payment_attempt"] == "2026-04-17T00:00:00Z"
    assert get_sub(api, sub["id"])["status"] == "past_due"
    # A day later nothing is due yet.
    advance(api, clock, "2026-04-16T09:00:00Z")
    assert get_invoice(api, renewal["id"])["attempt_count"] == 1
    # The retry on day 2 succeeds (the forced decline was used up by the renewal).
    advance(api, clock, "2026-04-17T12:00:00Z")
    paid = get_invoice(api, renewal["id"])
    assert (paid["status"], paid["attempt_count"], paid["dunning"]["status"]) == ("paid", 2, "recovered")
    assert paid["next_payment_attempt"] is None
    assert get_sub(api, sub["id"])["status"] == "active"
    # Three charges in all: the first invoice, the declined renewal, the retry.
    assert [c.outcome.status for c in charges(api, sandbox)] == ["succeeded", "failed", "succeeded"]
    invoice_events = [e["type"] for e in events_of(renewal["id"])]
    assert invoice_events.count("invoice.payment_failed") == 1
    assert invoice_events[-1] == "invoice.paid"
    run_events = events_of(renewal["dunning"]["id"])
    assert [(e["type"], e["aggregate"]["sequence"]) for e in run_events] == [("dunning.step_executed", 1)]
    assert run_events[0]["data"]["object"]["step"]["action"] == "retry_payment"
    sub_events = [e["type"] for e in events_of(sub["id"])]
    assert sub_events[-2:] == ["subscription.past_due", "subscription.activated"]
    # Later steps never run: nothing more is charged by the next advance.
    advance(api, clock, "2026-04-30T09:00:00Z")
    assert len(charges(api, sandbox)) == 3


def test_when_every_retry_fails_the_steps_run_in_order_and_the_run_is_exhausted(
    api: ApiClient, catalog: Catalog, clock: str, customer: str, sandbox: str
) -> None:
    policy(api, RETRY_TWICE_THEN_WRITE_OFF, is_default=True)
    sub = subscribe(api, clock, catalog["fee50"], customer_id=customer)
    # From now on the customer's card is declined.
    declined = attach_card(api, customer, sandbox, "pm_sandbox_declined", is_default=True)
    assert declined
    advance(api, clock, "2026-04-15T09:00:00Z")
    renewal = invoices_of(api, sub["id"])[-1]
    # One advance over all the steps runs them in time order.
    advance(api, clock, "2026-04-30T09:00:00Z")
    after = get_invoice(api, renewal["id"])
    assert (after["status"], after["attempt_count"], after["dunning"]["status"]) == (
        "uncollectible",
        3,
        "exhausted",
    )
    run_events = events_of(renewal["dunning"]["id"]) if renewal["dunning"] else []
    assert [e["type"] for e in run_events] == [
        "dunning.step_executed",
        "dunning.step_executed",
        "dunning.step_executed",
        "dunning.step_executed",
        "dunning.exhausted",
    ]
    assert [e["data"]["object"]["step"]["action"] for e in run_events[:4]] == [
        "retry_payment",
        "notify",
        "retry_payment",
        "mark_uncollectible",
    ]
    assert [e["created_at"] for e in run_events[:4]] == [
        "2026-04-17T00:00:00Z",
        "2026-04-19T00:00:00Z",
        "2026-04-20T00:00:00Z",
        "2026-04-24T00:00:00Z",
    ]
    assert "invoice.marked_uncollectible" in [e["type"] for e in events_of(renewal["id"])]
    assert get_sub(api, sub["id"])["status"] == "past_due"


def test_a_cancel_step_cancels_the_subscription(
    api: ApiClient, catalog: Catalog, clock: str, customer: str, sandbox: str
) -> None:
    policy(api, [{"after_days": 3, "action": "cancel_subscription"}], is_default=True)
    sub = subscribe(api, clock, catalog["fee50"], customer_id=customer)
    attach_card(api, customer, sandbox, "pm_sandbox_expired", is_default=True)
    advance(api, clock, "2026-04-15T09:00:00Z")
    assert get_sub(api, sub["id"])["status"] == "past_due"
    advance(api, clock, "2026-04-19T09:00:00Z")
    assert get_sub(api, sub["id"])["status"] == "canceled"
    renewal = invoices_of(api, sub["id"])[-1]
    assert get_invoice(api, renewal["id"])["dunning"]["status"] == "exhausted"


def test_a_manual_payment_during_dunning_ends_it(
    api: ApiClient, catalog: Catalog, clock: str, customer: str, sandbox: str
) -> None:
    method = api.get("/v1/payment-methods", query={"customer_id": customer}).data[0]["id"]
    sub = renewal_fails(api, catalog, clock, customer, method)
    renewal = invoices_of(api, sub["id"])[-1]
    # The built-in policy: retries after 3, 5 and 7 days.
    assert [s["after_days"] for s in renewal["dunning"]["steps"]] == [3, 5, 7]
    paid = api.post(f"/v1/invoices/{renewal['id']}/payments", {"amount": "50.00", "method": "bank_transfer"})
    assert paid.status == 201, paid.body
    assert get_sub(api, sub["id"])["status"] == "active"
    after = get_invoice(api, renewal["id"])
    assert (after["status"], after["dunning"]["status"]) == ("paid", "recovered")
    advance(api, clock, "2026-04-30T09:00:00Z")
    # No retry ran after the invoice was paid.
    assert len(charges(api, sandbox)) == 2
