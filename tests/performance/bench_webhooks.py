"""Webhook delivery end to end on the local stack: events per second and commit-to-delivery latency.

One sandbox tenant registers a local receiver (tests/support/webhook_receiver.py) for every
event type, then produces ``BILLOW_BENCH_WEBHOOK_EVENTS`` events (default 500) as fast as one
thread can call the API: ``BILLOW_BENCH_WEBHOOK_AGGREGATES`` customers (default 25) are
created, then PATCHed round-robin, so each customer is one aggregate with its own sequence
(its version: create = 1, each PATCH + 1). The wall-clock time right after each API call
returns is the event's commit time, keyed by (customer id, sequence): the envelope's
``created_at`` has only second precision. Each event then goes the whole pipeline of
docs/webhooks.md: outbox → DynamoDB stream → relay → EventBridge bus → rule → SQS → fan-out
function → SQS FIFO → dispatcher → an HTTP POST to the receiver, whose ``arrived_at`` is the
delivery time.

Reported: the throughput (events / seconds from the first API call to the last delivery),
latency from commit to delivery (p50, p95, p99, max), whether every delivery verifies with the
endpoint's secret (standardwebhooks) and every aggregate arrived in sequence order. Where the
time goes: how long after its commit each event reached the relay and the fan-out function
(the local Lambda hook is wrapped to see each invocation start), and the seconds each function
spent in its handler. Before the flood, ``BILLOW_BENCH_WEBHOOK_PROBES`` events (default 10)
go one at a time, each waited for: the latency of an idle pipeline, without queueing. Retries
come at once (``BILLOW_WEBHOOK_BACKOFF_SCALE=0``), although a receiver that always answers 200
needs none. The emulator runs moto, the functions, the queue pollers and the receiver in one
Python process (one GIL, DynamoDB serialised), so these are the emulator's figures, not AWS's.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from billow.api.container import container
from billow.local import lambda_hook
from billow.local.stack import LocalAws
from tests.performance.registry import figure, main
from tests.performance.support import percentile
from tests.support.api_client import ApiClient
from tests.support.aws import reset_process_state
from tests.support.functions import gateway
from tests.support.webhook_receiver import ReceivedRequest, WebhookReceiver

# Read by run_all: the default (500 events) takes about 65 s on a 2-core machine; a stuck
# pipeline fails after BILLOW_BENCH_WEBHOOK_TIMEOUT seconds of waiting for deliveries.
TIMEOUT_S = 400
EVENTS = int(os.environ.get("BILLOW_BENCH_WEBHOOK_EVENTS", "500"))
AGGREGATES = int(os.environ.get("BILLOW_BENCH_WEBHOOK_AGGREGATES", "25"))
DELIVERY_TIMEOUT_S = float(os.environ.get("BILLOW_BENCH_WEBHOOK_TIMEOUT", "180"))
PROBES = int(os.environ.get("BILLOW_BENCH_WEBHOOK_PROBES", "10"))
WARM_UP_TIMEOUT_S = 60.0


Key = tuple[str, int]  # (aggregate id, sequence): one event
# The functions whose records name the event, and the stage their start marks.
STAGES = {"OutboxRelayFunction": "relay_started", "WebhookFanoutFunction": "fanout_started"}


def event_key(function: str, record: Any) -> Key | None:
    """The event a relay (stream) or fan-out (SQS) record carries; None for anything else."""
    try:
        if function == "OutboxRelayFunction":
            aggregate = record["dynamodb"]["NewImage"]["envelope"]["M"]["aggregate"]["M"]
            return str(aggregate["id"]["S"]), int(aggregate["sequence"]["N"])
        if function == "WebhookFanoutFunction":
            aggregate = json.loads(record["body"])["detail"]["aggregate"]
            return str(aggregate["id"]), int(aggregate["sequence"])
    except (KeyError, TypeError, ValueError):
        return None
    return None


@dataclass
class Functions:
    """Per function (logical id): invocations, records and seconds spent in its handler; and
    when the relay and the fan-out first started on each event (time.time())."""

    invocations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    records: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    first_seen: dict[str, dict[Key, float]] = field(default_factory=lambda: defaultdict(dict))
    running: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    def reset(self) -> None:
        with self.lock:
            for counts in (self.invocations, self.records, self.seconds, self.first_seen):
                counts.clear()

    def wait_until_idle(self, timeout: float) -> None:
        """Until no handler runs (a delivery arrives before its dispatcher has returned)."""
        with self.lock:
            self.lock.wait_for(lambda: self.running == 0, timeout)

    def started(self, function: str, records: list[Any], at: float) -> None:
        stage = STAGES.get(function)
        with self.lock:
            self.running += 1
            if stage is None:
                return
            seen = self.first_seen[stage]
            for record in records:
                key = event_key(function, record)
                if key is not None:
                    seen.setdefault(key, at)

    def finished(self, function: str, records: int, seconds: float) -> None:
        with self.lock:
            self.running -= 1
            self.invocations[function] += 1
            self.records[function] += records
            self.seconds[function] += seconds
            self.lock.notify_all()

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {
                name: {
                    "invocations": self.invocations[name],
                    "records": self.records[name],
                    "busy_s": round(self.seconds[name], 2),
                }
                for name in sorted(self.seconds, key=lambda n: -self.seconds[n])
            }


@contextmanager
def timing_functions(aws: LocalAws, functions: Functions) -> Iterator[None]:
    """Wrap the hook's private ``_run``: every stream batch, queue batch and direct invocation
    of a function ends there (billow/local/lambda_hook.py)."""
    names = {function.function_name: logical for logical, function in aws.stack.functions.items()}
    original: Callable[..., Any] = lambda_hook._run

    def timed(spec: Any, event: Any, region: str = "") -> Any:
        name = names.get(spec.function_name, spec.function_name)
        found = event.get("Records") if isinstance(event, dict) else None
        records = found if isinstance(found, list) else []
        functions.started(name, records, time.time())
        started = time.perf_counter()
        try:
            return original(spec, event, region)
        finally:
            functions.finished(name, len(records) or 1, time.perf_counter() - started)

    lambda_hook._run = timed
    try:
        yield
    finally:
        lambda_hook._run = original


def split(events: int, aggregates: int) -> list[int]:
    """How many events each aggregate gets (at least one: its creation)."""
    aggregates = max(1, min(aggregates, events))
    return [events // aggregates + (1 if i < events % aggregates else 0) for i in range(aggregates)]


def create_customer(api: ApiClient, name: str) -> tuple[str, float]:
    created = api.post("/v1/customers", {"name": name, "currency": "EUR"})
    committed_at = time.time()
    if created.status != 201 or int(created.data["version"]) != 1:
        raise RuntimeError(created.body[:300])
    return str(created.data["id"]), committed_at


def rename_customer(api: ApiClient, customer_id: str, version: int) -> float:
    # A name never used before: a PATCH that changes nothing makes no event.
    updated = api.patch(f"/v1/customers/{customer_id}", {"name": f"Webhook bench {customer_id}/{version}"})
    committed_at = time.time()
    if updated.status != 200 or int(updated.data["version"]) != version:
        raise RuntimeError(f"expected version {version}: {updated.body[:300]}")
    return committed_at


def produce(api: ApiClient, per_aggregate: list[int]) -> tuple[dict[Key, float], list[float]]:
    """Create the customers, then PATCH them round-robin; the commit time of each event, keyed
    by (customer id, version: the event's aggregate sequence), and the duration of each API call."""
    committed: dict[Key, float] = {}
    calls_ms: list[float] = []
    ids: list[str] = []
    for i in range(len(per_aggregate)):
        started = time.perf_counter()
        customer_id, committed_at = create_customer(api, f"Webhook bench {i}")
        calls_ms.append((time.perf_counter() - started) * 1000)
        committed[(customer_id, 1)] = committed_at
        ids.append(customer_id)
    for version in range(2, max(per_aggregate) + 1):
        for customer_id, count in zip(ids, per_aggregate, strict=True):
            if version <= count:
                started = time.perf_counter()
                committed[(customer_id, version)] = rename_customer(api, customer_id, version)
                calls_ms.append((time.perf_counter() - started) * 1000)
    return committed, calls_ms


def idle_latencies(api: ApiClient, receiver: WebhookReceiver, probes: int) -> list[float]:
    """Commit to delivery of one event at a time, the pipeline otherwise idle (ms)."""
    latencies: list[float] = []
    customer_id = ""
    for version in range(1, probes + 1):
        before = len(receiver.requests)
        if version == 1:
            customer_id, committed_at = create_customer(api, "Webhook probe")
        else:
            committed_at = rename_customer(api, customer_id, version)
        arrived = receiver.wait_for(before + 1, timeout=WARM_UP_TIMEOUT_S)[before]
        latencies.append((arrived.arrived_at - committed_at) * 1000)
    return latencies


def wait_for_all(receiver: WebhookReceiver, wanted: int, timeout: float) -> None:
    """Until ``wanted`` distinct webhook ids arrived (a redelivery repeats its id)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        seen = len({r.header("webhook-id") for r in receiver.requests})
        if seen >= wanted:
            return
        time.sleep(0.05)
    raise RuntimeError(f"only {seen} of {wanted} webhooks arrived within {timeout:.0f} s")


def count_verified(receiver: WebhookReceiver, secret: str) -> int:
    try:
        return len(receiver.verified(secret))
    except WebhookVerificationError:  # the first bad one raised: count the good ones one by one
        webhook, good = Webhook(secret), 0
        for request in receiver.requests:
            try:
                webhook.verify(request.body, dict(request.headers))
                good += 1
            except WebhookVerificationError:
                continue
        return good


def first_arrivals(requests: list[ReceivedRequest]) -> tuple[dict[Key, float], dict[str, list[int]]]:
    """Each event's first arrival time, and every aggregate's sequences in arrival order."""
    arrived: dict[Key, float] = {}
    order: dict[str, list[int]] = defaultdict(list)
    for request in sorted(requests, key=lambda r: r.arrived_monotonic):
        aggregate = request.json()["aggregate"]
        key = (str(aggregate["id"]), int(aggregate["sequence"]))
        order[key[0]].append(key[1])
        arrived.setdefault(key, request.arrived_at)
    return arrived, order


def in_order(order: dict[str, list[int]], committed: dict[Key, float]) -> bool:
    """Every aggregate's events arrived 1, 2, ..., n (a redelivery right after its first is allowed)."""
    last: dict[str, int] = defaultdict(int)
    for aggregate, sequence in committed:
        last[aggregate] = max(last[aggregate], sequence)
    for aggregate, count in last.items():
        seen = order.get(aggregate, [])
        collapsed = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
        if collapsed != list(range(1, count + 1)):
            return False
    return set(order) == set(last)


def spread(values: list[float], *points: int) -> dict[str, Any]:
    found = {f"p{p}": figure(percentile(values, p), "ms") for p in points}
    return {**found, "max": figure(max(values), "ms")}


def stage_ms(committed: dict[Key, float], reached: dict[Key, float]) -> dict[str, float]:
    """p50 and p95 of how long after its commit each event reached a stage (may be < 0: the
    stream fires when the write commits, before the API has answered)."""
    after = [(reached[key] - at) * 1000 for key, at in committed.items() if key in reached]
    if not after:
        return {}
    return {"p50": round(percentile(after, 50)), "p95": round(percentile(after, 95))}


def run() -> dict[str, Any]:
    os.environ["BILLOW_WEBHOOK_BACKOFF_SCALE"] = "0"
    functions = Functions()
    per_aggregate = split(EVENTS, AGGREGATES)
    with LocalAws(port=0, stack_name=f"bench-{uuid.uuid4().hex[:8]}", ticker=False) as aws:
        reset_process_state()
        tenancy = container().tenancy
        tenant = tenancy.create_tenant("Webhook benchmark tenant")
        api = ApiClient(gateway(), tenancy.issue_api_key(tenant.id, livemode=False).secret)
        with WebhookReceiver() as receiver, timing_functions(aws, functions):
            registered = api.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["*"]})
            if registered.status != 201:
                raise RuntimeError(registered.body)
            secret = str(registered.data["secret"])
            # Warm-up: the endpoint's own webhook_endpoint.created goes the whole way first, so
            # every function is imported and every client made before the clock starts.
            receiver.wait_for(1, timeout=WARM_UP_TIMEOUT_S)
            idle = idle_latencies(api, receiver, PROBES)
            functions.wait_until_idle(WARM_UP_TIMEOUT_S)
            receiver.clear()
            functions.reset()

            started, cpu_started = time.time(), time.process_time()
            committed, calls_ms = produce(api, per_aggregate)
            produced = time.time()
            wait_for_all(receiver, len(committed), DELIVERY_TIMEOUT_S)
            cpu_s, wall_s = time.process_time() - cpu_started, time.time() - started
            requests = receiver.requests
            verified = count_verified(receiver, secret)
            busy = functions.report()
        reset_process_state()

    arrived, order = first_arrivals(requests)
    missing = set(committed) - set(arrived)
    if missing:
        raise RuntimeError(f"{len(missing)} events never arrived, e.g. {sorted(missing)[:3]}")
    latencies = [(arrived[key] - at) * 1000 for key, at in committed.items()]
    last = max(arrived[key] for key in committed)
    total_s = last - started
    events = len(committed)
    return {
        "description": __doc__.strip().splitlines()[0] if __doc__ else "",
        "events": events,
        "aggregates": len(per_aggregate),
        "total_seconds": figure(total_s, "s", meaning="first API call to last delivery"),
        "events_per_second": figure(events / total_s, "events/s (emulator, one process)"),
        "latency_ms": {
            **spread(latencies, 50, 95, 99),
            "meaning": "API response returned (commit) to the receiver's arrival time, under the flood",
        },
        "ordered": in_order(order, committed),
        "verified": verified,
        "requests": len(requests),
        "duplicates": len(requests) - len({r.header("webhook-id") for r in requests}),
        "produce": {
            "seconds": round(produced - started, 2),
            "api_calls_per_second": round(events / (produced - started), 1),
            "api_call_ms_p50": round(percentile(calls_ms, 50), 1),
            "drain_after_last_commit_s": round(last - produced, 2),
        },
        "process_cpu": {
            "seconds": round(cpu_s, 1),
            "cores_busy": round(cpu_s / wall_s, 2),
            "meaning": "CPU time of the whole process (API, emulator, functions, receiver) per wall second",
        },
        "stages_ms_after_commit": {
            **{stage: stage_ms(committed, functions.first_seen[stage]) for stage in STAGES.values()},
            "delivered": stage_ms(committed, arrived),
        },
        "functions_busy": busy,
        "idle_latency_ms": {
            **spread(idle, 50),
            "events": len(idle),
            "meaning": "one event at a time, each waited for, before the flood",
        },
        "note": "the local emulator (moto and every function in one Python process), not AWS",
    }


if __name__ == "__main__":
    main(run)
