"""The whole path on the emulator, as in AWS: Lambda invoke of the API function (through the
in-process hook), the DynamoDB transaction, the table's stream, the outbox relay function, and
the EventBridge bus with a rule into SQS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from billow.adapters.aws import reset_clients
from billow.api.container import container, use_container
from billow.api.idempotency import reset_idempotency
from billow.local.stack import LocalAws
from tests.support.functions import ROOT

DEMO_TENANT = "00000000-0000-7000-8000-000000000001"
DEMO_KEY = "bk_test_local_development_key_0001"


@pytest.fixture
def local_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    monkeypatch.setenv("BILLOW_OUTBOX_SWEEP_MIN_AGE_SECONDS", "0")  # the sweep would see anything left
    with LocalAws(port=0, stack_name=f"billow-path-{uuid.uuid4().hex[:8]}", ticker=False) as aws:
        reset_clients()
        reset_idempotency()
        use_container(None)
        yield aws
    reset_clients()
    reset_idempotency()
    use_container(None)


def invoke(aws: LocalAws, function: str, event: dict[str, Any]) -> dict[str, Any]:
    response = aws.client("lambda").invoke(
        FunctionName=aws.stack.function(function).function_name, Payload=json.dumps(event).encode()
    )
    assert "FunctionError" not in response, response["Payload"].read()
    return dict(json.loads(response["Payload"].read()))


def test_create_customer_through_lambda_reaches_the_bus(local_aws: LocalAws) -> None:
    container().tenancy.create_tenant("Demo", tenant_id=DEMO_TENANT)
    container().tenancy.issue_api_key(DEMO_TENANT, livemode=False, secret=DEMO_KEY)
    sqs = local_aws.client("sqs")
    events = local_aws.client("events")
    queue = sqs.create_queue(QueueName=f"tap-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = local_aws.stack.physical_ids["EventBus"]
    events.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": ["billow"]}))
    events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    sample = json.loads((ROOT / "events" / "api_create_customer.json").read_text())
    answer = invoke(local_aws, "ApiFunction", sample)
    assert answer["statusCode"] == 201, answer["body"]
    customer = json.loads(answer["body"])["data"]

    # The stream delivers the new event item to the relay, which publishes it.
    assert local_aws.wait_for_streams(timeout=10)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    envelopes = [json.loads(m["Body"])["detail"] for m in messages]
    assert [(e["type"], e["aggregate"]["id"], e["aggregate"]["sequence"]) for e in envelopes] == [
        ("customer.created", customer["id"], 1)
    ]
    table = local_aws.stack.physical_ids["BillowTable"]
    items = local_aws.client("dynamodb").scan(TableName=table)["Items"]
    stored = [i for i in items if i["kind"]["S"] == "event"]
    assert len(stored) == 1
    assert "published_at" in stored[0]
    assert "gsi2pk" not in stored[0]
    # Marked published, so the scheduled sweep finds nothing left.
    assert invoke(local_aws, "OutboxRelayFunction", {"detail-type": "Scheduled Event"}) == {
        "published": 0,
        "failed": [],
    }
