"""Shared by the subscription integration tests: one moto backend per test module (tables
emptied before each test), a lazily built catalog, test-clock helpers, and the outbox reader.
The fixtures that use them are in tests/integration/subscriptions/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from billow.api.auth import key_cache
from billow.api.container import container
from tests.support.api_client import ApiClient
from tests.support.aws import IDEMPOTENCY_TABLE, TABLE, create_tables, local_aws
from tests.support.functions import gateway


@contextmanager
def module_backend() -> Iterator[Any]:
    """One moto and one loaded API handler for a whole test module. Starting moto and loading
    the handler cost more than most of these tests; fresh_tables() still gives every test
    empty tables of its own."""
    with pytest.MonkeyPatch.context() as patch, local_aws(patch):
        yield gateway()


def fresh_tables() -> None:
    """Empty tables for the next test (moto copies a whole table on every transaction, so a
    table shared by all tests would slow each of them down)."""
    client = boto3.client("dynamodb")
    for table in (TABLE, IDEMPOTENCY_TABLE):
        client.delete_table(TableName=table)
    create_tables()
    key_cache.clear()


PRODUCTS: dict[str, dict[str, str]] = {
    "base": {"name": "Platform", "type": "recurring"},
    "seats": {"name": "Seats", "type": "seat"},
    "extra": {"name": "Support", "type": "recurring"},
}
# name -> (product, currency, price terms)
PRICES: dict[str, tuple[str, str, dict[str, str]]] = {
    "fee10": ("base", "EUR", {"model": "flat", "amount": "10.00"}),
    "fee20": ("base", "EUR", {"model": "flat", "amount": "20.00"}),
    "fee30": ("base", "EUR", {"model": "flat", "amount": "30.00"}),
    "fee50": ("base", "EUR", {"model": "flat", "amount": "50.00"}),
    "fee_usd": ("base", "USD", {"model": "flat", "amount": "12.00"}),
    "seat": ("seats", "EUR", {"model": "per_unit", "unit_amount": "10.00"}),
    "support": ("extra", "EUR", {"model": "flat", "amount": "31.00"}),
    "setup": ("extra", "EUR", {"model": "flat", "amount": "99.00"}),
}


class Catalog:
    """Products and prices (all EUR but fee_usd), each created on first use: a test pays only
    for the few it needs."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.made: dict[str, dict[str, Any]] = {}

    def __getitem__(self, name: str) -> dict[str, Any]:
        if name not in self.made:
            if name in PRODUCTS:
                response = self.api.post("/v1/products", PRODUCTS[name])
            else:
                product, currency, terms = PRICES[name]
                body = {"product_id": self[product]["id"], "currency": currency, **terms}
                response = self.api.post("/v1/prices", body)
            assert response.status == 201, response.body
            self.made[name] = dict(response.data)
        return self.made[name]


def new_clock(api: ApiClient, frozen_time: str) -> str:
    response = api.post("/v1/test-clocks", {"frozen_time": frozen_time})
    assert response.status == 201, response.body
    return str(response.data["id"])


def new_customer(api: ApiClient, **extra: Any) -> str:
    response = api.post("/v1/customers", {"name": "Acme", **extra})
    assert response.status == 201, response.body
    return str(response.data["id"])


def advance(api: ApiClient, clock_id: str, to: str) -> dict[str, Any]:
    # Idempotency-Key is optional on actions; leaving it out saves two writes per call.
    response = api.post(f"/v1/test-clocks/{clock_id}/advance", {"to": to}, idempotency_key=None)
    assert response.status == 200, response.body
    assert response.data["status"] == "ready"
    assert response.data["frozen_time"] == to
    return dict(response.data)


def subscribe(
    api: ApiClient, clock_id: str, price: dict[str, Any], *, customer_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A subscription to one price (quantity 1 unless ``items`` is given) in the clock's time."""
    body: dict[str, Any] = {
        "customer_id": customer_id or new_customer(api),
        "items": [{"price_id": price["id"]}],
        "test_clock_id": clock_id,
        **extra,
    }
    response = api.post("/v1/subscriptions", body)
    assert response.status == 201, response.body
    return dict(response.data)


def get_sub(api: ApiClient, subscription_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/subscriptions/{subscription_id}")
    assert response.status == 200, response.body
    return dict(response.data)


def invoices_of(api: ApiClient, subscription_id: str) -> list[dict[str, Any]]:
    """The subscription's invoices, oldest first (ids are UUIDv7)."""
    response = api.get("/v1/invoices", query={"subscription_id": subscription_id, "limit": "100"})
    assert response.status == 200, response.body
    assert response.json()["pagination"]["has_more"] is False
    return sorted(response.data, key=lambda i: i["id"])


def amounts(lines: list[dict[str, Any]]) -> list[str]:
    return [line["amount"]["amount"] for line in lines]


def periods(invoices: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["period_start"], i["period_end"]) for i in invoices]


def tenant_client(handler: Any, name: str, timezone: str, *, livemode: bool = False) -> ApiClient:
    """A key of a new tenant whose billing periods follow ``timezone``."""
    tenancy = container().tenancy
    tenant = tenancy.create_tenant(name, timezone)
    issued = tenancy.issue_api_key(tenant.id, livemode=livemode)
    return ApiClient(handler, issued.secret)


def events_of(aggregate_id: str) -> list[dict[str, Any]]:
    """The stored event envelopes (the outbox) of one aggregate, in sequence order."""
    deserializer = TypeDeserializer()
    found: list[dict[str, Any]] = []
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=TABLE,
            FilterExpression="#kind = :event AND #envelope.#aggregate.#id = :id",
            ExpressionAttributeNames={
                "#kind": "kind",
                "#envelope": "envelope",
                "#aggregate": "aggregate",
                "#id": "id",
            },
            ExpressionAttributeValues={":event": {"S": "event"}, ":id": {"S": aggregate_id}},
        )
    )
    for page in pages:
        found.extend(deserializer.deserialize(item["envelope"]) for item in page["Items"])
    return sorted(found, key=lambda e: int(e["aggregate"]["sequence"]))
