"""Subscriptions through the real API handler on moto, in test-clock time."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_client import ApiClient


@pytest.fixture
def catalog(api: ApiClient) -> dict[str, Any]:
    base = api.post("/v1/products", {"name": "Platform", "type": "recurring"}).data
    seats = api.post("/v1/products", {"name": "Seats", "type": "seat"}).data

    def price(product: dict[str, Any], currency: str = "EUR", **terms: Any) -> dict[str, Any]:
        response = api.post("/v1/prices", {"product_id": product["id"], "currency": currency, **terms})
        assert response.status == 201, response.body
        return dict(response.data)

    return {
        "base": base,
        "seats": seats,
        "fee10": price(base, model="flat", amount="10.00"),
        "fee20": price(base, model="flat", amount="20.00"),
        "fee50": price(base, model="flat", amount="50.00"),
        "fee_usd": price(base, currency="USD", model="flat", amount="12.00"),
        "seat": price(seats, model="per_unit", unit_amount="10.00"),
    }


def new_clock(api: ApiClient, frozen_time: str) -> str:
    response = api.post("/v1/test-clocks", {"frozen_time": frozen_time})
    assert response.status == 201, response.body
    return str(response.data["id"])


def new_customer(api: ApiClient, **extra: Any) -> str:
    return str(api.post("/v1/customers", {"name": "Acme", **extra}).data["id"])


def advance(api: ApiClient, clock_id: str, to: str) -> dict[str, Any]:
    response = api.post(f"/v1/test-clocks/{clock_id}/advance", {"to": to})
    assert response.status == 200, response.body
    return dict(response.data)


def invoices_of(api: ApiClient, subscription_id: str) -> list[dict[str, Any]]:
    found = api.get("/v1/invoices", query={"subscription_id": subscription_id, "limit": "100"}).data
    return sorted(found, key=lambda i: i["id"])


def test_api_md_proration_example(api: ApiClient, catalog: dict[str, Any]) -> None:
    """Period Mar 1 - Apr 1, change on Mar 15 from 10.00 to 20.00: -5.48 and +10.97."""
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = api.post(
        "/v1/subscriptions",
        {
            "customer_id": new_customer(api),
            "items": [{"price_id": catalog["fee10"]["id"]}],
            "test_clock_id": clock,
        },
    )
    assert sub.status == 201, sub.body
    assert sub.data["status"] == "active"
    assert sub.data["current_period_start"] == "2026-03-01T00:00:00Z"
    assert sub.data["current_period_end"] == "2026-04-01T00:00:00Z"
    advance(api, clock, "2026-03-15T09:00:00Z")
    item_id = sub.data["items"][0]["id"]
    changed = api.post(
        f"/v1/subscriptions/{sub.data['id']}/change",
        {"items": [{"id": item_id, "price_id": catalog["fee20"]["id"]}]},
    )
    assert changed.status == 200, changed.body
    amounts = [p["amount"]["amount"] for p in changed.data["pending_items"]]
    assert amounts == ["-5.48", "10.97"]
    upcoming = api.get(f"/v1/subscriptions/{sub.data['id']}/upcoming-invoice")
    assert upcoming.status == 200, upcoming.body
    lines = [(line["kind"], line["amount"]["amount"]) for line in upcoming.data["lines"]]
    assert lines == [("proration", "-5.48"), ("proration", "10.97"), ("recurring", "20.00")]
    assert upcoming.data["total"]["amount"] == "25.49"


def test_fourteen_months_fourteen_renewals(api: ApiClient, catalog: dict[str, Any]) -> None:
    clock = new_clock(api, "2026-01-31T10:00:00Z")
    sub = api.post(
        "/v1/subscriptions",
        {
            "customer_id": new_customer(api),
            "items": [{"price_id": catalog["fee10"]["id"]}],
            "test_clock_id": clock,
        },
    ).data
    advanced = advance(api, clock, "2027-03-31T10:00:00Z")
    assert advanced["status"] == "ready"
    assert advanced["frozen_time"] == "2027-03-31T10:00:00Z"
    invoices = invoices_of(api, sub["id"])
    starts = [i["period_start"][:10] for i in invoices]
    assert starts[:4] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    assert len(invoices) == 15  # the first period and fourteen renewals
    assert [i["billing_reason"] for i in invoices].count("subscription_cycle") == 14
    current = api.get(f"/v1/subscriptions/{sub['id']}").data
    assert current["current_period_start"] == "2027-03-31T00:00:00Z"
    assert current["periods_billed"] == 15


def test_plan_migration_moves_subscribers_and_reports_each(api: ApiClient, catalog: dict[str, Any]) -> None:
    plan = api.post(
        "/v1/plans",
        {"name": "Basic", "currency": "EUR", "components": [{"price_id": catalog["fee10"]["id"]}]},
    ).data
    api.post(f"/v1/plans/{plan['id']}/versions/1/publish")
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    now_sub = api.post(
        "/v1/subscriptions", {"customer_id": new_customer(api), "plan_id": plan["id"], "test_clock_id": clock}
    ).data
    later_sub = api.post(
        "/v1/subscriptions", {"customer_id": new_customer(api), "plan_id": plan["id"], "test_clock_id": clock}
    ).data
    canceled = api.post(
        "/v1/subscriptions", {"customer_id": new_customer(api), "plan_id": plan["id"], "test_clock_id": clock}
    ).data
    api.post(f"/v1/subscriptions/{canceled['id']}/cancel", {})
    api.post(f"/v1/plans/{plan['id']}/versions", {"components": [{"price_id": catalog["fee20"]["id"]}]})
    api.post(f"/v1/plans/{plan['id']}/versions/2/publish")
    assert now_sub["plan_version"] == 1  # new versions never move existing subscribers by themselves
    advance(api, clock, "2026-03-15T00:00:00Z")

    scheduled = api.post(
        f"/v1/plans/{plan['id']}/migrate", {"from_version": 1, "to_version": 2, "when": "next_period"}
    )
    assert scheduled.status == 200, scheduled.body
    results = {r["subscription_id"]: r for r in scheduled.data["subscriptions"]}
    assert results[now_sub["id"]]["result"] == "scheduled"
    assert results[now_sub["id"]]["effective_at"] == "2026-04-01T00:00:00Z"
    assert results[canceled["id"]]["result"] == "skipped"
    assert (scheduled.data["scheduled"], scheduled.data["skipped"]) == (2, 1)
    again = api.post(f"/v1/plans/{plan['id']}/migrate", {"from_version": 1, "to_version": 2}).data
    assert {r["result"] for r in again["subscriptions"]} == {"skipped"}

    # Cancel one scheduled migration and migrate that subscriber at once, with prorations.
    change_id = api.get(f"/v1/subscriptions/{later_sub['id']}/scheduled-changes").data[0]["id"]
    api.post(f"/v1/subscriptions/{later_sub['id']}/scheduled-changes/{change_id}/cancel")
    immediate = api.post(
        f"/v1/plans/{plan['id']}/migrate", {"from_version": 1, "to_version": 2, "when": "immediately"}
    ).data
    outcome = {r["subscription_id"]: r["result"] for r in immediate["subscriptions"]}
    assert outcome[later_sub["id"]] == "migrated"
    moved = api.get(f"/v1/subscriptions/{later_sub['id']}").data
    assert moved["plan_version"] == 2
    assert [p["amount"]["amount"] for p in moved["pending_items"]] == ["-5.48", "10.97"]

    advance(api, clock, "2026-04-01T00:00:00Z")
    assert api.get(f"/v1/subscriptions/{now_sub['id']}").data["plan_version"] == 2
    renewal = invoices_of(api, now_sub["id"])[-1]
    assert [line["amount"]["amount"] for line in renewal["lines"]] == ["20.00"]


def test_a_year_of_renewals_and_events_in_order(api: ApiClient, catalog: dict[str, Any]) -> None:
    clock = new_clock(api, "2026-04-01T08:00:00Z")
    sub = api.post(
        "/v1/subscriptions",
        {
            "customer_id": new_customer(api),
            "items": [{"price_id": catalog["fee50"]["id"]}],
            "trial_days": 5,
            "billing_anchor": {"day_of_month": 1},
            "test_clock_id": clock,
        },
    ).data
    assert (sub["status"], sub["trial_end"]) == ("trialing", "2026-04-06T00:00:00Z")
    advance(api, clock, "2027-04-06T00:00:00Z")
    invoices = invoices_of(api, sub["id"])
    # API.md: 50.00 monthly, anchor day 1, five-day trial from April 1: first invoice 41.67.
    assert invoices[0]["total"]["amount"] == "41.67"
    assert [i["period_start"][:10] for i in invoices[1:]] == [
        f"{y}-{m:02d}-01" for y, m in (*((2026, m) for m in range(5, 13)), *((2027, m) for m in range(1, 5)))
    ]
    events = api.get("/v1/events", query={"aggregate_id": sub["id"], "sort": "asc", "limit": "100"}).data
    types = [e["type"] for e in events]
    assert types == [
        "subscription.created",
        "subscription.trial_started",
        "subscription.trial_will_end",
        "subscription.activated",
        *["subscription.renewed"] * 12,
    ]
    assert [e["aggregate"]["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert events[2]["created_at"] == "2026-04-03T00:00:00Z"
