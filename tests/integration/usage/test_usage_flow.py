"""Usage from ingest to the invoice that closes the period, through the real handlers."""

from __future__ import annotations

from typing import Any

from tests.support.api_client import ApiClient
from tests.support.subscriptions import advance, invoices_of, new_clock, new_customer


def meter(api: ApiClient, code: str, aggregation: str = "sum", **extra: Any) -> dict[str, Any]:
    body = {"code": code, "name": code, "aggregation": aggregation, **extra}
    if aggregation != "count" and "value_property" not in body:
        body["value_property"] = "value"
    response = api.post("/v1/meters", body)
    assert response.status == 201, response.body
    return dict(response.data)


def usage_price(api: ApiClient, meter_id: str, terms: dict[str, Any], **extra: Any) -> dict[str, Any]:
    product = api.post("/v1/products", {"name": "API calls", "type": "usage"}).data
    body = {"product_id": product["id"], "currency": "EUR", "meter_id": meter_id, **terms, **extra}
    response = api.post("/v1/prices", body)
    assert response.status == 201, response.body
    return dict(response.data)


def send(api: ApiClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post("/v1/usage/events", {"events": events}, idempotency_key=None)
    assert response.status == 202, response.body
    return dict(response.data)


def test_events_show_in_usage_and_on_the_closing_invoice(api: ApiClient) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    calls = meter(api, "api_calls")
    price = usage_price(api, calls["id"], {"model": "per_unit", "unit_amount": "0.10"})
    customer = new_customer(api, test_clock_id=clock)
    sub = api.post(
        "/v1/subscriptions",
        {"customer_id": customer, "items": [{"price_id": price["id"]}], "test_clock_id": clock},
    ).data
    events = [
        {
            "id": f"evt-{i}",
            "meter_code": "api_calls",
            "customer_id": customer,
            "timestamp": "2026-03-01T00:00:00Z",
            "properties": {"value": 3},
        }
        for i in range(10)
    ]
    result = send(api, events)
    assert result["accepted"] == 10, result["results"][:2]
    assert {r["subscription_id"] for r in result["results"]} == {sub["id"]}
    again = send(api, events)
    assert again["duplicate"] == 10
    usage = api.get(f"/v1/subscriptions/{sub['id']}/usage").data
    group = usage["meters"][0]["groups"][0]
    assert group["quantity"] == "30"
    assert group["amount"]["amount"] == "3.00"
    advance(api, clock, "2026-04-01T00:00:00Z")
    invoices = invoices_of(api, sub["id"])
    usage_lines = [line for i in invoices for line in i["lines"] if line["kind"] == "usage"]
    assert [(line["quantity"], line["amount"]["amount"]) for line in usage_lines] == [("30", "3.00")]
