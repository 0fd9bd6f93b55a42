"""Warm in-process latency of the real API handler on moto: p50/p99 per route, in ms.

The handler runs in this process on in-process moto (``tests.support.aws.local_aws``), with a
sandbox tenant and its key, after a warm-up. Times are wall-clock per handler call and include
moto, which is not DynamoDB: its TransactWriteItems deep-copies the whole table once per item
in the transaction, so write routes slow down as the table grows. ``own_time`` therefore also
reports each request's time outside DynamoDB calls (routing, validation, auth cache, domain
code, serialisation: what Billow and Powertools themselves cost), which is the figure that
carries over to Lambda.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.performance.registry import figure, main
from tests.performance.support import BillowOnMoto, billow_on_moto, percentile
from tests.support.api_client import ApiResponse

WARMUP = 10
LIST_POPULATION = 200  # customers present while GET /v1/customers?limit=20 is timed
MIN_SAMPLES = 50  # a route stops at its time budget only once it has this many samples
SEED = 20260101


@dataclass(frozen=True)
class Plan:
    route: str
    iterations: int
    budget_s: float
    expected_status: int


PLANS = {
    "post": Plan("POST /v1/customers", 200, 20.0, 201),
    "get": Plan("GET /v1/customers/{id}", 300, 8.0, 200),
    "list": Plan("GET /v1/customers?limit=20", 200, 12.0, 200),
    "patch": Plan("PATCH /v1/customers/{id}", 200, 20.0, 200),
}


@dataclass
class Samples:
    total_ms: list[float] = field(default_factory=list)
    dynamodb_ms: list[float] = field(default_factory=list)
    dynamodb_calls: list[int] = field(default_factory=list)
    stopped_by_budget: bool = False
    elapsed_s: float = 0.0

    @property
    def own_ms(self) -> list[float]:
        return [total - dynamo for total, dynamo in zip(self.total_ms, self.dynamodb_ms, strict=True)]


def _new_customer(i: int) -> dict[str, Any]:
    return {
        "name": f"Customer {i}",
        "email": f"customer{i}@example.test",
        "currency": "EUR",
        "metadata": {"source": "benchmark"},
    }


def _time(env: BillowOnMoto, plan: Plan, request: Callable[[int], ApiResponse]) -> Samples:
    samples = Samples()
    started = time.perf_counter()
    for i in range(plan.iterations):
        if i >= MIN_SAMPLES and time.perf_counter() - started > plan.budget_s:
            samples.stopped_by_budget = True
            break
        mark = env.tracker.mark()
        gc.disable()
        before = time.perf_counter()
        response = request(i)
        elapsed_ms = (time.perf_counter() - before) * 1000
        gc.enable()  # a collection that fell due during the call now runs here, untimed
        if response.status != plan.expected_status:
            raise RuntimeError(
                f"{plan.route}: expected {plan.expected_status}, got {response.status}: {response.body}"
            )
        calls = env.tracker.since(mark)
        samples.total_ms.append(elapsed_ms)
        samples.dynamodb_ms.append(sum(call.ms for call in calls))
        samples.dynamodb_calls.append(len(calls))
    samples.elapsed_s = time.perf_counter() - started
    return samples


def _report(plan: Plan, samples: Samples) -> dict[str, Any]:
    total, own = samples.total_ms, samples.own_ms
    return {
        "p50_ms": figure(percentile(total, 50), "ms"),
        "p99_ms": figure(percentile(total, 99), "ms"),
        "mean_ms": round(statistics.fmean(total), 2),
        "max_ms": round(max(total), 2),
        "own_time": {
            "p50_ms": figure(percentile(own, 50), "ms"),
            "p99_ms": figure(percentile(own, 99), "ms"),
            "meaning": "handler time minus time inside DynamoDB client calls (botocore + moto)",
        },
        "dynamodb_time_p50_ms": round(percentile(samples.dynamodb_ms, 50), 2),
        "dynamodb_calls_per_request": round(statistics.fmean(samples.dynamodb_calls), 2),
        "samples": len(total),
        "planned": plan.iterations,
        "stopped_by_time_budget": samples.stopped_by_budget,
        "elapsed_s": round(samples.elapsed_s, 1),
    }


def run() -> dict[str, Any]:
    rng = random.Random(SEED)
    with billow_on_moto() as env:
        api = env.api
        ids: list[str] = []

        def create(i: int) -> ApiResponse:
            response = api.post("/v1/customers", _new_customer(i))
            if response.status == 201:
                ids.append(response.data["id"])
            return response

        # Warm-up: every route once per iteration, so each code path and cache is hot.
        for i in range(WARMUP):
            create(-1 - i)
            api.get(f"/v1/customers/{ids[-1]}")
            api.get("/v1/customers", query={"limit": "20"})
            api.patch(f"/v1/customers/{ids[-1]}", {"name": f"Warm {i}"})
        gc.collect()

        results: dict[str, Samples] = {}
        results["post"] = _time(env, PLANS["post"], lambda i: create(i))
        while len(ids) < LIST_POPULATION:  # the POST phase stopped early: fill up untimed
            create(len(ids))
        gc.collect()
        results["get"] = _time(env, PLANS["get"], lambda i: api.get(f"/v1/customers/{rng.choice(ids)}"))
        results["list"] = _time(env, PLANS["list"], lambda i: api.get("/v1/customers", query={"limit": "20"}))
        results["patch"] = _time(
            env,
            PLANS["patch"],
            lambda i: api.patch(
                f"/v1/customers/{rng.choice(ids)}", {"name": f"Renamed {i}", "metadata": {"n": str(i)}}
            ),
        )
        return {
            "description": __doc__.strip().splitlines()[0] if __doc__ else "",
            "routes": {PLANS[key].route: _report(PLANS[key], samples) for key, samples in results.items()},
            "customers_present": len(ids),
            "warmup_requests_per_route": WARMUP,
            "garbage_collection": (
                "paused during each timed call and run right after it, untimed: full collections "
                "walk moto's in-memory tables and would otherwise put 0.1-2 s pauses into p99"
            ),
            "note": (
                "moto, not DynamoDB: absolute times of write routes grow with the table size "
                "(TransactWriteItems deep-copies the table per item); compare own_time across runs"
            ),
        }


if __name__ == "__main__":
    main(run)
