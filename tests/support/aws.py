"""In-process AWS (moto) with Billow's tables, for integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from billow.adapters.aws import reset_clients
from billow.api.auth import key_cache
from billow.api.container import use_container
from billow.api.idempotency import reset_idempotency
from billow.local.dynamodb_serial import serialise_moto_dynamodb
from billow.settings import reset_settings

TABLE = "billow-test"
IDEMPOTENCY_TABLE = "billow-test-idempotency"

ENV = {
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "BILLOW_TABLE": TABLE,
    "BILLOW_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    "BILLOW_EVENT_BUS": "billow-test",
    "BILLOW_DOCUMENTS_BUCKET": "billow-test-documents",
    "BILLOW_CURSOR_SECRET": "test-cursor-secret",
    # Never the real VIES: a closed local port answers "unavailable" at once; tests that
    # need answers run tests/support/vies_server.py and point this at it.
    "BILLOW_VIES_BASE_URL": "http://127.0.0.1:9",
    "POWERTOOLS_METRICS_NAMESPACE": "Billow",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def create_tables() -> None:
    client = boto3.client("dynamodb")
    index: Any = lambda name: {  # noqa: E731
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": f"{name}pk", "KeyType": "HASH"},
            {"AttributeName": f"{name}sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"}
            for n in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[index("gsi1"), index("gsi2"), index("gsi3")],
    )
    client.create_table(
        TableName=IDEMPOTENCY_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )


def create_credentials_key(monkeypatch: Any) -> None:
    """The KMS key that seals gateway credentials (template.yaml's CredentialsKey)."""
    key = boto3.client("kms").create_key(Description="billow-test credentials")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("BILLOW_CREDENTIALS_KEY", key)
    reset_settings()


def reset_process_state() -> None:
    reset_settings()
    reset_clients()
    use_container(None)
    key_cache.clear()
    reset_idempotency()


@contextmanager
def local_aws(monkeypatch: Any) -> Iterator[None]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reset_process_state()
    serialise_moto_dynamodb()
    with mock_aws():
        create_tables()
        boto3.client("s3").create_bucket(
            Bucket=ENV["BILLOW_DOCUMENTS_BUCKET"],
            CreateBucketConfiguration={"LocationConstraint": ENV["AWS_DEFAULT_REGION"]},  # type: ignore[typeddict-item]
        )
        create_credentials_key(monkeypatch)
        yield
    reset_process_state()
