"""Products through the real API handler on moto."""

from __future__ import annotations

from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient

SEATS = {
    "name": "Seats",
    "type": "seat",
    "unit_label": "seat",
    "tax_category": "standard",
    "external_id": "prod-seats",
}


def test_create_get_list_patch(api: ApiClient) -> None:
    created = api.post("/v1/products", SEATS)
    assert created.status == 201, created.body
    product = created.data
    assert product["type"] == "seat"
    assert product["status"] == "active"
    assert product["requires_product_ids"] == []
    assert api.get(f"/v1/products/{product['id']}").data == product
    usage = api.post("/v1/products", {"name": "API calls", "type": "usage"}).data
    assert [p["id"] for p in api.get("/v1/products").data] == [usage["id"], product["id"]]
    assert [p["id"] for p in api.get("/v1/products", query={"type": "seat"}).data] == [product["id"]]
    assert [p["id"] for p in api.get("/v1/products", query={"external_id": "prod-seats"}).data] == [
        product["id"]
    ]
    patched = api.patch(
        f"/v1/products/{product['id']}", {"description": "Per user", "tax_category": "reduced"}
    )
    assert patched.data["version"] == 2
    assert patched.data["tax_category"] == "reduced"
    assert api.patch(f"/v1/products/{product['id']}", {"description": "Per user"}).data["version"] == 2


def test_requirements_must_exist_and_not_be_self(api: ApiClient) -> None:
    base = api.post("/v1/products", {"name": "Base", "type": "recurring"}).data
    addon = api.post(
        "/v1/products", {"name": "Add-on", "type": "recurring", "requires_product_ids": [base["id"]]}
    )
    assert addon.status == 201
    ghost = api.post(
        "/v1/products",
        {"name": "X", "type": "recurring", "requires_product_ids": ["01900000-0000-7000-8000-000000000000"]},
    )
    assert_problem(ghost, 422, "validation_failed")
    assert ghost.json()["errors"][0]["pointer"] == "/requires_product_ids/0"
    selfish = api.patch(f"/v1/products/{base['id']}", {"requires_product_ids": [base["id"]]})
    assert_problem(selfish, 422, "validation_failed")


def test_archive_and_unarchive(api: ApiClient) -> None:
    product = api.post("/v1/products", SEATS).data
    archived = api.post(f"/v1/products/{product['id']}/archive")
    assert archived.data["status"] == "archived"
    assert_problem(api.post(f"/v1/products/{product['id']}/archive"), 409, "invalid_state_transition")
    assert [p["id"] for p in api.get("/v1/products", query={"status": "archived"}).data] == [product["id"]]
    assert api.post(f"/v1/products/{product['id']}/unarchive").data["status"] == "active"


def test_bad_input_changes_nothing(api: ApiClient) -> None:
    for body in (
        {"name": "X"},
        {"name": "X", "type": "subscription"},
        {"name": "X", "type": "usage", "tax_category": "Standard Rate"},
        {"name": "", "type": "usage"},
        {"name": "X", "type": "usage", "price": "10.00"},
    ):
        assert_problem(api.post("/v1/products", body), 422, "validation_failed")
    product = api.post("/v1/products", SEATS).data
    assert_problem(api.patch(f"/v1/products/{product['id']}", {"type": "usage"}), 422, "validation_failed")
    assert_problem(api.patch(f"/v1/products/{product['id']}", {"name": None}), 422, "validation_failed")
    assert_problem(api.post("/v1/products", SEATS), 409, "conflict")
    assert api.get(f"/v1/products/{product['id']}").data == product
    assert len(api.get("/v1/products").data) == 1


def test_tenant_isolation(api: ApiClient, other_api: ApiClient) -> None:
    theirs = other_api.post("/v1/products", SEATS).data
    for response in (
        api.get(f"/v1/products/{theirs['id']}"),
        api.patch(f"/v1/products/{theirs['id']}", {"name": "mine"}),
        api.post(f"/v1/products/{theirs['id']}/archive"),
    ):
        assert_problem(response, 404, "not_found")
    assert api.get("/v1/products").data == []
    assert api.post("/v1/products", {**SEATS, "requires_product_ids": [theirs["id"]]}).status == 422
