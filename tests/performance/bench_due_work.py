"""Due work: renewals per second through run_due_work on moto, and DynamoDB requests per renewal.

A test clock holds SUBSCRIPTIONS monthly subscriptions; advancing it one month makes each renew
once, through the same run_due_work path the scheduler uses. The throughput is moto-bound (an
in-process emulator whose transactions copy the whole table, so it falls as the table grows) and
is a trend figure, not a promise; the request count per renewal is exact and is what a
deployment pays for.
"""

from __future__ import annotations

import time
from typing import Any

from tests.performance.registry import Target, figure, main
from tests.performance.support import WRITE_OPERATIONS, billow_on_moto, count_by_operation

SUBSCRIPTIONS = 20


def run() -> dict[str, Any]:
    with billow_on_moto() as env:
        api = env.api
        product = api.post("/v1/products", {"name": "Platform", "type": "recurring"}).data
        price = api.post(
            "/v1/prices", {"product_id": product["id"], "currency": "EUR", "model": "flat", "amount": "10.00"}
        ).data
        clock = api.post("/v1/test-clocks", {"frozen_time": "2026-01-31T00:00:00Z"}).data
        for i in range(SUBSCRIPTIONS):
            customer = api.post("/v1/customers", {"name": f"Customer {i}"}).data
            created = api.post(
                "/v1/subscriptions",
                {
                    "customer_id": customer["id"],
                    "items": [{"price_id": price["id"]}],
                    "test_clock_id": clock["id"],
                },
            )
            if created.status != 201:
                raise RuntimeError(created.body)
        mark = env.tracker.mark()
        started = time.perf_counter()
        advanced = api.post(f"/v1/test-clocks/{clock['id']}/advance", {"to": "2026-02-28T12:00:00Z"})
        elapsed = time.perf_counter() - started
        if advanced.status != 200 or advanced.data["status"] != "ready":
            raise RuntimeError(advanced.body)
        calls = env.tracker.since(mark)
        renewals = [
            i
            for i in api.get("/v1/invoices", query={"limit": "100"}).data
            if i["billing_reason"] == "subscription_cycle"
        ]
        if len(renewals) != SUBSCRIPTIONS:
            raise RuntimeError(f"expected {SUBSCRIPTIONS} renewals, got {len(renewals)}")
        by_operation = count_by_operation(calls)
        writes = sum(1 for call in calls if call.operation in WRITE_OPERATIONS)
        return {
            "description": __doc__.strip().splitlines()[0] if __doc__ else "",
            "renewals_per_second": figure(
                SUBSCRIPTIONS / elapsed, "renewals/s (moto, one process)", meaning="advance of one month"
            ),
            "dynamodb_requests_per_renewal": figure(
                len(calls) / SUBSCRIPTIONS,
                "requests",
                Target("<=", 12),
                meaning="due query + subscription read + price/product/override reads + one transaction",
            ),
            "transactions_per_renewal": figure(
                # Two of the advance's transactions move the clock itself (advancing, advanced).
                (by_operation.get("TransactWriteItems", 0) - 2) / SUBSCRIPTIONS,
                "transactions",
                Target("==", 1),
                meaning="the subscription, its invoice and its event written all or nothing",
            ),
            "writes": writes,
            "by_operation": by_operation,
            "subscriptions": SUBSCRIPTIONS,
        }


if __name__ == "__main__":
    main(run)
