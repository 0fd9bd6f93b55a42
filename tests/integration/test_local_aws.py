"""The embedded local stack on a tiny fixture template (tests/integration/fixtures/local_stack).

The Lambda hook patches private moto code; these tests are what tells us a moto upgrade broke
it. They use test-only handlers, never the application's, and a free port per process so that
they can run in parallel (pytest -n 2).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from billow.local import lambda_hook
from billow.local.dynamodb_serial import serialise_moto_dynamodb
from billow.local.lambda_hook import InvocationResult, matches_pattern
from billow.local.provision import Schedule, state_machine_problems
from billow.local.stack import LocalAws
from billow.local.ticker import Cron, Rate, Ticker, parse_schedule, scheduled_event

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "local_stack" / "template.yaml"


@pytest.fixture(scope="module")
def local() -> Iterator[LocalAws]:
    # A stack name of its own: moto's state is shared by every stack in this process.
    with LocalAws(
        FIXTURE_TEMPLATE, port=0, stack_name=f"fixture-{uuid.uuid4().hex[:8]}", ticker=False
    ) as aws:
        yield aws


@pytest.fixture
def received(local: LocalAws) -> list[Any]:
    """The events the Recorder function has been given since the test started."""
    module = lambda_hook.handler_module(local.stack.function("Recorder").function_name)
    events: list[Any] = module.RECEIVED
    events.clear()
    return events


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def invoke(local: LocalAws, logical_id: str, event: Any) -> tuple[dict[str, Any], Any]:
    response = local.client("lambda").invoke(
        FunctionName=local.stack.function(logical_id).function_name, Payload=json.dumps(event).encode()
    )
    return response, json.loads(response["Payload"].read())


# ---------------------------------------------------------------- the hook


def test_direct_invoke_runs_the_real_handler_in_process(local: LocalAws) -> None:
    response, payload = invoke(local, "Echo", {"hello": "world"})

    assert "FunctionError" not in response
    assert payload["echo"] == {"hello": "world"}
    assert payload["function"] == local.stack.function("Echo").function_name
    # Both handlers are files called app.py: each is imported under a name of its own.
    _, other = invoke(local, "Other", {})
    assert other["other"] is True
    assert payload["module"] != other["module"]
    assert payload["module"].startswith("_billow_lambda_")


def test_handler_exception_surfaces_as_function_error(local: LocalAws) -> None:
    response, payload = invoke(local, "Failing", {"invoice": "inv_1"})

    assert response["FunctionError"]
    assert payload["errorType"] == "CardDeclinedError"
    assert payload["errorMessage"] == "insufficient funds"
    assert payload["stackTrace"]


def test_function_without_a_local_handler_fails_instead_of_echoing(local: LocalAws) -> None:
    lambda_client = local.client("lambda")
    role = local.client("iam").list_roles()["Roles"][0]["Arn"]
    name = f"stray-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.h",
        Code={"ZipFile": b"PK\x05\x06" + bytes(18)},
    )

    response = lambda_client.invoke(FunctionName=name, Payload=b"{}")

    assert response["FunctionError"]
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.HandlerNotFound"


def test_state_machine_task_catches_the_handler_exception_by_class_name(local: LocalAws) -> None:
    sfn = local.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=local.stack.physical_ids["Charge"],
        name=f"charge-{uuid.uuid4().hex}",  # moto names a nameless execution "None"
        input=json.dumps({"invoice": "inv_1"}),
    )

    def finished() -> bool:
        status = sfn.describe_execution(executionArn=started["executionArn"])["status"]
        return status != "RUNNING"

    wait_for(finished, timeout=10)
    execution = sfn.describe_execution(executionArn=started["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["function"] == local.stack.function("Echo").function_name
    assert output["echo"]["invoice"] == "inv_1"
    assert output["echo"]["error"]["Error"] == "CardDeclinedError"


def test_invalid_asl_is_rejected(local: LocalAws) -> None:
    # moto's ASL parser rejects what breaks the grammar (an unknown state type or field)...
    role = local.client("iam").list_roles()["Roles"][0]["Arn"]
    with pytest.raises(ClientError, match="ASLParserException"):
        local.client("stepfunctions").create_state_machine(
            name=f"broken-{uuid.uuid4().hex[:8]}",
            definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Bogus", "End": True}}}),
            roleArn=role,
        )
    # ...and the local stack's own check catches dangling state names, which moto accepts.
    problems = state_machine_problems(
        {
            "StartAt": "Missing",
            "States": {
                "A": {"Type": "Pass", "Next": "Nowhere"},
                "B": {
                    "Type": "Task",
                    "Resource": "x",
                    "Catch": [{"ErrorEquals": ["E"], "Next": "Gone"}],
                    "End": True,
                },
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "A"}]},
            },
        }
    )
    assert problems == [
        "StartAt 'Missing' is not a state",
        "A: Next 'Nowhere' is not a state",
        "B: Catch Next 'Gone' is not a state",
    ]


def test_dynamodb_stream_mapping_applies_its_filter_and_delivers_each_record_once(
    local: LocalAws, received: list[Any]
) -> None:
    dynamodb = local.client("dynamodb")
    table = local.stack.physical_ids["Table"]

    dynamodb.put_item(TableName=table, Item={"pk": {"S": "t1"}, "sk": {"S": "evt#1"}, "kind": {"S": "event"}})
    dynamodb.put_item(
        TableName=table, Item={"pk": {"S": "t1"}, "sk": {"S": "sub#1"}, "kind": {"S": "subscription"}}
    )
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "t1"}, "sk": {"S": "evt#1"}},
        UpdateExpression="SET published = :yes",
        ExpressionAttributeValues={":yes": {"BOOL": True}},
    )
    assert local.wait_for_streams()

    records = [record for event in received for record in event["Records"]]
    assert [(r["eventName"], r["dynamodb"]["NewImage"]["sk"]["S"]) for r in records] == [("INSERT", "evt#1")]
    assert records[0]["eventSourceARN"] == local.stack.attributes["Table"]["StreamArn"]


def test_stream_records_of_a_transaction_arrive_after_commit_and_never_when_cancelled(
    local: LocalAws, received: list[Any]
) -> None:
    dynamodb = local.client("dynamodb")
    table = local.stack.physical_ids["Table"]

    def put(sk: str) -> dict[str, Any]:
        return {
            "Put": {"TableName": table, "Item": {"pk": {"S": "t2"}, "sk": {"S": sk}, "kind": {"S": "event"}}}
        }

    failing_check = {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": {"S": "t2"}, "sk": {"S": "absent"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(TransactItems=[put("evt#rolled-back"), failing_check])
    assert local.wait_for_streams()
    assert received == []  # moto emitted the record, the hook dropped it with the transaction

    dynamodb.transact_write_items(TransactItems=[put("evt#2"), put("evt#3")])
    assert local.wait_for_streams()

    # Usually one batch; on a loaded machine the poller may hand the two records over in two.
    records = [r for batch in received for r in batch["Records"]]
    assert [r["dynamodb"]["NewImage"]["sk"]["S"] for r in records] == ["evt#2", "evt#3"]


def test_stream_handler_can_write_to_its_table_while_dynamodb_is_serialised(local: LocalAws) -> None:
    # The local stack serialises moto's DynamoDB; a stream handler run inside the triggering
    # write would then wait for that write's lock forever. Stream delivery is asynchronous.
    serialise_moto_dynamodb()
    dynamodb = local.client("dynamodb")
    table = local.stack.physical_ids["Table"]
    key = {"pk": {"S": "t3"}, "sk": {"S": "job#1"}}

    dynamodb.put_item(TableName=table, Item={**key, "kind": {"S": "mark-me"}})

    assert local.wait_for_streams()
    assert dynamodb.get_item(TableName=table, Key=key)["Item"]["marked"] == {"BOOL": True}


def test_sqs_mapping_invokes_the_function(local: LocalAws, received: list[Any]) -> None:
    local.client("sqs").send_message(QueueUrl=local.stack.physical_ids["Work"], MessageBody='{"job": 1}')
    # The local stack's queue poller (like Lambda's) picks the message up shortly after.
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)

    (event,) = received
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert json.loads(record["body"]) == {"job": 1}


def test_rule_with_sqs_target_receives_matching_bus_events(local: LocalAws) -> None:
    bus = local.stack.physical_ids["Bus"]
    local.client("events").put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "fixture",
                "DetailType": "invoice.paid",
                "Detail": '{"id": "inv_1"}',
            },
            {"EventBusName": bus, "Source": "elsewhere", "DetailType": "ignored", "Detail": "{}"},
        ]
    )

    messages = local.client("sqs").receive_message(
        QueueUrl=local.stack.physical_ids["Inbox"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    )["Messages"]
    assert [json.loads(m["Body"])["detail-type"] for m in messages] == ["invoice.paid"]


# ---------------------------------------------------------------- provisioning


def test_provisioning_resolves_environment_conditions_and_placeholders(local: LocalAws) -> None:
    stack = local.stack
    environment = stack.environment

    assert environment["FIXTURE_TABLE"] == stack.physical_ids["Table"]
    assert environment["FIXTURE_FLAVOUR"] == "plain"
    # {{resolve:secretsmanager:<arn>:SecretString:token}} read back from the generated secret
    assert len(environment["FIXTURE_SECRET"]) == 20
    assert environment["FIXTURE_SECRET"].isalnum()
    assert all(os.environ[name] == value for name, value in environment.items())
    assert "FancyOnly" not in stack.physical_ids
    assert stack.skipped["EchoLogGroup"] == "AWS::Logs::LogGroup"
    assert stack.outputs["LogGroup"] == stack.physical_ids["EchoLogGroup"]
    assert stack.outputs["TableName"] == stack.physical_ids["Table"]
    recorder = stack.function("Recorder")
    assert recorder.environment["FIXTURE_ONLY_RECORDER"] == "yes"
    assert recorder.environment["FIXTURE_TABLE"] == stack.physical_ids["Table"]
    schedules = {s.event_name: s for s in stack.schedules}
    assert schedules["Tick"].expression == "rate(5 minutes)"
    assert schedules["Tick"].function_name == recorder.function_name
    assert schedules["Paused"].enabled is False


def test_tables_get_their_indexes_stream_and_ttl(local: LocalAws) -> None:
    dynamodb = local.client("dynamodb")
    name = local.stack.physical_ids["Table"]

    table = dynamodb.describe_table(TableName=name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]

    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["byKind"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert ttl == {"AttributeName": "expires_at", "TimeToLiveStatus": "ENABLED"}


# ---------------------------------------------------------------- ticker


def test_ticker_fires_the_enabled_schedules(local: LocalAws, received: list[Any]) -> None:
    ticker = Ticker(local.stack.schedules, tick_seconds=0.05)
    assert [s.event_name for s in ticker.schedules] == ["Tick"]  # Paused is disabled

    ticker.start()
    try:
        wait_for(lambda: len(received) >= 2)
    finally:
        ticker.stop()

    assert not ticker.running
    assert received[0]["detail-type"] == "Scheduled Event"
    assert received[0]["source"] == "aws.events"
    assert received[0]["resources"] == [local.stack.schedules[0].rule_arn]
    assert ticker.failures == 0


def test_ticker_survives_failing_ticks() -> None:
    calls: list[str] = []
    enough = threading.Event()

    def flaky_invoke(function_name: str, event: Any) -> InvocationResult:
        calls.append(function_name)
        if len(calls) >= 3:
            enough.set()
        if len(calls) == 1:
            raise RuntimeError("emulator hiccup")
        return InvocationResult('{"errorType": "Boom"}', errored=len(calls) == 2)

    schedule = Schedule(
        "Fn", "fn", "Sweep", "rate(1 minute)", "arn:aws:events:eu-central-1:123456789012:rule/r"
    )
    ticker = Ticker([schedule], tick_seconds=0.01, invoke=flaky_invoke)
    ticker.start()
    try:
        assert enough.wait(5)
        assert ticker.running
    finally:
        ticker.stop()
    assert ticker.failures >= 2


def test_schedule_expressions() -> None:
    assert parse_schedule("rate(1 minute)") == Rate(60)
    assert parse_schedule("rate(2 hours)") == Rate(7200)
    weekdays_noon = parse_schedule("cron(0 12 ? * MON-FRI *)")
    assert isinstance(weekdays_noon, Cron)
    saturday = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert weekdays_noon.next_after(saturday) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    first_of_month = parse_schedule("cron(30 2 1 * ? *)")
    assert isinstance(first_of_month, Cron)
    assert first_of_month.next_after(saturday) == datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    every_15 = parse_schedule("cron(0/15 * * * ? *)")
    assert isinstance(every_15, Cron)
    assert every_15.matches(datetime(2026, 1, 1, 3, 45, tzinfo=UTC))
    for bad in (
        "rate(0 minutes)",
        "rate(1 week)",
        "cron(0 12 L * ? *)",
        "cron(0 12 * *)",
        "at(2026-01-01T00:00:00)",
    ):
        with pytest.raises(ValueError, match=r"."):
            parse_schedule(bad)


def test_scheduled_event_payload_and_constant_input() -> None:
    rule = "arn:aws:events:eu-central-1:123456789012:rule/billow-sweep"
    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

    event = scheduled_event(Schedule("Fn", "fn", "Sweep", "rate(1 minute)", rule), now)
    constant = scheduled_event(Schedule("Fn", "fn", "Sweep", "rate(1 minute)", rule, input={"job": "x"}), now)

    assert event["time"] == "2026-11-21T10:00:00Z"
    assert (event["region"], event["account"], event["resources"]) == ("eu-central-1", "123456789012", [rule])
    assert constant == {"job": "x"}


def test_filter_patterns() -> None:
    record = {"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "event"}, "n": {"N": "5"}}}}
    outbox = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["event"]}}}}

    assert matches_pattern(outbox, record)
    assert not matches_pattern({"eventName": ["MODIFY"]}, record)
    assert not matches_pattern({"dynamodb": {"OldImage": {"kind": {"S": ["event"]}}}}, record)
    assert matches_pattern({"dynamodb": {"OldImage": [{"exists": False}]}}, record)
    assert matches_pattern({"eventName": [{"prefix": "INS"}]}, record)
    assert matches_pattern({"eventName": [{"anything-but": ["REMOVE"]}]}, record)
    assert matches_pattern({"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 1, "<=", 5]}]}}}}, record)
    assert not matches_pattern({"dynamodb": {"NewImage": {"n": {"N": [{"numeric": ["<", 5]}]}}}}, record)
