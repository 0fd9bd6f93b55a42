"""Meters through the real API handler on moto."""

from __future__ import annotations

from typing import Any

from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient

API_CALLS: dict[str, Any] = {
    "code": "api_calls",
    "name": "API calls",
    "aggregation": "count",
    "filters": [{"property": "status", "values": ["200", "201"]}],
    "group_by": ["region"],
}
STORAGE: dict[str, Any] = {
    "code": "storage_gb",
    "name": "Storage",
    "aggregation": "weighted_sum",
    "value_property": "gb",
    "weighted_unit": "hour",
    "late_event_policy": "bill_next_period",
}


def ids(response: Any) -> list[str]:
    return [m["id"] for m in response.data]


def test_create_get_list_patch(api: ApiClient) -> None:
    created = api.post("/v1/meters", API_CALLS)
    assert created.status == 201, created.body
    meter = created.data
    assert created.header("Location") == f"/v1/meters/{meter['id']}"
    assert meter["object"] == "meter"
    assert meter["filters"] == [{"property": "status", "operator": "in", "values": ["200", "201"]}]
    assert meter["group_by"] == ["region"]
    assert meter["value_property"] is None
    assert meter["weighted_unit"] is None
    assert meter["late_event_policy"] == "reject"
    assert (meter["status"], meter["version"], meter["livemode"]) == ("active", 1, False)
    assert api.get(f"/v1/meters/{meter['id']}").data == meter

    storage = api.post("/v1/meters", STORAGE).data
    assert (storage["weighted_unit"], storage["late_event_policy"]) == ("hour", "bill_next_period")
    assert ids(api.get("/v1/meters")) == [storage["id"], meter["id"]]
    assert ids(api.get("/v1/meters", query={"aggregation": "count"})) == [meter["id"]]
    assert ids(api.get("/v1/meters", query={"code": "storage_gb"})) == [storage["id"]]
    assert api.get("/v1/meters", query={"code": "storage_gb", "aggregation": "count"}).data == []
    assert api.get("/v1/meters", query={"code": "nope"}).data == []

    patched = api.patch(
        f"/v1/meters/{meter['id']}",
        {"description": "Successful calls", "late_event_policy": "bill_next_period", "metadata": {"a": "1"}},
    )
    assert patched.status == 200, patched.body
    assert patched.data["version"] == 2
    assert patched.data["description"] == "Successful calls"
    assert patched.data["late_event_policy"] == "bill_next_period"
    merged = api.patch(f"/v1/meters/{meter['id']}", {"metadata": {"b": "2"}}).data
    assert (merged["metadata"], merged["version"]) == ({"a": "1", "b": "2"}, 3)
    same = api.patch(f"/v1/meters/{meter['id']}", {"description": "Successful calls"})
    assert same.data["version"] == 3
    assert api.patch(f"/v1/meters/{meter['id']}", {"name": "x"}, headers={"If-Match": "1"}).status == 412


def test_archive_and_unarchive(api: ApiClient) -> None:
    meter = api.post("/v1/meters", API_CALLS).data
    archived = api.post(f"/v1/meters/{meter['id']}/archive")
    assert (archived.data["status"], archived.data["version"]) == ("archived", 2)
    assert_problem(api.post(f"/v1/meters/{meter['id']}/archive"), 409, "invalid_state_transition")
    assert ids(api.get("/v1/meters", query={"status": "archived"})) == [meter["id"]]
    assert api.get("/v1/meters", query={"status": "active"}).data == []
    assert api.get("/v1/meters", query={"code": "api_calls", "status": "active"}).data == []
    assert api.post(f"/v1/meters/{meter['id']}/unarchive").data["status"] == "active"
    assert_problem(api.post(f"/v1/meters/{meter['id']}/unarchive"), 409, "invalid_state_transition")


def test_code_is_unique_per_tenant(api: ApiClient, other_api: ApiClient) -> None:
    mine = api.post("/v1/meters", API_CALLS).data
    taken = api.post("/v1/meters", {**STORAGE, "code": "api_calls"})
    assert_problem(taken, 409, "conflict")
    assert "code" in taken.json()["detail"]
    theirs = other_api.post("/v1/meters", API_CALLS)
    assert theirs.status == 201, theirs.body
    assert theirs.data["id"] != mine["id"]
    assert ids(api.get("/v1/meters")) == [mine["id"]]
    assert ids(other_api.get("/v1/meters", query={"code": "api_calls"})) == [theirs.data["id"]]


def test_bad_input_changes_nothing(api: ApiClient) -> None:
    meter = api.post("/v1/meters", API_CALLS).data
    bad: list[tuple[dict[str, Any], str]] = [
        ({**API_CALLS, "code": "c1", "value_property": "n"}, "/value_property"),
        ({**STORAGE, "code": "s1", "aggregation": "sum", "value_property": None}, "/value_property"),
        ({**API_CALLS, "code": "API Calls"}, "/code"),
        ({**API_CALLS, "code": ""}, "/code"),
        ({**STORAGE, "code": "s2", "group_by": ["region", "gb"]}, "/group_by/1"),
        (
            {**API_CALLS, "code": "c2", "filters": [{"property": "a", "values": ["1"]}] * 2},
            "/filters/1/property",
        ),
        ({**API_CALLS, "code": "c3", "filters": [{"property": "a", "values": []}]}, "/filters/0/values"),
        ({**API_CALLS, "code": "c4", "weighted_unit": "day"}, "/weighted_unit"),
        ({**API_CALLS, "code": "c5", "aggregation": "average"}, "/aggregation"),
        ({**API_CALLS, "code": "c6", "group_by": ["a", "b", "c", "d"]}, "/group_by"),
        ({**API_CALLS, "code": "c7", "unit": "call"}, "/unit"),
        ({"code": "c8", "aggregation": "count"}, "/name"),
    ]
    for body, pointer in bad:
        response = api.post("/v1/meters", body)
        assert_problem(response, 422, "validation_failed")
        pointers = {e["pointer"] for e in response.json()["errors"]}
        assert any(p.startswith(pointer) for p in pointers), (body, response.body)
    for patch, pointer in (
        ({"aggregation": "sum"}, "/aggregation"),
        ({"code": "other"}, "/code"),
        ({"name": None}, "/name"),
        ({"late_event_policy": "drop"}, "/late_event_policy"),
    ):
        response = api.patch(f"/v1/meters/{meter['id']}", patch)
        assert_problem(response, 422, "validation_failed")
        assert any(e["pointer"].startswith(pointer) for e in response.json()["errors"]), response.body
    assert api.get(f"/v1/meters/{meter['id']}").data == meter
    assert ids(api.get("/v1/meters")) == [meter["id"]]


def test_idempotency_key_is_required(api: ApiClient) -> None:
    assert_problem(api.post("/v1/meters", API_CALLS, idempotency_key=None), 400, "idempotency_key_required")
    assert api.get("/v1/meters").data == []


def test_tenant_isolation(api: ApiClient, other_api: ApiClient) -> None:
    theirs = other_api.post("/v1/meters", API_CALLS).data
    for response in (
        api.get(f"/v1/meters/{theirs['id']}"),
        api.patch(f"/v1/meters/{theirs['id']}", {"name": "mine"}),
        api.post(f"/v1/meters/{theirs['id']}/archive"),
        api.post(f"/v1/meters/{theirs['id']}/unarchive"),
    ):
        assert_problem(response, 404, "not_found")
    assert api.get("/v1/meters").data == []
    assert api.get("/v1/meters", query={"code": "api_calls"}).data == []
    assert other_api.get(f"/v1/meters/{theirs['id']}").data == theirs
