"""template.yaml: its layer pins, the names the code relies on, and provisioning it locally."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from billow.local.cfn import NO_VALUE, Resolver, UnresolvedReference, load_template, merge_globals, references
from billow.local.stack import LocalAws
from billow.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
GLOBAL_ENVIRONMENT = {
    "BILLOW_TABLE",
    "BILLOW_IDEMPOTENCY_TABLE",
    "BILLOW_EVENT_BUS",
    "BILLOW_DOCUMENTS_BUCKET",
    "BILLOW_CURSOR_SECRET",
    "BILLOW_STAGE",
    "BILLOW_BILLING_CYCLE_STATE_MACHINE",
    "BILLOW_CREDENTIALS_KEY",
    "BILLOW_WEBHOOK_DELIVERIES_QUEUE_URL",
    "BILLOW_WEBHOOK_EVENTS_QUEUE_URL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return sorted(line for line in lines if line)


def test_layer_requirements_match_runtime_pins() -> None:
    common = requirement_lines(ROOT / "layers" / "dependencies" / "requirements.txt")
    documents = requirement_lines(ROOT / "layers" / "documents" / "requirements.txt")
    runtime = requirement_lines(ROOT / "requirements" / "runtime.txt")

    assert not set(common) & set(documents), "a pin belongs to one layer only"
    assert sorted(common + documents) == runtime, "the layers together hold exactly requirements/runtime.txt"
    assert all("==" in line for line in common + documents)
    # fpdf2 is imported by the documents function alone; everything else loads it lazily.
    assert not any(line.startswith(("fpdf2", "pillow", "fonttools")) for line in common)


def test_template_reads_with_short_tags_and_names_what_the_code_reads() -> None:
    template = load_template(TEMPLATE)
    resources = template["Resources"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    settings_source = (ROOT / "shared" / "billow" / "settings.py").read_text(encoding="utf-8")

    assert set(variables) == GLOBAL_ENVIRONMENT
    assert all(f'"{name}"' in settings_source for name in variables if name.startswith("BILLOW_"))
    assert variables["BILLOW_TABLE"] == {"Ref": "BillowTable"}
    relay_stream = resources["OutboxRelayFunction"]["Properties"]["Events"]["OutboxStream"]["Properties"]
    assert relay_stream["Stream"] == {"Fn::GetAtt": ["BillowTable", "StreamArn"]}
    assert json.loads(relay_stream["FilterCriteria"]["Filters"][0]["Pattern"]) == {
        "eventName": ["INSERT"],
        "dynamodb": {"NewImage": {"kind": {"S": ["event"]}}},
    }


def test_every_function_points_at_an_existing_handler_file() -> None:
    template = load_template(TEMPLATE)
    functions = {
        k: r["Properties"]
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }

    assert set(functions) >= {"ApiFunction", "OutboxRelayFunction"}
    for logical_id, properties in functions.items():
        module = properties["Handler"].rsplit(".", 1)[0].replace(".", "/")
        assert (ROOT / properties["CodeUri"] / f"{module}.py").is_file(), logical_id


def test_resolver_evaluates_intrinsic_functions() -> None:
    template: dict[str, Any] = {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
        "Mappings": {"Sizes": {"dev": {"Memory": 256}}},
    }
    resolver = Resolver(template, region="eu-central-1", account_id="123456789012", stack_name="s")
    resolver.set_resource("Table", "s-Table", {"Arn": "arn:table"})

    assert resolver.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Table}-${Table.Arn}-${!Literal}"}) == (
        "s-dev-s-Table-arn:table-${Literal}"
    )
    assert (
        resolver.resolve({"Fn::Sub": ["${A}/${AWS::Region}", {"A": {"Ref": "Table"}}]})
        == "s-Table/eu-central-1"
    )
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-dev"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]}) == "y"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 256
    assert resolver.resolve({"Fn::If": ["IsProd", "big", {"Ref": "AWS::NoValue"}]}) is NO_VALUE
    assert resolver.resolve({"Keep": 1, "Drop": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}}) == {
        "Keep": 1
    }
    with pytest.raises(UnresolvedReference):
        resolver.resolve({"Fn::GetAtt": ["Missing", "Arn"]})
    with pytest.raises(ValueError, match="not one of"):
        Resolver(template, region="r", account_id="a", stack_name="s", parameters={"Stage": "qa"})
    assert references({"Fn::Sub": "${Table.Arn}/${AWS::Region}/${Stage}"}) == {
        "Table",
        "AWS::Region",
        "Stage",
    }
    assert merge_globals({"Layers": ["a"], "Env": {"X": 1}}, {"Layers": ["b"], "Env": {"Y": 2}}) == {
        "Layers": ["a", "b"],
        "Env": {"X": 1, "Y": 2},
    }


def test_provisioning_the_real_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLOW_TICK_SECONDS", raising=False)
    before = dict(os.environ)
    # A stack name of its own: another stack (the e2e suite's) may share this process's moto.
    with LocalAws(port=0, stack_name=f"billow-test-{uuid.uuid4().hex[:8]}", ticker=False) as aws:
        stack = aws.stack
        dynamodb = aws.client("dynamodb")
        table_name = stack.physical_ids["BillowTable"]
        table = dynamodb.describe_table(TableName=table_name)["Table"]
        indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
        idempotency = stack.physical_ids["IdempotencyTable"]
        bucket = stack.physical_ids["DocumentsBucket"]
        s3 = aws.client("s3")
        relay = stack.function("OutboxRelayFunction")
        mappings = aws.client("lambda").list_event_source_mappings(FunctionName=relay.function_name)

        assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
        assert set(indexes) == {"gsi1", "gsi2", "gsi3"}
        for name in ("gsi1", "gsi2", "gsi3"):
            assert [k["AttributeName"] for k in indexes[name]["KeySchema"]] == [f"{name}pk", f"{name}sk"]
            assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
        assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"] == {
            "AttributeName": "expires_at",
            "TimeToLiveStatus": "ENABLED",
        }
        idempotency_ttl = dynamodb.describe_time_to_live(TableName=idempotency)["TimeToLiveDescription"]
        assert idempotency_ttl["AttributeName"] == "expiration"
        aws.client("events").describe_event_bus(Name=stack.physical_ids["EventBus"])
        assert stack.physical_ids["EventBus"] == "billow-dev"
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        (mapping,) = mappings["EventSourceMappings"]
        assert mapping["EventSourceArn"] == table["LatestStreamArn"]
        assert "kind" in mapping["FilterCriteria"]["Filters"][0]["Pattern"]
        schedules = {s.event_name: (s.expression, s.function_name) for s in stack.schedules}
        assert schedules == {
            "OutboxSweep": ("rate(1 minute)", relay.function_name),
            "DueWorkSchedule": ("rate(1 minute)", stack.function("DueWorkFunction").function_name),
            "DailyReferenceRates": ("cron(30 15 * * ? *)", stack.function("FxRatesFunction").function_name),
            "DailyVatRates": ("cron(15 4 * * ? *)", stack.function("VatRatesFunction").function_name),
        }
        assert set(stack.environment) == GLOBAL_ENVIRONMENT
        assert len(stack.environment["BILLOW_CURSOR_SECRET"]) == 64
        assert "{{resolve" not in stack.environment["BILLOW_CURSOR_SECRET"]
        settings = get_settings()
        assert (settings.table_name, settings.idempotency_table_name) == (table_name, idempotency)
        assert (settings.event_bus_name, settings.documents_bucket) == ("billow-dev", bucket)
        assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint_url
        # The ARN the functions are given (built from the name) is the machine provisioned.
        machine = stack.physical_ids["BillingCycleStateMachine"]
        assert settings.billing_cycle_state_machine == machine
        assert (
            aws.client("stepfunctions").describe_state_machine(stateMachineArn=machine)["status"] == "ACTIVE"
        )
        # Gateway credentials are sealed with the stack's own KMS key on the emulator.
        assert settings.credentials_key == stack.physical_ids["CredentialsKey"]
        kms = aws.client("kms")
        assert kms.describe_key(KeyId=settings.credentials_key)["KeyMetadata"]["KeyState"] == "Enabled"
        sealed = kms.encrypt(KeyId=settings.credentials_key, Plaintext=b"x")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"x"
        assert set(stack.outputs) == {
            "ApiUrl",
            "TableName",
            "IdempotencyTableName",
            "EventBusName",
            "DocumentsBucketName",
            "BillingCycleStateMachineArn",
            "DunningStateMachineArn",
        }
        # The billing cycle starts dunning steps as executions of the dunning state machine.
        sfn = aws.client("stepfunctions")
        dunning = stack.outputs["DunningStateMachineArn"]
        cycle = sfn.describe_state_machine(stateMachineArn=stack.outputs["BillingCycleStateMachineArn"])
        assert f'"StateMachineArn": "{dunning}"' in cycle["definition"]
        assert "${" not in sfn.describe_state_machine(stateMachineArn=dunning)["definition"]

    assert dict(os.environ) == before
    assert get_settings().table_name != table_name
