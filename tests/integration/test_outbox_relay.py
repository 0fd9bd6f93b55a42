"""The outbox relay moves committed events to the EventBridge bus, at least once, in both paths."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.support.api_client import ApiClient, FakeContext
from tests.support.aws import TABLE
from tests.support.functions import load_function


@pytest.fixture
def bus_queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The bus with a catch-all rule into an SQS queue, so tests can read what was published."""
    monkeypatch.setenv("BILLOW_OUTBOX_SWEEP_MIN_AGE_SECONDS", "0")
    from billow.settings import reset_settings

    reset_settings()
    events = boto3.client("events")
    events.create_event_bus(Name="billow-test")
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="tap", EventBusName="billow-test", EventPattern=json.dumps({"source": ["billow"]}))
    events.put_targets(Rule="tap", EventBusName="billow-test", Targets=[{"Id": "q", "Arn": arn}])
    return queue_url


def received(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def pending_outbox() -> int:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return sum(1 for item in items if item.get("kind", {}).get("S") == "event" and "gsi2pk" in item)


def test_sweep_publishes_each_event_once_in_envelope_form(api: ApiClient, bus_queue: str) -> None:
    relay = load_function("outbox_relay").lambda_handler
    customer = api.post("/v1/customers", {"name": "Acme"}).data
    api.patch(f"/v1/customers/{customer['id']}", {"name": "Acme AG"})
    assert pending_outbox() == 2

    result = relay({"source": "aws.events", "detail-type": "Scheduled Event"}, FakeContext())
    assert result == {"published": 2, "failed": []}
    assert pending_outbox() == 0
    envelopes = sorted((m["detail"] for m in received(bus_queue)), key=lambda e: e["aggregate"]["sequence"])
    assert [e["type"] for e in envelopes] == ["customer.created", "customer.updated"]
    assert [e["aggregate"] for e in envelopes] == [
        {"type": "customer", "id": customer["id"], "sequence": 1},
        {"type": "customer", "id": customer["id"], "sequence": 2},
    ]
    assert envelopes[1]["data"]["object"]["name"] == "Acme AG"
    assert envelopes[0]["livemode"] is False
    # A second sweep finds nothing left to publish.
    assert relay({}, FakeContext()) == {"published": 0, "failed": []}
    assert received(bus_queue) == []


def test_stream_records_publish_and_mark(api: ApiClient, bus_queue: str) -> None:
    relay = load_function("outbox_relay").lambda_handler
    api.post("/v1/customers", {"name": "Streamed"})
    client = boto3.client("dynamodb")
    items = [i for i in client.scan(TableName=TABLE)["Items"] if i.get("kind", {}).get("S") == "event"]
    records = [
        {"eventName": "INSERT", "dynamodb": {"NewImage": item, "SequenceNumber": str(n)}}
        for n, item in enumerate(items)
    ]
    records.append({"eventName": "MODIFY", "dynamodb": {"NewImage": items[0], "SequenceNumber": "99"}})
    assert relay({"Records": records}, FakeContext()) == {"batchItemFailures": []}
    assert pending_outbox() == 0
    assert [m["detail"]["type"] for m in received(bus_queue)] == ["customer.created"]
    # The sweep does not publish it again.
    assert relay({}, FakeContext())["published"] == 0
