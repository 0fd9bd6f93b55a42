"""Customer-specific prices through the real API handler on moto."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_api_conventions import assert_problem, stored_items
from tests.support.api_client import ApiClient


@pytest.fixture
def setup(api: ApiClient) -> dict[str, Any]:
    customer = api.post("/v1/customers", {"name": "Big Co", "currency": "EUR"}).data
    product = api.post("/v1/products", {"name": "Seats", "type": "seat"}).data
    price = api.post(
        "/v1/prices",
        {"product_id": product["id"], "currency": "EUR", "model": "per_unit", "unit_amount": "10.00"},
    ).data
    plan = api.post(
        "/v1/plans", {"name": "Team", "currency": "EUR", "components": [{"price_id": price["id"]}]}
    ).data
    return {"customer": customer, "product": product, "price": price, "plan": plan}


def override_body(setup: dict[str, Any], **terms: Any) -> dict[str, Any]:
    return {
        "customer_id": setup["customer"]["id"],
        "product_id": setup["product"]["id"],
        "currency": "EUR",
        **(terms or {"model": "per_unit", "unit_amount": "7.50"}),
    }


def test_an_override_replaces_the_plan_price_for_that_customer(api: ApiClient, setup: dict[str, Any]) -> None:
    created = api.post("/v1/price-overrides", override_body(setup))
    assert created.status == 201, created.body
    override = created.data
    assert override["model"] == "per_unit"
    assert override["unit_amount"] == "7.5"
    plan_id = setup["plan"]["id"]
    seats = {setup["product"]["id"]: "4"}
    for_them = api.post(
        f"/v1/plans/{plan_id}/preview",
        {"quantities": seats, "customer_id": setup["customer"]["id"]},
        idempotency_key=None,
    ).data
    assert for_them["total"]["amount"] == "30.00"
    assert for_them["lines"][0]["price_override_id"] == override["id"]
    for_everyone = api.post(f"/v1/plans/{plan_id}/preview", {"quantities": seats}, idempotency_key=None).data
    assert for_everyone["total"]["amount"] == "40.00"
    computed = api.post(
        f"/v1/price-overrides/{override['id']}/compute", {"quantity": "4"}, idempotency_key=None
    )
    assert computed.data["total"]["amount"] == "30.00"


def test_one_active_override_per_customer_product_and_currency(api: ApiClient, setup: dict[str, Any]) -> None:
    first = api.post("/v1/price-overrides", override_body(setup)).data
    assert_problem(api.post("/v1/price-overrides", override_body(setup)), 409, "conflict")
    assert api.post(f"/v1/price-overrides/{first['id']}/archive").data["status"] == "archived"
    second = api.post("/v1/price-overrides", override_body(setup, model="flat", amount="99.00"))
    assert second.status == 201
    listed = api.get(
        "/v1/price-overrides", query={"customer_id": setup["customer"]["id"], "status": "active"}
    ).data
    assert [o["id"] for o in listed] == [second.data["id"]]


def test_bad_overrides_change_nothing(api: ApiClient, setup: dict[str, Any]) -> None:
    before = stored_items()
    ghost = "01900000-0000-7000-8000-000000000000"
    for body, pointer in (
        ({**override_body(setup), "customer_id": ghost}, "/customer_id"),
        ({**override_body(setup), "product_id": ghost}, "/product_id"),
        ({**override_body(setup), "currency": "XYZ"}, "/currency"),
        (override_body(setup, model="per_unit", unit_amount=7.5), "/unit_amount"),
        (
            override_body(setup, model="graduated", tiers=[{"up_to": "5", "unit_amount": "1"}]),
            "/tiers/0/up_to",
        ),
    ):
        response = api.post("/v1/price-overrides", body)
        assert_problem(response, 422, "validation_failed")
        assert pointer in {e["pointer"] for e in response.json()["errors"]}, response.body
    assert stored_items() == before


def test_tenant_isolation(api: ApiClient, other_api: ApiClient, setup: dict[str, Any]) -> None:
    override = api.post("/v1/price-overrides", override_body(setup)).data
    assert_problem(other_api.get(f"/v1/price-overrides/{override['id']}"), 404, "not_found")
    assert_problem(other_api.post(f"/v1/price-overrides/{override['id']}/archive"), 404, "not_found")
    assert other_api.get("/v1/price-overrides").data == []
    assert_problem(other_api.post("/v1/price-overrides", override_body(setup)), 422, "validation_failed")
    plan_id = setup["plan"]["id"]
    preview = api.post(
        f"/v1/plans/{plan_id}/preview",
        {"customer_id": "01900000-0000-7000-8000-000000000000"},
        idempotency_key=None,
    )
    assert_problem(preview, 422, "validation_failed")
