"""Customers through the real API handler on moto: the happy paths and the contract details."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.support.api_client import ApiClient
from tests.support.aws import TABLE

ACME = {
    "name": "Acme GmbH",
    "type": "company",
    "email": "billing@acme.test",
    "external_id": "crm-1001",
    "billing_address": {
        "line1": "Unter den Linden 1",
        "city": "Berlin",
        "postal_code": "10117",
        "country": "DE",
    },
    "tax_ids": [{"type": "eu_vat", "value": "DE 136 695 976"}],
    "currency": "EUR",
    "locale": "de-DE",
    "timezone": "Europe/Berlin",
    "billing_model": "postpaid",
    "tags": ["enterprise", "emea"],
    "metadata": {"crm": "hubspot"},
}


def events_of(customer_id: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    envelopes = [item for item in items if item.get("kind", {}).get("S") == "event"]
    found = []
    for item in envelopes:
        envelope = item["envelope"]["M"]
        if envelope["aggregate"]["M"]["id"]["S"] == customer_id:
            found.append(
                {"type": envelope["type"]["S"], "sequence": int(envelope["aggregate"]["M"]["sequence"]["N"])}
            )
    return sorted(found, key=lambda e: e["sequence"])


def test_create_returns_the_customer_with_normalised_tax_id_and_etag(api: ApiClient) -> None:
    response = api.post("/v1/customers", ACME)
    assert response.status == 201
    customer = response.data
    assert customer["name"] == "Acme GmbH"
    assert customer["livemode"] is False
    assert customer["tax_ids"] == [{"type": "eu_vat", "value": "DE136695976", "country": "DE"}]
    assert customer["status"] == "active"
    assert customer["version"] == 1
    assert response.header("ETag") == '"1"'
    assert response.header("Location") == f"/v1/customers/{customer['id']}"
    assert events_of(customer["id"]) == [{"type": "customer.created", "sequence": 1}]


def test_get_patch_and_events(api: ApiClient) -> None:
    customer_id = api.post("/v1/customers", ACME).data["id"]
    patched = api.patch(f"/v1/customers/{customer_id}", {"name": "Acme AG", "metadata": {"segment": "smb"}})
    assert patched.status == 200
    assert patched.data["name"] == "Acme AG"
    assert patched.data["metadata"] == {"crm": "hubspot", "segment": "smb"}
    assert patched.data["version"] == 2
    removed = api.patch(f"/v1/customers/{customer_id}", {"metadata": {"crm": ""}, "email": None})
    assert removed.data["metadata"] == {"segment": "smb"}
    assert removed.data["email"] is None
    fetched = api.get(f"/v1/customers/{customer_id}")
    assert fetched.data == removed.data
    assert fetched.header("ETag") == '"3"'
    assert events_of(customer_id) == [
        {"type": "customer.created", "sequence": 1},
        {"type": "customer.updated", "sequence": 2},
        {"type": "customer.updated", "sequence": 3},
    ]


def test_if_match_mismatch_is_412_and_changes_nothing(api: ApiClient) -> None:
    customer_id = api.post("/v1/customers", ACME).data["id"]
    stale = api.patch(f"/v1/customers/{customer_id}", {"name": "X"}, headers={"If-Match": '"7"'})
    assert stale.status == 412
    assert stale.code == "precondition_failed"
    ok = api.patch(f"/v1/customers/{customer_id}", {"name": "Y"}, headers={"If-Match": 'W/"1"'})
    assert ok.status == 200
    assert api.get(f"/v1/customers/{customer_id}").data["name"] == "Y"


def test_list_paginates_newest_first_with_filters(api: ApiClient) -> None:
    ids = [
        api.post("/v1/customers", {"name": f"C{i}", "tags": ["even" if i % 2 == 0 else "odd"]}).data["id"]
        for i in range(7)
    ]
    first = api.get("/v1/customers", query={"limit": "3"})
    assert first.status == 200
    assert [c["id"] for c in first.data] == ids[::-1][:3]
    assert first.json()["pagination"]["has_more"] is True
    cursor = first.json()["pagination"]["next_cursor"]
    second = api.get("/v1/customers", query={"limit": "3", "cursor": cursor})
    assert [c["id"] for c in second.data] == ids[::-1][3:6]
    third = api.get(
        "/v1/customers", query={"limit": "3", "cursor": second.json()["pagination"]["next_cursor"]}
    )
    assert [c["id"] for c in third.data] == ids[::-1][6:]
    assert third.json()["pagination"] == {"next_cursor": None, "has_more": False}

    even = api.get("/v1/customers", query={"tag": "even", "limit": "2"})
    assert [c["id"] for c in even.data] == [ids[6], ids[4]]
    rest = api.get(
        "/v1/customers",
        query={"tag": "even", "limit": "2", "cursor": even.json()["pagination"]["next_cursor"]},
    )
    assert [c["id"] for c in rest.data] == [ids[2], ids[0]]
    assert rest.json()["pagination"]["has_more"] is False


def test_cursor_is_bound_to_its_query_and_tamper_proof(api: ApiClient) -> None:
    for i in range(3):
        api.post("/v1/customers", {"name": f"C{i}", "tags": ["t"]})
    cursor = api.get("/v1/customers", query={"limit": "1"}).json()["pagination"]["next_cursor"]
    other_query = api.get("/v1/customers", query={"limit": "1", "tag": "t", "cursor": cursor})
    assert other_query.status == 400
    assert other_query.code == "invalid_cursor"
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert api.get("/v1/customers", query={"cursor": tampered}).code == "invalid_cursor"
    assert api.get("/v1/customers", query={"cursor": "garbage"}).code == "invalid_cursor"


def test_filter_by_external_id_and_status(api: ApiClient) -> None:
    acme = api.post("/v1/customers", ACME).data
    api.post("/v1/customers", {"name": "Other"})
    by_ext = api.get("/v1/customers", query={"external_id": "crm-1001"})
    assert [c["id"] for c in by_ext.data] == [acme["id"]]
    api.post(f"/v1/customers/{acme['id']}/disable")
    disabled = api.get("/v1/customers", query={"status": "disabled"})
    assert [c["id"] for c in disabled.data] == [acme["id"]]


def test_upsert_by_external_id_creates_then_updates(api: ApiClient) -> None:
    created = api.put("/v1/customers/by-external-id/crm-77", {"name": "Initech", "currency": "USD"})
    assert created.status == 201
    assert created.data["external_id"] == "crm-77"
    updated = api.put("/v1/customers/by-external-id/crm-77", {"email": "ap@initech.test"})
    assert updated.status == 200
    assert updated.data["id"] == created.data["id"]
    assert updated.data["email"] == "ap@initech.test"
    assert updated.data["name"] == "Initech"
    nameless = api.put("/v1/customers/by-external-id/crm-78", {"email": "x@y.test"})
    assert nameless.status == 422
    assert api.get("/v1/customers/by-external-id/crm-77").data["id"] == created.data["id"]


def test_external_id_is_unique_per_tenant(api: ApiClient, other_api: ApiClient) -> None:
    assert api.post("/v1/customers", ACME).status == 201
    duplicate = api.post("/v1/customers", ACME)
    assert duplicate.status == 409
    assert duplicate.code == "conflict"
    # Another tenant may use the same external id.
    assert other_api.post("/v1/customers", ACME).status == 201


def test_changing_external_id_releases_the_old_one(api: ApiClient) -> None:
    customer_id = api.post("/v1/customers", ACME).data["id"]
    assert api.patch(f"/v1/customers/{customer_id}", {"external_id": "crm-2002"}).status == 200
    assert api.get("/v1/customers/by-external-id/crm-1001").status == 404
    assert api.get("/v1/customers/by-external-id/crm-2002").data["id"] == customer_id
    assert api.post("/v1/customers", ACME).status == 201


def test_disable_enable_and_illegal_transitions(api: ApiClient) -> None:
    customer_id = api.post("/v1/customers", ACME).data["id"]
    assert api.post(f"/v1/customers/{customer_id}/enable").code == "invalid_state_transition"
    disabled = api.post(f"/v1/customers/{customer_id}/disable")
    assert disabled.data["status"] == "disabled"
    assert api.post(f"/v1/customers/{customer_id}/disable").status == 409
    assert api.post(f"/v1/customers/{customer_id}/enable").data["status"] == "active"


def test_merge_moves_what_exists_today_and_archives_the_source(api: ApiClient) -> None:
    target = api.post("/v1/customers", {"name": "Target", "tags": ["a"], "metadata": {"k": "target"}}).data
    source = api.post(
        "/v1/customers",
        {
            "name": "Source",
            "email": "s@x.test",
            "tags": ["b"],
            "metadata": {"k": "source", "only": "s"},
            "external_id": "src",
        },
    ).data
    merged = api.post(f"/v1/customers/{target['id']}/merge", {"from_customer_id": source["id"]})
    assert merged.status == 200
    assert merged.data["email"] == "s@x.test"
    assert merged.data["tags"] == ["a", "b"]
    assert merged.data["metadata"] == {"k": "target", "only": "s"}
    archived = api.get(f"/v1/customers/{source['id']}").data
    assert archived["status"] == "archived"
    assert archived["merged_into"] == target["id"]
    assert archived["external_id"] is None
    assert api.get("/v1/customers/by-external-id/src").status == 404
    assert [c["id"] for c in api.get("/v1/customers").data] == [target["id"]]
    assert api.patch(f"/v1/customers/{source['id']}", {"name": "again"}).code == "invalid_state_transition"
    again = api.post(f"/v1/customers/{target['id']}/merge", {"from_customer_id": source["id"]})
    assert again.code == "invalid_state_transition"
    assert [e["type"] for e in events_of(target["id"])] == ["customer.created", "customer.merged"]


def test_merge_refuses_other_currency_and_self(api: ApiClient) -> None:
    eur = api.post("/v1/customers", {"name": "E", "currency": "EUR"}).data["id"]
    usd = api.post("/v1/customers", {"name": "U", "currency": "USD"}).data["id"]
    assert api.post(f"/v1/customers/{eur}/merge", {"from_customer_id": usd}).code == "conflict"
    assert api.post(f"/v1/customers/{eur}/merge", {"from_customer_id": eur}).code == "conflict"


def test_custom_fields_are_validated_on_customers(api: ApiClient) -> None:
    tier = api.post(
        "/v1/custom-fields",
        {
            "entity_type": "customer",
            "key": "tier",
            "name": "Tier",
            "type": "enum",
            "options": ["gold", "silver"],
            "required": True,
        },
    )
    assert tier.status == 201
    api.post(
        "/v1/custom-fields",
        {"entity_type": "customer", "key": "seats", "name": "Seats", "type": "number", "min_value": "1"},
    )
    api.post(
        "/v1/custom-fields",
        {
            "entity_type": "customer",
            "key": "parent",
            "name": "Parent",
            "type": "entity_ref",
            "ref_entity_type": "customer",
        },
    )

    missing = api.post("/v1/customers", {"name": "No tier"})
    assert missing.status == 422
    assert {"pointer": "/custom_fields/tier", "message": "is required"} in missing.json()["errors"]

    bad = api.post(
        "/v1/customers", {"name": "Bad", "custom_fields": {"tier": "bronze", "seats": "0", "nope": 1}}
    )
    pointers = {e["pointer"] for e in bad.json()["errors"]}
    assert pointers == {"/custom_fields/tier", "/custom_fields/seats", "/custom_fields/nope"}

    ghost = api.post(
        "/v1/customers",
        {"name": "G", "custom_fields": {"tier": "gold", "parent": "01900000-0000-7000-8000-000000000000"}},
    )
    assert ghost.status == 422
    assert ghost.json()["errors"][0]["pointer"] == "/custom_fields/parent"

    parent = api.post("/v1/customers", {"name": "P", "custom_fields": {"tier": "gold"}}).data["id"]
    child = api.post(
        "/v1/customers", {"name": "C", "custom_fields": {"tier": "silver", "seats": 5, "parent": parent}}
    )
    assert child.status == 201
    assert child.data["custom_fields"] == {"tier": "silver", "seats": "5", "parent": parent}

    listed = api.get("/v1/custom-fields", query={"entity_type": "customer"})
    assert [f["key"] for f in listed.data] == ["parent", "seats", "tier"]
    duplicate = api.post(
        "/v1/custom-fields", {"entity_type": "customer", "key": "tier", "name": "T", "type": "text"}
    )
    assert duplicate.status == 409


def test_custom_field_options_can_grow_but_not_shrink(api: ApiClient) -> None:
    field = api.post(
        "/v1/custom-fields",
        {"entity_type": "customer", "key": "tier", "name": "Tier", "type": "enum", "options": ["gold"]},
    ).data
    grown = api.patch(f"/v1/custom-fields/{field['id']}", {"options": ["gold", "silver"]})
    assert grown.data["options"] == ["gold", "silver"]
    shrunk = api.patch(f"/v1/custom-fields/{field['id']}", {"options": ["silver"]})
    assert shrunk.status == 422
    archived = api.post(f"/v1/custom-fields/{field['id']}/archive")
    assert archived.data["status"] == "archived"


@pytest.mark.parametrize("livemode_key", [True])
def test_sandbox_and_live_data_never_mix(api: ApiClient, api_handler: Any, livemode_key: bool) -> None:
    from billow.api.container import container
    from billow.domain.tenancy import hash_api_key

    customer_id = api.post("/v1/customers", ACME).data["id"]
    key = container().tenancy.api_keys.get_by_hash(hash_api_key(api.api_key or ""))
    assert key is not None
    live = ApiClient(
        api_handler, container().tenancy.issue_api_key(key.tenant_id, livemode=livemode_key).secret
    )
    assert live.get(f"/v1/customers/{customer_id}").status == 404
    assert live.get("/v1/customers").data == []
    created = live.post("/v1/customers", {"name": "Live one"})
    assert created.data["livemode"] is True


def test_a_patch_that_changes_nothing_writes_nothing(api: ApiClient) -> None:
    customer = api.post("/v1/customers", ACME).data
    same = api.patch(f"/v1/customers/{customer['id']}", {"name": "Acme GmbH", "tags": ["enterprise", "emea"]})
    assert same.status == 200
    assert same.data == customer
    assert api.patch(f"/v1/customers/{customer['id']}", {}).data["version"] == 1
    assert events_of(customer["id"]) == [{"type": "customer.created", "sequence": 1}]
