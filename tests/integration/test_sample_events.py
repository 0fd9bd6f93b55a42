"""The sample payloads in events/ are valid input for their functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from billow.api.container import container
from tests.support.api_client import FakeContext
from tests.support.functions import ROOT, load_function

DEMO_TENANT = "00000000-0000-7000-8000-000000000001"
DEMO_KEY = "bk_test_local_development_key_0001"


def sample(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


@pytest.fixture
def demo_tenant(aws: None) -> None:
    container().tenancy.create_tenant("Demo tenant", tenant_id=DEMO_TENANT)
    container().tenancy.issue_api_key(DEMO_TENANT, livemode=False, secret=DEMO_KEY)


def test_api_samples(demo_tenant: None) -> None:
    handler = load_function("api").lambda_handler
    created = handler(sample("api_create_customer.json"), FakeContext())
    assert created["statusCode"] == 201, created["body"]
    listed = handler(sample("api_list_customers.json"), FakeContext())
    assert listed["statusCode"] == 200
    assert [c["name"] for c in json.loads(listed["body"])["data"]] == ["Acme GmbH"]


def test_outbox_samples(demo_tenant: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    boto3.client("events").create_event_bus(Name="billow-test")
    relay = load_function("outbox_relay").lambda_handler
    assert relay(sample("outbox_sweep_scheduled.json"), FakeContext()) == {"published": 0, "failed": []}
    # The stream sample's event item is not in the table: publishing still works, marking is a no-op.
    assert relay(sample("outbox_stream_insert.json"), FakeContext()) == {"batchItemFailures": []}


def test_every_sample_is_listed() -> None:
    listed = (ROOT / "events" / "README.md").read_text()
    for path in Path(ROOT / "events").glob("*.json"):
        assert path.name in listed


def test_due_work_sample_runs_the_scheduler(demo_tenant: None) -> None:
    scheduler = load_function("due_work").lambda_handler
    answer = scheduler(sample("due_work_scheduled.json"), FakeContext())
    # Without a state machine (this test's environment) the run happens in this process.
    assert answer["billing_cycle_run"].startswith("tick-")
    assert answer["usage_batches_recovered"] == 0


def test_ingest_sample_answers_per_event(demo_tenant: None) -> None:
    ingest = load_function("ingest").lambda_handler
    answered = ingest(sample("ingest_usage_events.json"), FakeContext())
    assert answered["statusCode"] == 202, answered["body"]
    results = json.loads(answered["body"])["data"]["results"]
    assert [(r["status"], r["code"]) for r in results] == [("rejected", "unknown_meter")] * 2
