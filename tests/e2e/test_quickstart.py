"""The README's quickstart on the running local stack, over HTTP: the five calls (customer,
product, price, plan, subscription) in a test clock, then one month of the clock, which runs
the billing-cycle state machine and leaves a finalized, numbered invoice."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import Http


def post(http: Http, path: str, body: Any, *, status: int = 201) -> Any:
    return http.post_data(path, body, status=status)


def get(http: Http, path: str) -> Any:
    return http.get_data(path)


def test_five_calls_and_a_month_give_a_finalized_invoice(http: Http) -> None:
    clock = post(http, "/v1/test-clocks", {"frozen_time": "2026-01-01T09:00:00Z"})
    customer = post(
        http, "/v1/customers", {"name": "Quickstart GmbH", "currency": "EUR", "test_clock_id": clock["id"]}
    )
    product = post(http, "/v1/products", {"name": "Starter", "type": "recurring"})
    price = post(
        http,
        "/v1/prices",
        {"product_id": product["id"], "currency": "EUR", "model": "flat", "amount": "29.00"},
    )
    plan = post(
        http,
        "/v1/plans",
        {
            "name": "Starter",
            "currency": "EUR",
            "interval": "month",
            "components": [{"price_id": price["id"]}],
        },
    )
    post(http, f"/v1/plans/{plan['id']}/versions/1/publish", {}, status=200)
    subscription = post(http, "/v1/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]})
    assert subscription["status"] == "active"

    advanced = post(
        http, f"/v1/test-clocks/{clock['id']}/advance", {"to": "2026-02-01T09:00:00Z"}, status=200
    )

    assert (advanced["status"], advanced["frozen_time"]) == ("ready", "2026-02-01T09:00:00Z")
    invoices = get(http, f"/v1/invoices?subscription_id={subscription['id']}")
    renewal = next(i for i in invoices if i["billing_reason"] == "subscription_cycle")
    assert renewal["status"] == "finalized"
    assert renewal["number"].startswith("INV-2026-")
    assert (renewal["total"], renewal["amount_due"]) == ({"amount": "29.00", "currency": "EUR"},) * 2
    assert (renewal["period_start"], renewal["period_end"]) == (
        "2026-02-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
    )
    assert renewal["due_date"] == "2026-02-01"
    first = next(i for i in invoices if i["billing_reason"] == "subscription_create")
    assert first["status"] == "finalized"
    assert int(renewal["number"].rsplit("-", 1)[1]) == int(first["number"].rsplit("-", 1)[1]) + 1
    # Finalized means immutable: a change is a problem, and a credit note corrects it.
    edit = http.request(
        "POST",
        f"/v1/invoices/{renewal['id']}/lines",
        {"description": "x", "unit_amount": "1.00"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert (edit.status, edit.code) == (409, "invalid_state_transition")
    note = post(http, "/v1/credit-notes", {"invoice_id": renewal["id"], "reason": "other", "amount": "9.00"})
    assert note["number"].startswith("CN-2026-")
    assert get(http, f"/v1/invoices/{renewal['id']}")["amount_remaining"]["amount"] == "20.00"
