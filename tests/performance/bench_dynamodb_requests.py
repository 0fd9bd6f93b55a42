"""DynamoDB requests per API route, counted on the shared botocore client (moto in-process).

Every call through ``billow.adapters.aws.dynamodb_client()`` is counted by operation and table
with botocore event hooks; the idempotency layer uses the same client (checked below), so its
reads and writes are counted too. Each route is called a few times and must cost the same every
time (``stable``). Target: once the API key is cached, GET /v1/customers/{id} costs exactly one
DynamoDB read and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from billow.adapters.aws import dynamodb_client
from billow.api import idempotency
from billow.api.auth import key_cache
from tests.performance.registry import Target, figure, main
from tests.performance.support import (
    READ_OPERATIONS,
    WRITE_OPERATIONS,
    BillowOnMoto,
    DynamoCall,
    billow_on_moto,
    count_by_operation,
)
from tests.support.api_client import ApiResponse

SAMPLES = 5
CUSTOMERS = 60  # three pages of limit=20, so the list also returns a cursor
REPORTED_OPERATIONS = ("GetItem", "PutItem", "TransactWriteItems", "Query", "UpdateItem", "DeleteItem")


def _customer_body(i: int) -> dict[str, Any]:
    return {"name": f"Customer {i}", "email": f"customer{i}@example.test", "currency": "EUR"}


def _profile(calls: list[DynamoCall]) -> dict[str, Any]:
    by_operation = count_by_operation(calls)
    return {
        "by_operation": {op: by_operation.get(op, 0) for op in REPORTED_OPERATIONS}
        | {op: n for op, n in by_operation.items() if op not in REPORTED_OPERATIONS},
        "reads": sum(1 for call in calls if call.operation in READ_OPERATIONS),
        "writes": sum(1 for call in calls if call.operation in WRITE_OPERATIONS),
        "sequence": [f"{call.operation} {','.join(call.tables)}" for call in calls],
    }


def _measure(
    env: BillowOnMoto,
    request: Callable[[int], ApiResponse],
    expected_status: int,
    samples: int = SAMPLES,
    target: Target | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Call the route ``samples`` times; report the last call and whether all cost the same."""
    profiles: list[dict[str, Any]] = []
    for i in range(samples):
        mark = env.tracker.mark()
        response = request(i)
        if response.status != expected_status:
            raise RuntimeError(f"expected {expected_status}, got {response.status}: {response.body}")
        profiles.append(_profile(env.tracker.since(mark)))
    last = profiles[-1]
    stable = all(p["sequence"] == last["sequence"] for p in profiles)
    result: dict[str, Any] = {
        "requests": figure(len(last["sequence"]), "DynamoDB requests per API call", target),
        **last,
        "samples": samples,
        "stable": stable,
    }
    if note:
        result["note"] = note
    return result


def run() -> dict[str, Any]:
    with billow_on_moto() as env:
        api = env.api
        created = [api.post("/v1/customers", _customer_body(i)) for i in range(CUSTOMERS)]
        if any(r.status != 201 for r in created):
            raise RuntimeError(f"seeding failed: {[r.body for r in created if r.status != 201][:1]}")
        ids = [r.data["id"] for r in created]
        shared_client = idempotency._persistence().client is dynamodb_client()

        routes: dict[str, Any] = {}
        key_cache.clear()
        routes["GET /v1/customers/{id} (cold API-key cache)"] = _measure(
            env,
            lambda i: api.get(f"/v1/customers/{ids[0]}"),
            200,
            samples=1,
            note="first request after the key cache was cleared: API-key lookup + the customer",
        )
        routes["GET /v1/customers/{id} (warm API-key cache)"] = _measure(
            env,
            lambda i: api.get(f"/v1/customers/{ids[i % len(ids)]}"),
            200,
            target=Target("==", 1),
        )
        routes["POST /v1/customers (Idempotency-Key)"] = _measure(
            env, lambda i: api.post("/v1/customers", _customer_body(1000 + i)), 201
        )
        replay_key = str(uuid.uuid4())
        api.post("/v1/customers", _customer_body(2000), idempotency_key=replay_key)
        routes["POST /v1/customers (replayed Idempotency-Key)"] = _measure(
            env,
            lambda i: api.post("/v1/customers", _customer_body(2000), idempotency_key=replay_key),
            201,
        )
        routes["GET /v1/customers?limit=20"] = _measure(
            env, lambda i: api.get("/v1/customers", query={"limit": "20"}), 200
        )
        routes["GET /v1/customers?email=... (selective filter)"] = _measure(
            env,
            lambda i: api.get("/v1/customers", query={"email": "customer7@example.test"}),
            200,
            note=(
                f"{CUSTOMERS + 2 * SAMPLES + 1} customers, one matches: DynamoDB applies Limit before "
                "the FilterExpression, so the route pages through the whole tenant partition"
            ),
        )
        cursor = api.get("/v1/customers", query={"limit": "20"}).json()["pagination"]["next_cursor"]
        routes["GET /v1/customers?limit=20&cursor=... (next page)"] = _measure(
            env, lambda i: api.get("/v1/customers", query={"limit": "20", "cursor": cursor}), 200
        )
        routes["PATCH /v1/customers/{id}"] = _measure(
            env,
            lambda i: api.patch(
                f"/v1/customers/{ids[i]}", {"name": f"Renamed {i}", "metadata": {"n": str(i)}}
            ),
            200,
        )
        warm_get = routes["GET /v1/customers/{id} (warm API-key cache)"]
        one_read = warm_get["reads"] == 1 and warm_get["writes"] == 0 and len(warm_get["sequence"]) == 1
        return {
            "description": __doc__.strip().splitlines()[0] if __doc__ else "",
            "get_one_is_one_read_once_key_cached": figure(
                1 if one_read else 0,
                "1 = yes, 0 = no",
                Target("==", 1),
                meaning="1 = a warm GET /v1/customers/{id} made exactly one DynamoDB read and no write",
            ),
            "routes": routes,
            "checks": {
                "idempotency_layer_uses_shared_client": shared_client,
                "http_attempts_equal_api_calls": env.tracker.attempts == len(env.tracker.calls),
            },
        }


if __name__ == "__main__":
    main(run)
