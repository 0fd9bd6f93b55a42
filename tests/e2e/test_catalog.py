"""The catalog end to end over HTTP on the running local stack: products, prices, compute,
a versioned plan, a customer override, and a preview."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import Http


def post(http: Http, path: str, body: dict[str, Any], *, key: bool = True) -> Any:
    headers = {"Idempotency-Key": str(uuid.uuid4())} if key else {}
    response = http.request("POST", path, body, headers=headers)
    assert response.status in (200, 201), response.body
    return response.data


def test_catalog_end_to_end(http: Http) -> None:
    base = post(http, "/v1/products", {"name": "Platform", "type": "recurring"})
    calls = post(http, "/v1/products", {"name": "API calls", "type": "usage"})
    fee = post(
        http, "/v1/prices", {"product_id": base["id"], "currency": "EUR", "model": "flat", "amount": "49.00"}
    )
    tiers = [
        {"up_to": "10", "unit_amount": "10", "flat_amount": "2"},
        {"up_to": "20", "unit_amount": "5", "flat_amount": "3"},
        {"up_to": None, "unit_amount": "5", "flat_amount": "3"},
    ]
    usage = post(
        http,
        "/v1/prices",
        {"product_id": calls["id"], "currency": "EUR", "model": "graduated", "tiers": tiers},
    )
    computed = post(http, f"/v1/prices/{usage['id']}/compute", {"quantity": "11"}, key=False)
    assert computed["total"] == {"amount": "110.00", "currency": "EUR"}

    plan = post(
        http,
        "/v1/plans",
        {
            "name": "Growth",
            "currency": "EUR",
            "components": [{"price_id": fee["id"]}, {"price_id": usage["id"]}],
        },
    )
    post(http, f"/v1/plans/{plan['id']}/versions/1/publish", {}, key=False)
    cheaper = post(
        http, "/v1/prices", {"product_id": base["id"], "currency": "EUR", "model": "flat", "amount": "39.00"}
    )
    post(
        http,
        f"/v1/plans/{plan['id']}/versions",
        {"components": [{"price_id": cheaper["id"]}, {"price_id": usage["id"]}]},
    )
    published = post(http, f"/v1/plans/{plan['id']}/versions/2/publish", {}, key=False)
    assert published["latest_published_version"] == 2
    assert http.request("PATCH", f"/v1/plans/{plan['id']}/versions/1", {"trial_days": 3}).status == 409

    customer = post(http, "/v1/customers", {"name": "Key account", "currency": "EUR"})
    post(
        http,
        "/v1/price-overrides",
        {
            "customer_id": customer["id"],
            "product_id": base["id"],
            "currency": "EUR",
            "model": "flat",
            "amount": "29.00",
        },
    )
    quantities = {calls["id"]: "11"}
    everyone = post(http, f"/v1/plans/{plan['id']}/preview", {"quantities": quantities}, key=False)
    assert everyone["version"] == 2
    assert everyone["total"]["amount"] == "149.00"  # 39.00 + 110.00
    theirs = post(
        http,
        f"/v1/plans/{plan['id']}/preview",
        {"quantities": quantities, "customer_id": customer["id"]},
        key=False,
    )
    assert theirs["total"]["amount"] == "139.00"  # 29.00 + 110.00
    first = post(http, f"/v1/plans/{plan['id']}/preview", {"quantities": quantities, "version": 1}, key=False)
    assert first["total"]["amount"] == "159.00"  # 49.00 + 110.00
