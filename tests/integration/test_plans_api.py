"""Versioned plans through the real API handler on moto."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_api_conventions import assert_problem, stored_items
from tests.support.api_client import ApiClient


@pytest.fixture
def catalog(api: ApiClient) -> dict[str, Any]:
    base = api.post("/v1/products", {"name": "Platform fee", "type": "recurring"}).data
    seats = api.post(
        "/v1/products", {"name": "Seats", "type": "seat", "requires_product_ids": [base["id"]]}
    ).data
    calls = api.post("/v1/products", {"name": "API calls", "type": "usage"}).data

    def price(product: dict[str, Any], currency: str = "EUR", **terms: Any) -> dict[str, Any]:
        body = {"product_id": product["id"], "currency": currency, **terms}
        response = api.post("/v1/prices", body)
        assert response.status == 201, response.body
        return dict(response.data)

    return {
        "base": base,
        "seats": seats,
        "calls": calls,
        "fee": price(base, model="flat", amount="49.00"),
        "fee_usd": price(base, currency="USD", model="flat", amount="55.00"),
        "seat": price(seats, model="per_unit", unit_amount="10.00"),
        "call": price(
            calls,
            model="graduated",
            tiers=[{"up_to": "1000", "unit_amount": "0"}, {"up_to": None, "unit_amount": "0.002"}],
        ),
    }


def plan_body(catalog: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Team",
        "currency": "EUR",
        "interval": "month",
        "trial_days": 14,
        "components": [
            {"price_id": catalog["fee"]["id"]},
            {"price_id": catalog["seat"]["id"], "included_quantity": "3"},
            {"price_id": catalog["call"]["id"]},
        ],
        **extra,
    }


def test_draft_publish_and_immutability(api: ApiClient, catalog: dict[str, Any]) -> None:
    created = api.post("/v1/plans", plan_body(catalog))
    assert created.status == 201, created.body
    plan = created.data
    assert plan["latest_published_version"] is None
    assert [v["status"] for v in plan["versions"]] == ["draft"]
    edited = api.patch(f"/v1/plans/{plan['id']}/versions/1", {"trial_days": 30})
    assert edited.data["versions"][0]["trial_days"] == 30
    published = api.post(f"/v1/plans/{plan['id']}/versions/1/publish")
    assert published.data["latest_published_version"] == 1
    assert published.data["versions"][0]["published_at"]
    assert_problem(
        api.patch(f"/v1/plans/{plan['id']}/versions/1", {"trial_days": 7}), 409, "invalid_state_transition"
    )
    assert_problem(api.post(f"/v1/plans/{plan['id']}/versions/1/publish"), 409, "invalid_state_transition")

    v2 = api.post(f"/v1/plans/{plan['id']}/versions", {"trial_days": 0})
    assert v2.status == 201
    versions = v2.data["versions"]
    assert [v["status"] for v in versions] == ["published", "draft"]
    assert [c["price_id"] for c in versions[1]["components"]] == [
        c["price_id"] for c in versions[0]["components"]
    ]
    assert_problem(api.post(f"/v1/plans/{plan['id']}/versions", {}), 409, "conflict")
    assert api.post(f"/v1/plans/{plan['id']}/versions/2/publish").data["latest_published_version"] == 2
    one = api.get(f"/v1/plans/{plan['id']}/versions/1").data
    assert one["trial_days"] == 30
    assert_problem(api.get(f"/v1/plans/{plan['id']}/versions/9"), 404, "not_found")


def test_preview_prices_one_period(api: ApiClient, catalog: dict[str, Any]) -> None:
    plan = api.post("/v1/plans", plan_body(catalog)).data
    preview = api.post(
        f"/v1/plans/{plan['id']}/preview",
        {"quantities": {catalog["seats"]["id"]: "5", catalog["calls"]["id"]: "3500"}},
        idempotency_key=None,
    )
    assert preview.status == 200, preview.body
    data = preview.data
    assert data["version"] == 1
    amounts = [
        (line["description"], line["billable_quantity"], line["amount"]["amount"]) for line in data["lines"]
    ]
    assert amounts == [("Platform fee", "1", "49.00"), ("Seats", "2", "20.00"), ("API calls", "3500", "5.00")]
    assert data["total"] == {"amount": "74.00", "currency": "EUR"}
    unknown = api.post(f"/v1/plans/{plan['id']}/preview", {"quantities": {"nope": "1"}}, idempotency_key=None)
    assert_problem(unknown, 422, "validation_failed")


def test_bad_versions_get_problems_and_change_nothing(api: ApiClient, catalog: dict[str, Any]) -> None:
    before = stored_items()
    other_currency = api.post(
        "/v1/plans", plan_body(catalog, components=[{"price_id": catalog["fee_usd"]["id"]}])
    )
    assert_problem(other_currency, 422, "validation_failed")
    assert other_currency.json()["errors"][0]["pointer"] == "/components/0/price_id"
    missing_base = api.post("/v1/plans", plan_body(catalog, components=[{"price_id": catalog["seat"]["id"]}]))
    assert_problem(missing_base, 422, "validation_failed")
    assert "requires" in missing_base.json()["errors"][0]["message"]
    for body in (
        plan_body(catalog, interval="fortnight"),
        plan_body(catalog, interval_count=0),
        plan_body(catalog, components=[{"price_id": catalog["fee"]["id"], "included_quantity": "-1"}]),
        plan_body(
            catalog, components=[{"price_id": catalog["fee"]["id"]}, {"price_id": catalog["fee"]["id"]}]
        ),
        {"name": "No currency"},
    ):
        assert_problem(api.post("/v1/plans", body), 422, "validation_failed")
    assert stored_items() == before

    empty = api.post("/v1/plans", {"name": "Empty", "currency": "EUR"}).data
    assert_problem(api.post(f"/v1/plans/{empty['id']}/versions/1/publish"), 422, "validation_failed")
    assert api.get(f"/v1/plans/{empty['id']}").data["versions"][0]["status"] == "draft"


def test_archived_prices_cannot_be_published(api: ApiClient, catalog: dict[str, Any]) -> None:
    plan = api.post("/v1/plans", plan_body(catalog)).data
    api.post(f"/v1/prices/{catalog['call']['id']}/archive")
    assert_problem(api.post(f"/v1/plans/{plan['id']}/versions/1/publish"), 422, "validation_failed")


def test_migrate_validates_and_reports(api: ApiClient, catalog: dict[str, Any]) -> None:
    plan = api.post("/v1/plans", plan_body(catalog)).data
    api.post(f"/v1/plans/{plan['id']}/versions/1/publish")
    api.post(f"/v1/plans/{plan['id']}/versions", {"trial_days": 0})
    to_draft = api.post(f"/v1/plans/{plan['id']}/migrate", {"from_version": 1, "to_version": 2})
    assert_problem(to_draft, 422, "validation_failed")
    api.post(f"/v1/plans/{plan['id']}/versions/2/publish")
    report = api.post(
        f"/v1/plans/{plan['id']}/migrate",
        {"from_version": 1, "to_version": 2, "when": "immediately", "proration_behavior": "none"},
    )
    assert report.status == 200, report.body
    assert report.data["subscriptions"] == []
    assert (report.data["from_version"], report.data["to_version"]) == (1, 2)


def test_tenant_isolation(api: ApiClient, other_api: ApiClient, catalog: dict[str, Any]) -> None:
    plan = api.post("/v1/plans", plan_body(catalog)).data
    for response in (
        other_api.get(f"/v1/plans/{plan['id']}"),
        other_api.post(f"/v1/plans/{plan['id']}/versions/1/publish"),
        other_api.post(f"/v1/plans/{plan['id']}/preview", {}, idempotency_key=None),
        other_api.patch(f"/v1/plans/{plan['id']}/versions/1", {"trial_days": 1}),
    ):
        assert_problem(response, 404, "not_found")
    assert other_api.get("/v1/plans").data == []
    stolen = other_api.post("/v1/plans", plan_body(catalog))
    assert_problem(stolen, 422, "validation_failed")
