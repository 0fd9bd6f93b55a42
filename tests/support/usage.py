"""Building blocks of the usage tests: meters, metered prices, subscriptions and batches,
all through the API."""

from __future__ import annotations

from typing import Any

from tests.support.api_client import ApiClient
from tests.support.subscriptions import new_clock, new_customer


def meter(api: ApiClient, code: str, aggregation: str = "sum", **extra: Any) -> dict[str, Any]:
    body = {"code": code, "name": code, "aggregation": aggregation, **extra}
    if aggregation != "count" and "value_property" not in body:
        body["value_property"] = "value"
    response = api.post("/v1/meters", body)
    assert response.status == 201, response.body
    return dict(response.data)


def usage_price(
    api: ApiClient, meter_id: str, terms: dict[str, Any], product_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    if product_id is None:
        product_id = api.post("/v1/products", {"name": "API calls", "type": "usage"}).data["id"]
    body = {"product_id": product_id, "currency": "EUR", "meter_id": meter_id, **terms, **extra}
    response = api.post("/v1/prices", body)
    assert response.status == 201, response.body
    return dict(response.data)


def metered_subscription(
    api: ApiClient, frozen_time: str, prices: list[dict[str, Any]]
) -> tuple[str, str, dict[str, Any]]:
    """(clock id, customer id, subscription) on the given usage prices, in a test clock."""
    clock = new_clock(api, frozen_time)
    customer = new_customer(api, test_clock_id=clock)
    response = api.post(
        "/v1/subscriptions",
        {"customer_id": customer, "items": [{"price_id": p["id"]} for p in prices], "test_clock_id": clock},
    )
    assert response.status == 201, response.body
    return clock, customer, dict(response.data)


def event(event_id: str, code: str, customer: str, timestamp: str, **properties: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "meter_code": code,
        "customer_id": customer,
        "timestamp": timestamp,
        "properties": properties,
    }


def send(api: ApiClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post("/v1/usage/events", {"events": events}, idempotency_key=None)
    assert response.status == 202, response.body
    return dict(response.data)


def statuses(result: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(r["status"], r.get("code")) for r in result["results"]]


def usage_lines(invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for invoice in invoices for line in invoice["lines"] if line["kind"] == "usage"]
