"""HTTP against the running local stack, as a newcomer and as a script would use it."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from tests.e2e.conftest import DEV_KEY, Http, HttpResponse, RunningStack, start_stack


def create(http: Http, body: dict[str, object], key: str | None = None) -> HttpResponse:
    return http.request("POST", "/v1/customers", body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def test_it_started_quickly_and_printed_how_to_use_it(stack: RunningStack) -> None:
    banner = "".join(stack.output)
    assert f"{stack.base}/v1" in banner
    assert DEV_KEY in banner
    # How fast it starts is a benchmark (make bench: local_stack_start), not an assertion.


def test_customer_lifecycle_over_http(http: Http) -> None:
    created = create(
        http,
        {"name": "Acme GmbH", "currency": "EUR", "tax_ids": [{"type": "eu_vat", "value": "DE136695976"}]},
    )
    assert created.status == 201, created.body
    customer = created.data
    fetched = http.request("GET", f"/v1/customers/{customer['id']}")
    assert fetched.status == 200
    assert fetched.headers.get("etag") == '"1"'
    patched = http.request(
        "PATCH", f"/v1/customers/{customer['id']}", {"email": "ap@acme.test"}, headers={"If-Match": '"1"'}
    )
    assert patched.data["version"] == 2
    listed = http.request("GET", "/v1/customers?limit=100")
    assert customer["id"] in [c["id"] for c in listed.data]


def test_swagger_ui_and_openapi_document_are_served(http: Http) -> None:
    ui = http.request("GET", "/swagger")
    assert ui.status == 200
    assert b"swagger" in ui.body.lower()
    document = http.request("GET", "/swagger?format=json").json()
    assert document["openapi"].startswith("3.1")
    assert "/v1/customers" in document["paths"]


def test_problems_over_http(http: Http, stack: RunningStack) -> None:
    malformed = http.request("POST", "/v1/customers", raw=b"{nope", headers={"Idempotency-Key": "m"})
    assert malformed.status == 400
    assert malformed.headers.get("content-type") == "application/problem+json"
    assert malformed.code == "malformed_json"
    assert stack.client(key=None).request("GET", "/v1/customers").code == "unauthenticated"
    assert http.request("GET", "/v1/nothing-here").code == "route_not_found"
    first, second = (http.request("GET", "/v1/customers").headers.get("request-id") for _ in range(2))
    assert first
    assert second
    assert first != second


def test_a_second_tenant_made_with_the_cli_is_sealed_off(http: Http, stack: RunningStack) -> None:
    mine = create(http, {"name": "Tenant A's customer", "external_id": "shared-ext"}).data
    tenant = stack.cli("tenants", "create", "--name", "Tenant B")
    key = stack.cli("api-keys", "create", "--tenant", tenant["id"])["secret"]
    other = stack.client(key=key)
    assert other.request("GET", f"/v1/customers/{mine['id']}").status == 404
    assert other.request("PATCH", f"/v1/customers/{mine['id']}", {"name": "x"}).status == 404
    assert other.request("GET", "/v1/customers/by-external-id/shared-ext").status == 404
    assert other.request("GET", "/v1/customers").data == []
    theirs = create(other, {"name": "Tenant B's customer"}).data
    assert http.request("GET", f"/v1/customers/{theirs['id']}").status == 404


def test_concurrent_duplicates_and_patches_over_http(http: Http) -> None:
    barrier = threading.Barrier(6)

    def duplicate(_: int) -> HttpResponse:
        barrier.wait()
        return create(http, {"name": "Exactly once"}, key="e2e-duplicate-key")

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(duplicate, range(6)))
    assert {r.status for r in responses} <= {201, 409}
    ids = {r.data["id"] for r in responses if r.status == 201}
    assert len(ids) == 1
    everyone = http.request("GET", "/v1/customers?limit=100").data
    assert [c["name"] for c in everyone].count("Exactly once") == 1

    customer_id = ids.pop()
    patch_barrier = threading.Barrier(5)

    def patch(i: int) -> HttpResponse:
        patch_barrier.wait()
        return http.request("PATCH", f"/v1/customers/{customer_id}", {"metadata": {f"k{i}": "v"}})

    with ThreadPoolExecutor(5) as pool:
        assert all(r.status == 200 for r in pool.map(patch, range(5)))
    final = http.request("GET", f"/v1/customers/{customer_id}").data
    assert final["metadata"] == {f"k{i}": "v" for i in range(5)}


def test_the_ticker_relays_committed_events_to_the_bus(http: Http, stack: RunningStack) -> None:
    customer = create(http, {"name": "Evented"}).data
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.env_endpoint(),
        region_name="eu-central-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    table = stack.table_name()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        items = dynamodb.scan(TableName=table)["Items"]
        events = [
            i
            for i in items
            if (i.get("kind", {}).get("S") == "event" and customer["id"] in i["pk"]["S"])
            or (
                i.get("kind", {}).get("S") == "event"
                and i["envelope"]["M"]["aggregate"]["M"]["id"]["S"] == customer["id"]
            )
        ]
        if events and all("published_at" in e for e in events):
            return
        time.sleep(0.5)
    raise AssertionError("the outbox was not relayed within 15 s")


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    own = start_stack(tmp_path)
    assert own.client().request("GET", "/v1/customers").status == 200
    assert own.stop() == 0
    assert any("Billow stopped" in line for line in own.output)
    assert not (tmp_path / "local.json").exists()
