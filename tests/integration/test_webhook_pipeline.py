"""Webhooks through the whole local pipeline, provisioned from template.yaml: outbox → stream →
relay → EventBridge bus → rule → SQS → fan-out function → SQS FIFO → dispatcher → a local
receiver, which verifies every delivery with the standardwebhooks library from PyPI."""

from __future__ import annotations

import os
import time
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
    # The relay's one-minute sweep (the safety net behind the stream trigger) is run by
    # ``arrive``; here it takes events a second old instead of thirty.
    previous_age = os.environ.get("BILLOW_OUTBOX_SWEEP_MIN_AGE_SECONDS")
    os.environ["BILLOW_OUTBOX_SWEEP_MIN_AGE_SECONDS"] = "1"
    try:
        with LocalAws(port=0, stack_name=f"hooks-{uuid.uuid4().hex[:8]}", ticker=False) as aws:
            reset_process_state()
            yield aws
    finally:
        for name, value in (
            ("BILLOW_WEBHOOK_BACKOFF_SCALE", previous),
            ("BILLOW_OUTBOX_SWEEP_MIN_AGE_SECONDS", previous_age),
        ):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_process_state()


@pytest.fixture
def api(stack: LocalAws) -> ApiClient:
    tenancy = container().tenancy
    tenant = tenancy.create_tenant(f"Hooks {uuid.uuid4().hex[:6]}")
    return ApiClient(gateway(), tenancy.issue_api_key(tenant.id, livemode=False).secret)


def arrive(stack: LocalAws, receiver: WebhookReceiver, count: int, timeout: float) -> None:
    """Wait for ``count`` requests, running the outbox relay's sweep every few seconds as its
    schedule does in AWS (the local stack's ticker is off here): an event whose stream
    delivery failed is still published, as in production."""
    relay = stack.stack.function("OutboxRelayFunction").function_name
    deadline = time.monotonic() + timeout
    while True:
        try:
            receiver.wait_for(count, timeout=min(5.0, max(0.1, deadline - time.monotonic())))
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            stack.invoke(relay, {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})


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
        arrive(stack, receiver, 10, 120)
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
        arrive(stack, receiver, 2, 120)
        verified = receiver.verified(secret)
    assert [e["type"] for e in verified] == ["customer.updated", "customer.updated"]
    assert [e["aggregate"]["sequence"] for e in verified] == [2, 3]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_endpoint_never_holds_up_the_live_ones(stack: LocalAws, api: ApiClient) -> None:
    """1,000 events to three endpoints, one of them refusing every connection: the two live
    ones get every event, in order per aggregate, while the dead one's deliveries retry."""
    customers, updates = 10, 99
    # The dead endpoint's retries wait as in AWS (5 s, 30 s, ...), not at once: what is
    # measured is that the live endpoints do not wait for it.
    dispatcher = container().webhook_dispatcher
    dispatcher.backoff_scale = 1.0
    with WebhookReceiver() as first, WebhookReceiver() as second:
        _, first_secret = register(api, first.url, ["customer.*"])
        dead, _ = register(api, f"http://127.0.0.1:{free_port()}/gone", ["customer.*"])
        _, second_secret = register(api, second.url, ["customer.*"])
        # Checked as they arrive, as a real receiver does (the run takes minutes).
        first.secret, second.secret = first_secret, second_secret
        made = [customer_with_updates(api, updates) for _ in range(customers)]
        total = customers * (updates + 1)
        arrive(stack, first, total, 600)
        arrive(stack, second, total, 300)
        for receiver, secret in ((first, first_secret), (second, second_secret)):
            events = receiver.verified(secret)
            assert len({e["id"] for e in events}) == total
            sequences = by_aggregate(events)
            assert sorted(sequences) == sorted(made)
            assert all(seq == list(range(1, updates + 2)) for seq in sequences.values())
    log = api.get(f"/v1/webhook-endpoints/{dead}/deliveries", query={"limit": "100"}).data
    assert log
    assert {d["status"] for d in log} == {"pending"}
    assert all(a["error"] == "connection_refused" for d in log for a in d["attempts"])
    endpoint = api.get(f"/v1/webhook-endpoints/{dead}").data
    assert endpoint["failing_since"] is not None
    assert endpoint["status"] == "enabled"
    # Its deliveries would otherwise keep retrying behind the module's later tests.
    assert api.patch(f"/v1/webhook-endpoints/{dead}", {"status": "disabled"}).status == 200
    dispatcher.backoff_scale = 0.0


def test_during_a_rotation_both_secrets_sign(stack: LocalAws, api: ApiClient) -> None:
    with WebhookReceiver() as receiver:
        endpoint, old = register(api, receiver.url, ["customer.created"])
        rotated = api.post(
            f"/v1/webhook-endpoints/{endpoint}/rotate-secret", {"expire_previous_in_seconds": 3600}
        )
        assert rotated.status == 200, rotated.body
        new = str(rotated.data["secret"])
        customer_with_updates(api, 0)
        arrive(stack, receiver, 1, 120)
        # Receivers holding either secret accept the delivery: two v1 signatures.
        assert receiver.verified(old) == receiver.verified(new)
        assert len(str(receiver.requests[0].header("webhook-signature")).split(" ")) == 2


def test_three_days_of_failures_end_the_delivery_and_disable_the_endpoint(
    stack: LocalAws, api: ApiClient
) -> None:
    from datetime import UTC, datetime, timedelta

    from billow.domain.tenancy import Scope

    dispatcher = container().webhook_dispatcher
    dispatcher.backoff_scale = 1.0
    try:
        endpoint, _ = register(api, f"http://127.0.0.1:{free_port()}/gone", ["customer.created"])
        customer_with_updates(api, 0)
        deadline = time.monotonic() + 120
        log: list[dict[str, Any]] = []
        # The attempt is recorded on the delivery first, then the failure on the endpoint.
        failing_since = None
        while not log or not log[0]["attempts"] or failing_since is None:
            assert time.monotonic() < deadline, log
            time.sleep(0.2)
            log = api.get(f"/v1/webhook-endpoints/{endpoint}/deliveries").data
            failing_since = api.get(f"/v1/webhook-endpoints/{endpoint}").data["failing_since"]
        # Three days and a second later, the next attempt is the last.
        later = datetime.now(UTC) + timedelta(days=3, seconds=1)
        original_clock = dispatcher.clock
        dispatcher.clock = type("Later", (), {"now": staticmethod(lambda: later)})()
        try:
            assert api.api_key is not None
            scope: Scope = container().tenancy.authenticate(api.api_key).scope
            outcome = dispatcher.dispatch(scope, log[0]["id"])
        finally:
            dispatcher.clock = original_clock
        assert outcome.outcome == "failed"
        delivery = api.get(f"/v1/webhook-deliveries/{log[0]['id']}").data
        assert (delivery["status"], delivery["outcome_reason"]) == ("failed", "retries_exhausted")
        disabled = api.get(f"/v1/webhook-endpoints/{endpoint}").data
        assert (disabled["status"], disabled["disabled_reason"]) == ("disabled", "failing")
        events = api.get("/v1/events", query={"type": "webhook_endpoint.disabled"}).data
        assert [e["data"]["object"]["id"] for e in events] == [endpoint]
        # Sent again by hand: a new window, the same event.
        retried = api.post(f"/v1/webhook-deliveries/{log[0]['id']}/retry")
        assert (retried.status, retried.data["status"]) == (200, "pending")
    finally:
        dispatcher.backoff_scale = 0.0


def test_an_event_of_the_log_can_be_sent_again(stack: LocalAws, api: ApiClient) -> None:
    with WebhookReceiver() as receiver:
        _, secret = register(api, receiver.url, ["customer.created"])
        customer = customer_with_updates(api, 0)
        arrive(stack, receiver, 1, 120)
        [event] = api.get("/v1/events", query={"aggregate_id": customer, "type": "customer.created"}).data
        assert api.get(f"/v1/events/{event['id']}").data == event
        resent = api.post(f"/v1/events/{event['id']}/resend", None)
        assert resent.status == 200, resent.body
        assert [d["event_id"] for d in resent.data] == [event["id"]]
        arrive(stack, receiver, 2, 120)
        assert [r.header("webhook-id") for r in receiver.requests] == [event["id"], event["id"]]
        assert [e["id"] for e in receiver.verified(secret)] == [event["id"], event["id"]]
    assert api.post(f"/v1/events/{'0' * 36}/resend", None).status == 404
    assert api.get(f"/v1/events/{'0' * 36}").status == 404
