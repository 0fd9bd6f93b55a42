"""Usage on the running local stack, over HTTP: a metered subscription in a test clock, a
batch sent twice (counted once), real-time usage with its projection, and the usage line on
the invoice that closes the period (the README's walk-through)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Http


def post(http: Http, path: str, body: Any, *, status: int = 201) -> Any:
    return http.post_data(path, body, status=status)


def get(http: Http, path: str) -> Any:
    return http.get_data(path)


def test_usage_is_counted_once_shown_live_and_billed_at_period_end(http: Http) -> None:
    post(
        http,
        "/v1/meters",
        {"code": "tokens", "name": "Tokens", "aggregation": "sum", "value_property": "tokens"},
    )
    meter = get(http, "/v1/meters?code=tokens")[0]
    product = post(http, "/v1/products", {"name": "AI tokens", "type": "usage"})
    price = post(
        http,
        "/v1/prices",
        {
            "product_id": product["id"],
            "currency": "EUR",
            "meter_id": meter["id"],
            "model": "graduated",
            "tiers": [{"up_to": "1000", "unit_amount": "0"}, {"up_to": None, "unit_amount": "0.002"}],
        },
    )
    clock = post(http, "/v1/test-clocks", {"frozen_time": "2026-03-01T00:00:00Z"})["id"]
    customer = post(
        http, "/v1/customers", {"name": "Tokenizer", "external_id": "tok-1", "test_clock_id": clock}
    )
    sub = post(
        http, "/v1/subscriptions", {"customer_id": customer["id"], "items": [{"price_id": price["id"]}]}
    )
    batch = {
        "events": [
            {
                "id": f"req-{i}",
                "meter_code": "tokens",
                "external_customer_id": "tok-1",
                "timestamp": "2026-03-01T00:00:00Z",
                "properties": {"tokens": 30},
            }
            for i in range(500)
        ]
    }
    first = post(http, "/v1/usage/events", batch, status=202)
    again = post(http, "/v1/usage/events", batch, status=202)
    assert (first["accepted"], again["duplicate"]) == (500, 500)
    live = get(http, f"/v1/subscriptions/{sub['id']}/usage")
    # 15,000 tokens: the first 1,000 free, 14,000 x 0.002 = 28.00
    assert (live["meters"][0]["groups"][0]["quantity"], live["amount"]["amount"]) == ("15000", "28.00")
    post(http, f"/v1/test-clocks/{clock}/advance", {"to": "2026-04-01T00:00:00Z"}, status=200)
    invoices = get(http, f"/v1/invoices?subscription_id={sub['id']}")
    lines = [line for invoice in invoices for line in invoice["lines"] if line["kind"] == "usage"]
    assert [(line["quantity"], line["amount"]["amount"]) for line in lines] == [("15000", "28.00")]
    assert get(http, "/v1/usage/events/req-7")["subscription_id"] == sub["id"]
