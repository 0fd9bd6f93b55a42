"""Webhooks through the whole local pipeline, provisioned from template.yaml: outbox → stream →
relay → EventBridge bus → rule → SQS → fan-out function → SQS FIFO → dispatcher → a local
receiver, which verifies every delivery with the standardwebhooks library from PyPI."""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from billow.api.container import container
from billow.local.stack import LocalAws
from tests.support.api_client import ApiClient
from tests.support.aws import reset_process_state
from tests.support.functions import gateway
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalAws]:
    # Retries come at once instead of after 5 s, 30 s, ...: the order and count are the point.
    previous = os.environ.get("BILLOW_WEBHOOK_BACKOFF_SCALE")
    os.environ["BILLOW_WEBHOOK_BACKOFF_SCALE"] = "0"
    try:
        with LocalAws(port=0, stack_name=f"hooks-{uuid.uuid4().hex[:8]}", ticker=False) as aws:
            reset_process_state()
            yield aws
    finally:
        if previous is None:
            os.environ.pop("BILLOW_WEBHOOK_BACKOFF_SCALE", None)
        else:
            os.environ["BILLOW_WEBHOOK_BACKOFF_SCALE"] = previous
        reset_process_state()


@pytest.fixture
def api(stack: LocalAws) -> ApiClient:
    tenancy = container().tenancy
    tenant = tenancy.create_tenant(f"Hooks {uuid.uuid4().hex[:6]}")
    return ApiClient(gateway(), tenancy.issue_api_key(tenant.id, livemode=False).secret)


def register(api: ApiClient, url: str, event_types: list[str] | None = None) -> tuple[str, str]:
    response = api.post("/v1/webhook-endpoints", {"url": url, "event_types": event_types or ["*"]})
    assert response.status == 201, response.body
    return str(response.data["id"]), str(response.data["secret"])


def customer_with_updates(api: ApiClient, updates: int) -> str:
    created = api.post("/v1/customers", {"name": "Hooked GmbH", "currency": "EUR"})
    assert created.status == 201, created.body
    for i in range(updates):
        response = api.patch(f"/v1/customers/{created.data['id']}", {"name": f"Hooked GmbH {i}"})
        assert response.status == 200, response.body
    return str(created.data["id"])


def by_aggregate(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    sequences: dict[str, list[int]] = defaultdict(list)
    for event in events:
        sequences[event["aggregate"]["id"]].append(event["aggregate"]["sequence"])
    return sequences


def test_a_receiver_failing_twice_still_gets_every_event_signed_and_in_order(
    stack: LocalAws, api: ApiClient
) -> None:
    with WebhookReceiver(fail_first=2) as receiver:
        endpoint, secret = register(api, receiver.url)
        first = customer_with_updates(api, 3)
        second = customer_with_updates(api, 2)
        # The endpoint's own webhook_endpoint.created, 4 + 3 customer events, and the two
        # failed attempts sent again.
        receiver.wait_for(10, timeout=30)
        verified = receiver.verified(secret)
    delivered = {e["id"]: e for e in verified}
    assert len(delivered) == 8
    assert sorted(e["type"] for e in delivered.values()).count("customer.updated") == 5
    sequences = by_aggregate([e for e in verified if e["id"] in delivered])
    # Each aggregate's events arrive in sequence order (a retried one is resent before the next).
    for aggregate in (first, second):
        seen = sequences[aggregate]
        assert seen == sorted(seen), seen
        assert sorted(set(seen)) == list(range(1, len(set(seen)) + 1))
    # A redelivery carries the event's id again.
    ids = [r.header("webhook-id") for r in receiver.requests]
    assert len(ids) == 10
    assert len(set(ids)) == 8
    log = api.get(f"/v1/webhook-endpoints/{endpoint}/deliveries", query={"limit": "100"}).data
    assert len(log) == 8
    assert {d["status"] for d in log} == {"delivered"}
    retried = [d for d in log if d["attempt_count"] > 1]
    assert retried
    assert [a["status_code"] for a in retried[-1]["attempts"]][-1] == 200
    assert any(a["status_code"] == 500 for d in retried for a in d["attempts"])


def test_only_matching_events_go_to_a_filtered_endpoint(stack: LocalAws, api: ApiClient) -> None:
    with WebhookReceiver() as receiver:
        _, secret = register(api, receiver.url, ["customer.updated"])
        customer_with_updates(api, 2)
        receiver.wait_for(2, timeout=30)
        verified = receiver.verified(secret)
    assert [e["type"] for e in verified] == ["customer.updated", "customer.updated"]
    assert [e["aggregate"]["sequence"] for e in verified] == [2, 3]
