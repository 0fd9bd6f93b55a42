"""The cross-cutting rules of API.md: auth, tenancy, idempotency, concurrency, problems."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from billow.api.container import container
from tests.support.api_client import ApiClient, ApiResponse
from tests.support.aws import TABLE


def stored_items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=TABLE)["Items"]


def count(kind: str) -> int:
    return sum(1 for item in stored_items() if item.get("kind", {}).get("S") == kind)


def assert_problem(response: ApiResponse, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert response.header("Content-Type") == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    text = json.dumps(body)
    for leak in (
        "Traceback",
        'File "',
        "billow.api",
        "billow.domain",
        "billow.adapters",
        "pydantic",
        "boto",
        "dynamodb",
        "pk",
        "gsi1",
    ):
        assert leak not in text, f"{leak!r} leaked into {text}"


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic abc",
        "Bearer bk_test_unknownunknownunknown",
        "Bearer not-a-key",
        "bk_test_x",
    ],
)
def test_missing_or_unknown_key_is_401(api: ApiClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = api.request("GET", "/v1/customers", headers=headers, auth=False)
    assert_problem(response, 401, "unauthenticated")


def test_unauthenticated_invalid_body_is_still_401(api: ApiClient) -> None:
    response = api.request("POST", "/v1/customers", body={"name": 5}, auth=False, idempotency_key="k")
    assert_problem(response, 401, "unauthenticated")
    response = api.request("POST", "/v1/customers", raw_body="{", auth=False, idempotency_key="k")
    assert_problem(response, 401, "unauthenticated")


def test_revoked_key_stops_working(api: ApiClient) -> None:
    created = api.post("/v1/api-keys", {"name": "temp"})
    assert created.status == 201
    temp = ApiClient(api.handler, created.data["secret"])
    assert temp.get("/v1/customers").status == 200
    listed = api.get("/v1/api-keys").data
    assert all("secret" not in k and "key_hash" not in k for k in listed)
    assert api.post(f"/v1/api-keys/{created.data['id']}/revoke").data["status"] == "revoked"
    assert_problem(temp.get("/v1/customers"), 401, "unauthenticated")


def test_keys_are_stored_hashed(api: ApiClient) -> None:
    dump = json.dumps(stored_items())
    assert api.api_key is not None
    assert api.api_key not in dump


# --- tenant isolation ---------------------------------------------------------------------


def test_another_tenants_customer_is_404_on_every_route(api: ApiClient, other_api: ApiClient) -> None:
    theirs = other_api.post("/v1/customers", {"name": "Theirs", "external_id": "theirs-1"}).data
    mine = api.post("/v1/customers", {"name": "Mine"}).data
    cid = theirs["id"]
    attempts: list[Callable[[], ApiResponse]] = [
        lambda: api.get(f"/v1/customers/{cid}"),
        lambda: api.patch(f"/v1/customers/{cid}", {"name": "hijacked"}),
        lambda: api.post(f"/v1/customers/{cid}/disable"),
        lambda: api.post(f"/v1/customers/{cid}/enable"),
        lambda: api.post(f"/v1/customers/{cid}/merge", {"from_customer_id": mine["id"]}),
        lambda: api.get("/v1/customers/by-external-id/theirs-1"),
    ]
    for attempt in attempts:
        assert_problem(attempt(), 404, "not_found")
    # Merging their customer into mine must not find it either.
    stolen = api.post(f"/v1/customers/{mine['id']}/merge", {"from_customer_id": cid})
    assert stolen.status == 422
    # Upserting their external id creates my own customer, it never touches theirs.
    upserted = api.put("/v1/customers/by-external-id/theirs-1", {"name": "Mine too"})
    assert upserted.status == 201
    assert upserted.data["id"] != cid
    assert other_api.get(f"/v1/customers/{cid}").data == theirs


def test_lists_never_show_another_tenants_data(api: ApiClient, other_api: ApiClient) -> None:
    for i in range(3):
        other_api.post(
            "/v1/customers", {"name": f"Theirs {i}", "tags": ["shared-tag"], "email": "same@x.test"}
        )
    api.post("/v1/customers", {"name": "Mine", "tags": ["shared-tag"], "email": "same@x.test"})
    for query in ({}, {"tag": "shared-tag"}, {"email": "same@x.test"}, {"status": "active"}):
        names = [c["name"] for c in api.get("/v1/customers", query=query).data]
        assert names == ["Mine"]
    field = other_api.post(
        "/v1/custom-fields", {"entity_type": "customer", "key": "x", "name": "X", "type": "text"}
    ).data
    assert api.get("/v1/custom-fields").data == []
    assert api.get(f"/v1/custom-fields/{field['id']}").status == 404


def test_a_cursor_from_another_tenant_is_invalid(api: ApiClient, other_api: ApiClient) -> None:
    for i in range(2):
        other_api.post("/v1/customers", {"name": f"T{i}"})
    cursor = other_api.get("/v1/customers", query={"limit": "1"}).json()["pagination"]["next_cursor"]
    assert_problem(api.get("/v1/customers", query={"limit": "1", "cursor": cursor}), 400, "invalid_cursor")


# --- idempotency ------------------------------------------------------------------------


def test_idempotency_key_is_required_on_create(api: ApiClient) -> None:
    response = api.post("/v1/customers", {"name": "A"}, idempotency_key=None)
    assert_problem(response, 400, "idempotency_key_required")
    assert count("customer") == 0


def test_same_key_same_body_replays_the_first_response(api: ApiClient) -> None:
    first = api.post("/v1/customers", {"name": "A"}, idempotency_key="key-1")
    second = api.post("/v1/customers", {"name": "A"}, idempotency_key="key-1")
    assert first.status == second.status == 201
    assert second.body == first.body
    assert second.header("Idempotent-Replayed") == "true"
    assert first.header("Idempotent-Replayed") is None
    assert second.header("ETag") == first.header("ETag")
    assert count("customer") == 1


def test_same_key_other_body_is_422(api: ApiClient) -> None:
    api.post("/v1/customers", {"name": "A"}, idempotency_key="key-2")
    reused = api.post("/v1/customers", {"name": "B"}, idempotency_key="key-2")
    assert_problem(reused, 422, "idempotency_key_reused")
    assert count("customer") == 1


def test_keys_are_scoped_by_tenant_and_route(api: ApiClient, other_api: ApiClient) -> None:
    assert api.post("/v1/customers", {"name": "A"}, idempotency_key="shared").status == 201
    theirs = other_api.post("/v1/customers", {"name": "A"}, idempotency_key="shared")
    assert theirs.status == 201
    assert theirs.header("Idempotent-Replayed") is None
    field = api.post(
        "/v1/custom-fields",
        {"entity_type": "customer", "key": "k", "name": "K", "type": "text"},
        idempotency_key="shared",
    )
    assert field.status == 201


def test_a_failed_request_is_not_stored(api: ApiClient) -> None:
    bad = api.post("/v1/customers", {"name": "A", "currency": "XXX1"}, idempotency_key="key-3")
    assert bad.status == 422
    good = api.post("/v1/customers", {"name": "A", "currency": "EUR"}, idempotency_key="key-3")
    assert good.status == 201


def test_concurrent_duplicate_posts_create_exactly_one_customer(api: ApiClient) -> None:
    barrier = threading.Barrier(8)

    def send(_: int) -> ApiResponse:
        barrier.wait()
        return api.post("/v1/customers", {"name": "Once"}, idempotency_key="concurrent-key")

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))
    statuses = sorted(r.status for r in responses)
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    for response in responses:
        if response.status == 409:
            assert response.code == "idempotency_key_in_progress"
    assert count("customer") == 1
    assert count("event") == 1
    ids = {r.data["id"] for r in responses if r.status == 201}
    assert len(ids) == 1


# --- concurrency ------------------------------------------------------------------------


def test_concurrent_patches_lose_no_update(api: ApiClient) -> None:
    customer_id = api.post("/v1/customers", {"name": "Busy"}).data["id"]
    barrier = threading.Barrier(6)

    def patch(i: int) -> ApiResponse:
        barrier.wait()
        return api.patch(f"/v1/customers/{customer_id}", {"metadata": {f"key{i}": str(i)}})

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(patch, range(6)))
    assert all(r.status == 200 for r in responses), [r.body for r in responses]
    final = api.get(f"/v1/customers/{customer_id}").data
    assert final["metadata"] == {f"key{i}": str(i) for i in range(6)}
    assert final["version"] == 7


def test_concurrent_patches_with_if_match_let_exactly_one_win(api: ApiClient) -> None:
    customer_id = api.post("/v1/customers", {"name": "Busy"}).data["id"]
    barrier = threading.Barrier(5)

    def patch(i: int) -> ApiResponse:
        barrier.wait()
        return api.patch(f"/v1/customers/{customer_id}", {"name": f"N{i}"}, headers={"If-Match": '"1"'})

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(patch, range(5)))
    winners = [r for r in responses if r.status == 200]
    assert len(winners) == 1
    assert all(r.code == "precondition_failed" for r in responses if r.status != 200)
    final = api.get(f"/v1/customers/{customer_id}").data
    assert final["version"] == 2
    assert final["name"] == winners[0].data["name"]


# --- malformed input --------------------------------------------------------------------

MALFORMED: list[tuple[str, dict[str, Any], int, str]] = [
    ("not json", {"raw_body": "{name: 1"}, 400, "malformed_json"),
    ("truncated json", {"raw_body": '{"name": "A"'}, 400, "malformed_json"),
    ("a list", {"body": [{"name": "A"}]}, 422, "validation_failed"),
    ("a string", {"body": "A"}, 422, "validation_failed"),
    ("empty object", {"body": {}}, 422, "validation_failed"),
    ("number for name", {"body": {"name": 5}}, 422, "validation_failed"),
    ("empty name", {"body": {"name": "   "}}, 422, "validation_failed"),
    ("unknown field", {"body": {"name": "A", "plan": "gold"}}, 422, "validation_failed"),
    ("bad type", {"body": {"name": "A", "type": "alien"}}, 422, "validation_failed"),
    ("bad email", {"body": {"name": "A", "email": "nope"}}, 422, "validation_failed"),
    ("bad currency", {"body": {"name": "A", "currency": "EURO"}}, 422, "validation_failed"),
    ("unknown currency", {"body": {"name": "A", "currency": "ABC"}}, 422, "validation_failed"),
    ("bad country", {"body": {"name": "A", "billing_address": {"country": "XX"}}}, 422, "validation_failed"),
    ("bad timezone", {"body": {"name": "A", "timezone": "Mars/Olympus"}}, 422, "validation_failed"),
    ("bad locale", {"body": {"name": "A", "locale": "zz-ZZ"}}, 422, "validation_failed"),
    (
        "bad vat",
        {"body": {"name": "A", "tax_ids": [{"type": "eu_vat", "value": "DE123456789"}]}},
        422,
        "validation_failed",
    ),
    (
        "unknown tax id type",
        {"body": {"name": "A", "tax_ids": [{"type": "xx_id", "value": "1"}]}},
        422,
        "validation_failed",
    ),
    ("metadata number", {"body": {"name": "A", "metadata": {"k": 1}}}, 422, "validation_failed"),
    ("metadata key too long", {"body": {"name": "A", "metadata": {"k" * 41: "v"}}}, 422, "validation_failed"),
    (
        "metadata value too long",
        {"body": {"name": "A", "metadata": {"k": "v" * 501}}},
        422,
        "validation_failed",
    ),
    (
        "too many metadata keys",
        {"body": {"name": "A", "metadata": {f"k{i}": "v" for i in range(51)}}},
        422,
        "validation_failed",
    ),
    ("bad external id", {"body": {"name": "A", "external_id": "a/b"}}, 422, "validation_failed"),
    ("null byte soup", {"raw_body": "\u0000\u0001"}, 400, "malformed_json"),
]


@pytest.mark.parametrize(("label", "request_kw", "status", "code"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_create_gets_a_problem_and_writes_nothing(
    api: ApiClient, label: str, request_kw: dict[str, Any], status: int, code: str
) -> None:
    before = stored_items()
    response = api.request("POST", "/v1/customers", idempotency_key=str(uuid.uuid4()), **request_kw)
    assert_problem(response, status, code)
    if code == "validation_failed":
        assert response.json()["errors"], "validation problems point at the fields"
    assert stored_items() == before


def test_validation_errors_point_at_fields(api: ApiClient) -> None:
    response = api.post(
        "/v1/customers",
        {
            "name": "A",
            "currency": "ABC",
            "timezone": "Nowhere",
            "tax_ids": [{"type": "eu_vat", "value": "DE1"}],
        },
    )
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"/currency", "/timezone", "/tax_ids/0/value"}


def test_malformed_patch_changes_nothing(api: ApiClient) -> None:
    customer = api.post("/v1/customers", {"name": "A", "email": "a@x.test"}).data
    before = stored_items()
    for body in ({"name": None}, {"email": 5}, {"version": 9}, {"status": "disabled"}, {"id": "x"}):
        assert api.patch(f"/v1/customers/{customer['id']}", body).status == 422
    assert_problem(
        api.patch(f"/v1/customers/{customer['id']}", {"name": "B"}, headers={"If-Match": "banana"}),
        412,
        "precondition_failed",
    )
    assert stored_items() == before


def test_wrong_content_type_is_415(api: ApiClient) -> None:
    response = api.request(
        "POST",
        "/v1/customers",
        raw_body="name=A",
        headers={"content-type": "application/x-www-form-urlencoded"},
        idempotency_key="ct",
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert count("customer") == 0


def test_oversize_body_is_413(api: ApiClient) -> None:
    response = api.post("/v1/customers", {"name": "A", "metadata": {"k": "v" * 300_000}})
    assert_problem(response, 413, "payload_too_large")
    assert count("customer") == 0


def test_unknown_route_and_wrong_method(api: ApiClient) -> None:
    assert_problem(api.get("/v1/no-such-thing"), 404, "route_not_found")
    wrong = api.request("DELETE", "/v1/customers")
    assert_problem(wrong, 405, "method_not_allowed")
    assert wrong.header("Allow") == "GET, POST"


def test_limit_out_of_range_is_422(api: ApiClient) -> None:
    for limit in ("0", "101", "ten"):
        response = api.get("/v1/customers", query={"limit": limit})
        assert_problem(response, 422, "validation_failed")
        assert response.json()["errors"][0]["parameter"] == "limit"


def test_unexpected_exception_is_500_without_internals(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = container().customers

    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internal detail: table billow-test pk=T#...")

    monkeypatch.setattr(service, "get", explode)
    response = api.get("/v1/customers/01900000-0000-7000-8000-000000000000")
    assert_problem(response, 500, "internal_error")
    assert "secret internal detail" not in response.body
    assert response.header("Request-Id")


# --- observability ----------------------------------------------------------------------


def test_each_request_logs_one_json_line_with_its_request_id(api: ApiClient) -> None:
    import io

    from billow.api.edge import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    level = logger.log_level
    logger.setLevel("INFO")
    previous = handler.setStream(buffer)
    try:
        response = api.post("/v1/customers", {"name": "Logged"})
    finally:
        handler.setStream(previous)
        logger.setLevel(level)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    requests = [line for line in lines if line.get("message") == "request"]
    assert len(requests) == 1
    entry = requests[0]
    assert entry["request_id"] == response.header("Request-Id")
    assert entry["status"] == 201
    assert entry["path"] == "/v1/customers"
    assert entry["tenant_id"]
    assert entry["livemode"] is False
    assert api.api_key not in buffer.getvalue()


def test_a_named_stage_prefix_is_not_part_of_the_route(api: ApiClient) -> None:
    from tests.support.api_client import FakeContext, http_event

    event = http_event("GET", "/dev/v1/customers", headers={"authorization": f"Bearer {api.api_key}"})
    event["requestContext"]["stage"] = "dev"
    response = api.handler(event, FakeContext())
    assert response["statusCode"] == 200, response["body"]
