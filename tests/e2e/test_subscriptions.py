"""A newcomer's first subscription on the running local stack: a trial, a mid-period change,
the prorated upcoming invoice, a year on a test clock, every renewal and event in order; and
the real scheduler (the local ticker firing the DueWork schedule) starting a subscription."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import Http


def post(http: Http, path: str, body: dict[str, Any]) -> Any:
    response = http.request("POST", path, body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status in (200, 201), response.body
    return response.data


def get(http: Http, path: str) -> Any:
    response = http.request("GET", path)
    assert response.status == 200, response.body
    return response.data


def test_trial_change_preview_and_a_year_on_a_test_clock(http: Http) -> None:
    platform = post(http, "/v1/products", {"name": "Platform", "type": "recurring"})
    seats = post(http, "/v1/products", {"name": "Seats", "type": "seat"})
    fee = post(
        http,
        "/v1/prices",
        {"product_id": platform["id"], "currency": "EUR", "model": "flat", "amount": "30.00"},
    )
    seat = post(
        http,
        "/v1/prices",
        {"product_id": seats["id"], "currency": "EUR", "model": "per_unit", "unit_amount": "10.00"},
    )
    plan = post(
        http,
        "/v1/plans",
        {
            "name": "Team",
            "currency": "EUR",
            "trial_days": 14,
            "components": [{"price_id": fee["id"]}, {"price_id": seat["id"]}],
        },
    )
    post(http, f"/v1/plans/{plan['id']}/versions/1/publish", {})
    clock = post(http, "/v1/test-clocks", {"frozen_time": "2026-03-01T09:00:00Z", "name": "first steps"})
    customer = post(http, "/v1/customers", {"name": "Newcomer Ltd", "test_clock_id": clock["id"]})
    sub = post(
        http, "/v1/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"], "quantity": "3"}
    )
    assert (sub["status"], sub["test_clock_id"], sub["trial_end"]) == (
        "trialing",
        clock["id"],
        "2026-03-15T00:00:00Z",
    )

    post(http, f"/v1/test-clocks/{clock['id']}/advance", {"to": "2026-03-20T00:00:00Z"})
    active = get(http, f"/v1/subscriptions/{sub['id']}")
    assert (active["status"], active["current_period_end"]) == ("active", "2026-04-15T00:00:00Z")
    changed = post(http, f"/v1/subscriptions/{sub['id']}/change", {"quantity": "5"})
    # 26 of 31 days remain: -round(30.00 x 26/31) and +round(50.00 x 26/31).
    assert [p["amount"]["amount"] for p in changed["pending_items"]] == ["-25.16", "41.94"]
    upcoming = get(http, f"/v1/subscriptions/{sub['id']}/upcoming-invoice")
    assert upcoming["period_start"] == "2026-04-15T00:00:00Z"
    assert [line["amount"]["amount"] for line in upcoming["lines"]] == ["-25.16", "41.94", "30.00", "50.00"]
    assert upcoming["total"]["amount"] == "96.78"

    advanced = post(http, f"/v1/test-clocks/{clock['id']}/advance", {"to": "2027-03-20T00:00:00Z"})
    assert (advanced["status"], advanced["frozen_time"]) == ("ready", "2027-03-20T00:00:00Z")
    invoices = http.request("GET", f"/v1/invoices?subscription_id={sub['id']}&limit=100").data
    renewals = sorted(i["period_start"] for i in invoices if i["billing_reason"] == "subscription_cycle")
    assert len(renewals) == 12
    assert renewals[0] == "2026-04-15T00:00:00Z"
    assert renewals[-1] == "2027-03-15T00:00:00Z"
    events = http.request("GET", f"/v1/events?aggregate_id={sub['id']}&sort=asc&limit=100").data
    assert [e["aggregate"]["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events][-12:] == ["subscription.renewed"] * 12


def test_the_scheduler_starts_a_subscription_in_real_time(http: Http) -> None:
    platform = post(http, "/v1/products", {"name": "Platform", "type": "recurring"})
    fee = post(
        http,
        "/v1/prices",
        {"product_id": platform["id"], "currency": "EUR", "model": "flat", "amount": "9.00"},
    )
    customer = post(http, "/v1/customers", {"name": "Later Ltd"})
    start = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sub = post(
        http,
        "/v1/subscriptions",
        {"customer_id": customer["id"], "items": [{"price_id": fee["id"]}], "start_at": start},
    )
    assert sub["status"] == "pending"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = get(http, f"/v1/subscriptions/{sub['id']}")
        if current["status"] == "active":
            break
        time.sleep(0.5)
    assert current["status"] == "active", current
    assert current["current_period_start"] == start
