"""Shared by the in-process benchmarks: the API function on moto, DynamoDB call tracking,
percentiles."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from billow.adapters.aws import dynamodb_client
from billow.api import idempotency
from billow.api.container import container
from tests.support.api_client import ApiClient
from tests.support.aws import local_aws
from tests.support.functions import load_function

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass
class DynamoCall:
    operation: str
    tables: tuple[str, ...]
    ms: float = 0.0
    status: int | None = None


@dataclass
class DynamoCallTracker:
    """Every DynamoDB API call made through one botocore client, with its duration.

    Hooks: ``before-parameter-build`` (operation and table names, once per API call),
    ``before-call``/``after-call`` (the time botocore and moto spend on the call) and
    ``request-created`` (HTTP attempts, so retries would show up).
    """

    client: Any
    calls: list[DynamoCall] = field(default_factory=list)
    attempts: int = 0
    _uid: str = field(default_factory=lambda: f"bench-{time.monotonic_ns()}")

    def _hooks(self) -> list[tuple[str, Any]]:
        return [
            ("before-parameter-build.dynamodb", self._on_parameters),
            ("before-call.dynamodb", self._on_before_call),
            ("after-call.dynamodb", self._on_after_call),
            ("request-created.dynamodb", self._on_request),
        ]

    def install(self) -> None:
        for event, handler in self._hooks():
            self.client.meta.events.register(event, handler, unique_id=f"{self._uid}-{event}")

    def uninstall(self) -> None:
        for event, _ in self._hooks():
            self.client.meta.events.unregister(event, unique_id=f"{self._uid}-{event}")

    def _on_parameters(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        tables: set[str] = set()
        if "TableName" in params:
            tables.add(params["TableName"])
        for entry in params.get("TransactItems", []):
            for operation in entry.values():
                tables.add(operation["TableName"])
        tables.update(params.get("RequestItems", {}))
        call = DynamoCall(operation=model.name, tables=tuple(sorted(tables)))
        self.calls.append(call)
        context["bench_call"] = call

    def _on_before_call(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _on_after_call(self, context: dict[str, Any], http_response: Any, **_: Any) -> None:
        call: DynamoCall | None = context.get("bench_call")
        started: float | None = context.get("bench_started")
        if call is not None and started is not None:
            call.ms = (time.perf_counter() - started) * 1000
            call.status = getattr(http_response, "status_code", None)

    def _on_request(self, **_: Any) -> None:
        self.attempts += 1

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int) -> list[DynamoCall]:
        return self.calls[mark:]


def count_by_operation(calls: list[DynamoCall]) -> dict[str, int]:
    return dict(sorted(Counter(call.operation for call in calls).items()))


@dataclass
class BillowOnMoto:
    handler: Any
    api: ApiClient
    tracker: DynamoCallTracker
    tenant_id: str


@contextmanager
def billow_on_moto() -> Iterator[BillowOnMoto]:
    """The real API handler on in-process moto, with a sandbox tenant and its API key.

    ``local_aws`` wants pytest's monkeypatch; a bare ``pytest.MonkeyPatch()`` does the same
    outside pytest, and ``undo()`` restores the environment afterwards.
    """
    monkeypatch = pytest.MonkeyPatch()
    try:
        with local_aws(monkeypatch):
            # The idempotency layer caches its persistence store (and the client inside it) for
            # the life of the process, and tests.support.aws.reset_process_state does not forget
            # it: start from scratch so it picks up this run's shared client.
            idempotency._persistence.cache_clear()
            idempotency._idempotent_call.cache_clear()
            handler = load_function("api").lambda_handler
            tenancy = container().tenancy
            tenant = tenancy.create_tenant("Benchmark tenant")
            issued = tenancy.issue_api_key(tenant.id, livemode=False)
            tracker = DynamoCallTracker(dynamodb_client())
            tracker.install()
            try:
                yield BillowOnMoto(
                    handler=handler,
                    api=ApiClient(handler, issued.secret),
                    tracker=tracker,
                    tenant_id=tenant.id,
                )
            finally:
                tracker.uninstall()
                idempotency._persistence.cache_clear()
                idempotency._idempotent_call.cache_clear()
    finally:
        monkeypatch.undo()


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 300 samples is the 297th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]
