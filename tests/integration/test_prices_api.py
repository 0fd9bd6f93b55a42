"""Prices through the real API handler on moto: every model computes as API.md says."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_api_conventions import assert_problem, stored_items
from tests.support.api_client import ApiClient

GRADUATED = [
    {"up_to": "10", "unit_amount": "10", "flat_amount": "2"},
    {"up_to": "20", "unit_amount": "5", "flat_amount": "3"},
    {"up_to": None, "unit_amount": "5", "flat_amount": "3"},
]
VOLUME = [
    {"up_to": "5", "unit_amount": "7"},
    {"up_to": "10", "unit_amount": "6.5"},
    {"up_to": None, "unit_amount": "6"},
]


@pytest.fixture
def product_id(api: ApiClient) -> str:
    return str(api.post("/v1/products", {"name": "API", "type": "recurring"}).data["id"])


def price(api: ApiClient, product_id: str, model: str, currency: str = "EUR", **terms: Any) -> dict[str, Any]:
    response = api.post(
        "/v1/prices", {"product_id": product_id, "currency": currency, "model": model, **terms}
    )
    assert response.status == 201, response.body
    return dict(response.data)


def compute(api: ApiClient, price_id: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/v1/prices/{price_id}/compute", body, idempotency_key=None)
    assert response.status == 200, response.body
    return dict(response.data)


def test_worked_checks_of_the_contract(api: ApiClient, product_id: str) -> None:
    graduated = price(api, product_id, "graduated", tiers=GRADUATED)
    assert compute(api, graduated["id"], quantity="0")["total"] == {"amount": "2.00", "currency": "EUR"}
    eleven = compute(api, graduated["id"], quantity="11")
    assert eleven["total"] == {"amount": "110.00", "currency": "EUR"}
    assert eleven["breakdown"][0] == {
        "tier": 1,
        "quantity": "10",
        "unit_amount": "10",
        "flat_amount": "2",
        "amount": "102.00",
    }
    volume = price(api, product_id, "volume", tiers=VOLUME)
    assert compute(api, volume["id"], quantity="6")["total"]["amount"] == "39.00"
    package = price(api, product_id, "package", amount="100", package_size=10)
    assert compute(api, package["id"], quantity="121")["total"]["amount"] == "1300.00"


def test_every_model_computes(api: ApiClient, product_id: str) -> None:
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({"model": "flat", "amount": "29.00"}, {"quantity": "7"}, "29.00"),
        ({"model": "per_unit", "unit_amount": "0.015"}, {"quantity": "1001"}, "15.02"),
        (
            {
                "model": "staircase",
                "tiers": [{"up_to": "10", "flat_amount": "50"}, {"up_to": None, "flat_amount": "90"}],
            },
            {"quantity": "11"},
            "90.00",
        ),
        (
            {"model": "percentage", "rate": "2.9", "fixed_amount": "0.30"},
            {"event_values": ["10.00", "80.00"]},
            "3.21",
        ),
        (
            {
                "model": "formula",
                "expression": "max(quantity - included, 0) * 2",
                "variables": [{"name": "included", "type": "decimal", "default": "5"}],
            },
            {"quantity": "8"},
            "6.00",
        ),
    ]
    for definition, request, expected in cases:
        created = price(api, product_id, definition.pop("model"), **definition)
        assert compute(api, created["id"], **request)["total"]["amount"] == expected, created


def test_rounding_follows_the_currency(api: ApiClient, product_id: str) -> None:
    yen = price(api, product_id, "per_unit", currency="JPY", unit_amount="0.5")
    assert compute(api, yen["id"], quantity="3")["total"] == {"amount": "2", "currency": "JPY"}
    dinar = price(api, product_id, "per_unit", currency="KWD", unit_amount="0.0005")
    assert compute(api, dinar["id"], quantity="3")["total"] == {"amount": "0.002", "currency": "KWD"}


def test_stored_terms_round_trip(api: ApiClient, product_id: str) -> None:
    created = price(api, product_id, "graduated", tiers=GRADUATED, nickname="API tiers")
    assert api.get(f"/v1/prices/{created['id']}").data == created
    formula = price(
        api,
        product_id,
        "formula",
        expression="if(premium, quantity * 2, quantity)",
        variables=[{"name": "premium", "type": "boolean", "default": False}],
    )
    assert api.get(f"/v1/prices/{formula['id']}").data == formula
    assert compute(api, formula["id"], quantity="3", variables={"premium": True})["total"]["amount"] == "6.00"


def test_bad_prices_get_problems_and_write_nothing(api: ApiClient, product_id: str) -> None:
    before = stored_items()
    bad: list[tuple[dict[str, Any], str]] = [
        ({"model": "flat", "amount": 29}, "/amount"),
        ({"model": "flat", "amount": "-1"}, "/amount"),
        ({"model": "per_unit"}, "/unit_amount"),
        (
            {
                "model": "graduated",
                "tiers": [
                    {"up_to": "20", "unit_amount": "1"},
                    {"up_to": "10", "unit_amount": "1"},
                    {"up_to": None, "unit_amount": "1"},
                ],
            },
            "/tiers/1/up_to",
        ),
        ({"model": "graduated", "tiers": [{"up_to": "10", "unit_amount": "1"}]}, "/tiers/0/up_to"),
        ({"model": "package", "amount": "100", "package_size": 0}, "/package_size"),
        ({"model": "formula", "expression": "quantity * seats"}, "/expression"),
        ({"model": "formula", "expression": "quantity * (2"}, "/expression"),
        ({"model": "flat", "amount": "10", "tiers": []}, "/tiers"),
    ]
    for body, pointer in bad:
        response = api.post("/v1/prices", {"product_id": product_id, "currency": "EUR", **body})
        assert_problem(response, 422, "validation_failed")
        assert pointer in {e["pointer"] for e in response.json()["errors"]}, (body, response.body)
    unknown_currency = api.post(
        "/v1/prices", {"product_id": product_id, "currency": "XYZ", "model": "flat", "amount": "1"}
    )
    assert {e["pointer"] for e in unknown_currency.json()["errors"]} == {"/currency"}
    ghost = api.post(
        "/v1/prices",
        {
            "product_id": "01900000-0000-7000-8000-000000000000",
            "currency": "EUR",
            "model": "flat",
            "amount": "1",
        },
    )
    assert {e["pointer"] for e in ghost.json()["errors"]} == {"/product_id"}
    formula = api.post(
        "/v1/prices",
        {"product_id": product_id, "currency": "EUR", "model": "formula", "expression": "quantity * seats"},
    )
    assert "position" in formula.json()["errors"][0]["message"]
    assert stored_items() == before


def test_usage_prices_are_billed_in_arrears(api: ApiClient) -> None:
    usage = api.post("/v1/products", {"name": "Calls", "type": "usage"}).data["id"]
    created = price(api, usage, "per_unit", unit_amount="0.001")
    assert created["billing_timing"] == "in_arrears"
    refused = api.post(
        "/v1/prices",
        {
            "product_id": usage,
            "currency": "EUR",
            "model": "per_unit",
            "unit_amount": "1",
            "billing_timing": "in_advance",
        },
    )
    assert_problem(refused, 422, "validation_failed")


def test_compute_rejects_bad_requests(api: ApiClient, product_id: str) -> None:
    created = price(api, product_id, "per_unit", unit_amount="1")
    for body, pointer in (
        ({"quantity": 5}, "/quantity"),
        ({"quantity": "-1"}, "/quantity"),
        ({"quantity": "abc"}, "/quantity"),
        ({"quantity": "1", "variables": {"x": "1"}}, "/variables"),
    ):
        response = api.post(f"/v1/prices/{created['id']}/compute", body, idempotency_key=None)
        assert_problem(response, 422, "validation_failed")
        assert any(e["pointer"].startswith(pointer) for e in response.json()["errors"]), response.body


def test_economics_are_immutable_labels_are_not(api: ApiClient, product_id: str) -> None:
    created = price(api, product_id, "flat", amount="10")
    assert_problem(api.patch(f"/v1/prices/{created['id']}", {"amount": "20"}), 422, "validation_failed")
    renamed = api.patch(f"/v1/prices/{created['id']}", {"nickname": "Basic", "metadata": {"k": "v"}})
    assert renamed.data["nickname"] == "Basic"
    assert renamed.data["amount"] == "10"
    assert api.post(f"/v1/prices/{created['id']}/archive").data["status"] == "archived"
    assert [
        p["id"] for p in api.get("/v1/prices", query={"product_id": product_id, "status": "archived"}).data
    ] == [created["id"]]


def test_tenant_isolation(api: ApiClient, other_api: ApiClient, product_id: str) -> None:
    created = price(api, product_id, "flat", amount="10")
    assert_problem(other_api.get(f"/v1/prices/{created['id']}"), 404, "not_found")
    assert_problem(
        other_api.post(f"/v1/prices/{created['id']}/compute", {"quantity": "1"}, idempotency_key=None),
        404,
        "not_found",
    )
    assert other_api.get("/v1/prices").data == []
    theirs = other_api.post(
        "/v1/prices", {"product_id": product_id, "currency": "EUR", "model": "flat", "amount": "1"}
    )
    assert {e["pointer"] for e in theirs.json()["errors"]} == {"/product_id"}
