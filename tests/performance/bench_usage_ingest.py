"""Usage ingest: handler vs raw DynamoDB writes on moto, the service in memory, WCU per event.

The ingest handler on moto against the same DynamoDB writes made raw, the ingest service in
memory, and DynamoDB write requests and capacity units per event.

All in one run, batches of 1,000 events of one customer and one sum meter billed by an active
subscription (set up through the API, real time: no test clock):

a. ``emulator_handler_events_per_second``: POST /v1/usage/events through the ingest Lambda
   handler (``functions/ingest/app.py``) on in-process moto.
b. ``emulator_raw_events_per_second``: the DynamoDB writes the adapter makes for such a batch,
   issued directly with the same boto3 client on the same moto, items built beforehand: the
   journal put and the open-marker put, 1,000 conditional marker PutItems (same item shape and
   condition, ``WRITERS`` threads like ``DynamoUsageStore.record_events``), one
   TransactWriteItems per chunk of ``CHUNK_RECORDS`` records (ConditionCheck on the period
   state, applied marker, kept log, totals update: what ``DynamoUsageStore.apply`` sends), and
   the open-marker delete. ``ratio`` = a / b (target >= 0.8: the handler's checks, reads and
   JSON cost at most a quarter on top of the writes it cannot avoid). Batches of a and b
   alternate, which goes first swapping from pair to pair, so both see tables of the same
   sizes (moto deep-copies the table on every transaction: that cost grows with the table).
c. ``handler_events_per_second_in_memory``: ``UsageIngestService`` over the in-memory fakes
   (tests/support/usage_fakes.py), one thread, median of several batches (target >= 20,000).
d. During (a): DynamoDB write and read requests per event, counted with botocore hooks on
   ``billow.adapters.aws.dynamodb_client()``, and write capacity units per event under
   DynamoDB's published sizing rules. An item's size is the sum over its attributes of the
   UTF-8 length of the name plus the value's size: strings their UTF-8 bytes, numbers
   ceil(significant digits / 2) + 1, binary its bytes, booleans and null 1, lists and maps
   3 + per element 1 + its size (a map element also counts its key's UTF-8 bytes), sets the
   sum of their elements. A standard write costs ceil(size / 1 KB) WCU, at least 1 (a failed
   conditional write too: the request's item is used). Approximations: an UpdateItem is sized
   as its key + the attribute names it sets + the update values (DynamoDB charges the larger
   of the item before and after, which for the additive totals items is about the same); a
   DeleteItem as its key (the open-batch markers deleted are a key and a kind, < 1 KB). A
   transactional write costs 2 x ceil(size / 1 KB) per item, ConditionCheck items included
   (sized as their key). ``wcu_floor_per_event`` is the WCU of the marker writes alone per
   event: the design's floor of one marker write per event (target for ``wcu_per_event``:
   <= 1.5).
"""

from __future__ import annotations

import gc
import math
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from billow.adapters.aws import dynamodb_client
from billow.adapters.dynamodb.table import Transaction, to_item
from billow.adapters.dynamodb.usage import (
    DEDUPE_WINDOW,
    JOURNAL_RETENTION,
    OPEN_SHARDS,
    TOTAL_SHARDS,
    WRITERS,
    _hash,
    _pack,
    group_key,
)
from billow.domain.customer import Customer
from billow.domain.meter import Meter
from billow.domain.subscription import Subscription, SubscriptionItem, format_time
from billow.domain.tenancy import Scope
from billow.domain.usage import UsageRecord, totals_of
from billow.services.usage_ingest import CHUNK_RECORDS, UsageIngestService
from tests.performance.registry import Target, figure, main
from tests.performance.support import READ_OPERATIONS, WRITE_OPERATIONS, billow_on_moto
from tests.support.api_client import ApiClient
from tests.support.aws import TABLE
from tests.support.functions import load_function
from tests.support.usage_fakes import (
    InMemoryMeterRepository,
    InMemorySubscriptionRepository,
    InMemoryTestClockRepository,
    InMemoryUsageStore,
)
from tests.unit.fakes import CounterIds, FixedClock, InMemoryCustomerRepository

BATCH = 1_000
# One small warm-up batch per path (code paths, thread pools, caches), then measured pairs.
# moto deep-copies the whole table on every transaction, so every event written makes the
# following transactions slower: a smaller warm-up and four measured pairs keep the run within
# about a minute.
WARMUP_SIZE = 100
MEASURED_BATCHES = 4
IN_MEMORY_WARMUP = 2
IN_MEMORY_BATCHES = 9
KB = 1024
METER_CODE = "bench_calls"


# --- DynamoDB capacity arithmetic ------------------------------------------------------------------


def _number_size(text: str) -> int:
    number = Decimal(text)
    digits = 0 if number == 0 else len(number.normalize().as_tuple().digits)
    return math.ceil(digits / 2) + 1


def _binary_size(value: Any) -> int:
    raw = value.value if hasattr(value, "value") else value
    return len(raw.encode()) if isinstance(raw, str) else len(raw)


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one AttributeValue, by DynamoDB's published item-size rules."""
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return _binary_size(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in content)
    if kind == "NS":
        return sum(_number_size(n) for n in content)
    if kind == "BS":
        return sum(_binary_size(b) for b in content)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in content)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in content.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def update_size(request: dict[str, Any]) -> int:
    """An UpdateItem sized as its key + the names it sets + the values (see the docstring)."""
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    return (
        item_size(request["Key"])
        + sum(len(n.encode()) for n in names.values())
        + sum(value_size(v) for v in values.values())
    )


def units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def write_units(operation: str, params: dict[str, Any]) -> int:
    if operation == "PutItem":
        return units(item_size(params["Item"]))
    if operation == "UpdateItem":
        return units(update_size(params))
    if operation == "DeleteItem":
        return units(item_size(params["Key"]))
    if operation == "BatchWriteItem":
        total = 0
        for requests in params["RequestItems"].values():
            for request in requests:
                if "PutRequest" in request:
                    total += units(item_size(request["PutRequest"]["Item"]))
                else:
                    total += units(item_size(request["DeleteRequest"]["Key"]))
        return total
    if operation == "TransactWriteItems":
        total = 0
        for entry in params["TransactItems"]:
            (kind, body), *_ = entry.items()
            if kind == "Put":
                size = item_size(body["Item"])
            elif kind == "Update":
                size = update_size(body)
            else:  # Delete, ConditionCheck
                size = item_size(body["Key"])
            total += 2 * units(size)
        return total
    return 0


def is_marker_write(operation: str, params: dict[str, Any]) -> bool:
    return operation == "PutItem" and params.get("Item", {}).get("sk") == {"S": "UEV"}


@dataclass
class RequestLog:
    """Each DynamoDB API call's operation and parameters (``before-parameter-build``)."""

    client: Any
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _uid: str = field(default_factory=lambda: f"bench-usage-{uuid.uuid4()}")

    def _on_parameters(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            self.calls.append((model.name, params))

    def __enter__(self) -> RequestLog:
        self.client.meta.events.register(
            "before-parameter-build.dynamodb", self._on_parameters, unique_id=self._uid
        )
        return self

    def __exit__(self, *_: Any) -> None:
        self.client.meta.events.unregister("before-parameter-build.dynamodb", unique_id=self._uid)

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int) -> list[tuple[str, dict[str, Any]]]:
        return self.calls[mark:]


# --- the batch --------------------------------------------------------------------------------


def _events(prefix: str, customer_id: str, timestamp: str, size: int = BATCH) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}-{i:04d}",
            "meter_code": METER_CODE,
            "customer_id": customer_id,
            "timestamp": timestamp,
            "properties": {"value": i % 10 + 1},
        }
        for i in range(size)
    ]


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- (a) the handler on moto -------------------------------------------------------------------


@dataclass
class Billing:
    scope: Scope
    meter_id: str
    customer_id: str
    subscription_id: str
    period_start: str


def _set_up(api: ApiClient, tenant_id: str) -> Billing:
    def created(response: Any) -> dict[str, Any]:
        if response.status != 201:
            raise RuntimeError(f"set-up failed: {response.status} {response.body}")
        return dict(response.data)

    meter = created(
        api.post(
            "/v1/meters",
            {"code": METER_CODE, "name": "Bench calls", "aggregation": "sum", "value_property": "value"},
        )
    )
    product = created(api.post("/v1/products", {"name": "Bench usage", "type": "usage"}))
    price = created(
        api.post(
            "/v1/prices",
            {
                "product_id": product["id"],
                "currency": "EUR",
                "meter_id": meter["id"],
                "model": "per_unit",
                "unit_amount": "0.001",
            },
        )
    )
    customer = created(api.post("/v1/customers", {"name": "Bench customer"}))
    sub = created(
        api.post("/v1/subscriptions", {"customer_id": customer["id"], "items": [{"price_id": price["id"]}]})
    )
    if sub["status"] != "active":
        raise RuntimeError(f"the subscription is {sub['status']}, not active")
    return Billing(
        Scope(tenant_id, livemode=False),
        meter["id"],
        customer["id"],
        sub["id"],
        sub["current_period_start"],
    )


def _send(ingest: ApiClient, events: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    response = ingest.post("/v1/usage/events", {"events": events}, idempotency_key=None)
    elapsed = time.perf_counter() - started
    if response.status != 202:
        raise RuntimeError(f"ingest answered {response.status}: {response.body[:500]}")
    data = response.data
    if data["accepted"] != len(events):
        raise RuntimeError(f"not all accepted: {data['accepted']} ({data['results'][:2]})")
    return elapsed


# --- (b) the same writes, raw ------------------------------------------------------------------


def _raw_batch(billing: Billing, prefix: str, now: datetime, size: int = BATCH) -> dict[str, Any]:
    """Every request of one batch, built beforehand (only the calls are timed)."""
    scope, table = billing.scope, TABLE
    batch_id = str(uuid.uuid4())
    opened_at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    timestamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    at_ms = int(now.timestamp()) * 1000
    period_ms = int(datetime.fromisoformat(billing.period_start.replace("Z", "+00:00")).timestamp()) * 1000
    records = [
        UsageRecord(
            event_id=f"{prefix}-{i:04d}",
            customer_id=billing.customer_id,
            meter_id=billing.meter_id,
            timestamp=timestamp,
            at_ms=at_ms,
            properties={"value": i % 10 + 1},
            value=Decimal(i % 10 + 1),
            subscription_id=billing.subscription_id,
            period_start=billing.period_start,
            period_start_ms=period_ms,
        )
        for i in range(size)
    ]
    prefix_key = scope.key_prefix
    journal = to_item(
        {
            "pk": f"{prefix_key}#UBATCH#{batch_id}",
            "sk": "JOURNAL",
            "kind": "usage_journal",
            "records": _pack(records),
            "opened_at": opened_at,
            "expires_at": int((now + JOURNAL_RETENTION).timestamp()),
        }
    )
    open_key = {
        "pk": f"USAGE_OPEN#{_hash(batch_id, OPEN_SHARDS)}",
        "sk": f"{opened_at}#{prefix_key}#{batch_id}",
    }
    open_item = to_item({**open_key, "kind": "usage_open_batch"})
    expires = int((now + DEDUPE_WINDOW).timestamp())
    markers = [
        to_item(
            {
                "pk": f"{prefix_key}#UEV#{r.event_id}",
                "sk": "UEV",
                "kind": "usage_event",
                "batch": batch_id,
                "status": "accepted",
                "customer_id": r.customer_id,
                "meter_id": r.meter_id,
                "timestamp": r.timestamp,
                "received_at": timestamp,
                "expires_at": expires,
                "subscription_id": r.subscription_id,
                "period_start": r.period_start,
            }
        )
        for r in records
    ]
    transactions = []
    for number, start in enumerate(range(0, size, CHUNK_RECORDS)):
        chunk = records[start : start + CHUNK_RECORDS]
        origin = f"{billing.subscription_id}#{billing.period_start}#{number}"
        period_pk = f"{prefix_key}#USAGE#{billing.subscription_id}#{billing.period_start}"
        tx = Transaction()
        tx.items.append(
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": to_item({"pk": f"{period_pk}#0", "sk": "STATE"}),
                    "ConditionExpression": "attribute_not_exists(closed_at)",
                }
            }
        )
        tx.put(
            "applied",
            table,
            {
                "pk": f"{prefix_key}#UBATCH#{batch_id}",
                "sk": f"APPLIED#{origin}",
                "kind": "usage_chunk_applied",
                "subscription_id": billing.subscription_id,
                "period_start": billing.period_start,
            },
            "attribute_not_exists(pk)",
        )
        tx.put(
            "log",
            table,
            {
                "pk": f"{prefix_key}#ULOG#{billing.subscription_id}#{billing.period_start}",
                "sk": f"{batch_id}#{origin}",
                "kind": "usage_log",
                "count": len(chunk),
                "records": _pack(chunk),
            },
        )
        for group, totals in totals_of((r.fact() for r in chunk), period_ms).items():
            tx.update(
                "totals",
                table,
                {
                    "pk": f"{period_pk}#{_hash(batch_id, TOTAL_SHARDS)}",
                    "sk": f"{billing.meter_id}#{group_key(group)}",
                },
                "ADD #n :n, #s :s, #ds :ds, #dt :dt SET #m = :m, #g = :g, #k = :k",
                {
                    ":n": totals.count,
                    ":s": totals.sum,
                    ":ds": totals.delta_sum,
                    ":dt": totals.delta_seconds,
                    ":m": billing.meter_id,
                    ":g": [list(pair) for pair in group],
                    ":k": "usage_totals",
                },
                ExpressionAttributeNames={
                    "#n": "count",
                    "#s": "sum",
                    "#ds": "delta_sum",
                    "#dt": "delta_seconds",
                    "#m": "meter_id",
                    "#g": "group",
                    "#k": "kind",
                },
            )
        transactions.append(tx.items)
    return {
        "journal": journal,
        "open_item": open_item,
        "open_key": to_item(open_key),
        "markers": markers,
        "transactions": transactions,
        "now_epoch": int(now.timestamp()),
    }


def _send_raw(client: Any, pool: ThreadPoolExecutor, batch: dict[str, Any]) -> float:
    condition_values = {":now": {"N": str(batch["now_epoch"])}}

    def put_marker(item: dict[str, Any]) -> None:
        client.put_item(
            TableName=TABLE,
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues=condition_values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    started = time.perf_counter()
    client.put_item(TableName=TABLE, Item=batch["journal"])
    client.put_item(TableName=TABLE, Item=batch["open_item"])
    for _ in pool.map(put_marker, batch["markers"]):
        pass
    for items in batch["transactions"]:
        client.transact_write_items(TransactItems=items)
    client.delete_item(TableName=TABLE, Key=batch["open_key"])
    return time.perf_counter() - started


# --- (c) the service in memory -----------------------------------------------------------------


def _in_memory() -> dict[str, Any]:
    scope = Scope("bench", livemode=False)
    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    created = "2026-01-01T00:00:00Z"
    meters, subscriptions = InMemoryMeterRepository(), InMemorySubscriptionRepository()
    customers, store = InMemoryCustomerRepository(), InMemoryUsageStore()
    meters.put(
        scope,
        Meter(
            id="mtr",
            livemode=False,
            code=METER_CODE,
            name="n",
            aggregation="sum",
            value_property="value",
            created_at=created,
            updated_at=created,
        ),
    )
    customers.add(
        scope, Customer(id="cus", livemode=False, name="c", created_at=created, updated_at=created), []
    )
    subscriptions.put(
        scope,
        Subscription(
            id="sub",
            livemode=False,
            customer_id="cus",
            currency="EUR",
            interval="month",
            interval_count=1,
            timezone="UTC",
            anchor_day=1,
            day_of_month_anchor=True,
            items=(SubscriptionItem("si", "price", "prod", Decimal(1), meter_id="mtr"),),
            status="active",
            start_at=created,
            created_at=created,
            updated_at=created,
            current_period_start=created,
            current_period_end="2026-02-01T00:00:00Z",
        ),
    )
    store.bill(scope, "cus", "mtr", "sub")
    service = UsageIngestService(
        meters=meters,
        customers=customers,
        subscriptions=subscriptions,
        clocks=InMemoryTestClockRepository(),
        store=store,
        clock=FixedClock(now),
        new_id=CounterIds(),
    )
    timestamp = format_time(now - timedelta(minutes=1))
    rates: list[float] = []
    for n in range(IN_MEMORY_WARMUP + IN_MEMORY_BATCHES):
        events = _events(f"mem{n}", "cus", timestamp)
        gc.collect()
        started = time.perf_counter()
        _, results = service.ingest(scope, events)
        elapsed = time.perf_counter() - started
        if any(r.status != "accepted" for r in results):
            raise RuntimeError("in memory: not every event was accepted")
        if n >= IN_MEMORY_WARMUP:
            rates.append(BATCH / elapsed)
    counted = store.counted(scope, "sub", created, "mtr").count
    if counted != BATCH * (IN_MEMORY_WARMUP + IN_MEMORY_BATCHES):
        raise RuntimeError(f"in memory: {counted} events counted")
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "batches": len(rates),
    }


# --- the run ------------------------------------------------------------------------------------


def _settle_heap() -> None:
    """Collect, then freeze what survives: moto keeps the whole table in this process's heap
    (a Lambda's heap would not hold it), and full collections scanning it mid-batch made the
    batch times of both paths vary by tens of percent."""
    gc.collect()
    gc.freeze()


def _value_of(size: int) -> int:
    """What a batch of ``size`` events of ``_events`` is worth (values 1..10 in turn)."""
    return sum(i % 10 + 1 for i in range(size))


def run() -> dict[str, Any]:
    started = time.perf_counter()
    with billow_on_moto() as env:
        billing = _set_up(env.api, env.tenant_id)
        ingest = ApiClient(load_function("ingest").lambda_handler, env.api.api_key)
        client = dynamodb_client()
        pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="bench-raw-writer")
        handler_times: list[float] = []
        raw_times: list[float] = []
        requests: list[tuple[str, dict[str, Any]]] = []
        sent_value = 0
        with RequestLog(client) as log:
            for n in range(1 + MEASURED_BATCHES):
                measured = n > 0
                size = BATCH if measured else WARMUP_SIZE
                events = _events(f"api{n}-{uuid.uuid4().hex[:8]}", billing.customer_id, _now_text(), size)
                raw = _raw_batch(billing, f"raw{n}-{uuid.uuid4().hex[:8]}", datetime.now(UTC), size)
                # Every transaction gets slower as the table grows: swap which path goes first
                # in every other pair, so neither always runs on the bigger table.
                handler_first = n % 2 == 0
                if not handler_first:
                    _settle_heap()
                    raw_s = _send_raw(client, pool, raw)
                _settle_heap()
                mark = log.mark()
                handler_s = _send(ingest, events)
                if measured:
                    requests.extend(log.since(mark))
                if handler_first:
                    _settle_heap()
                    raw_s = _send_raw(client, pool, raw)
                sent_value += 2 * _value_of(size)  # the raw writes add to the same totals
                if measured:
                    handler_times.append(handler_s)
                    raw_times.append(raw_s)
        pool.shutdown()
        gc.unfreeze()
        usage = env.api.get(f"/v1/subscriptions/{billing.subscription_id}/usage")
        counted_quantity = usage.data["meters"][0]["groups"][0]["quantity"] if usage.status == 200 else None
    emulator_s = time.perf_counter() - started

    events_measured = BATCH * MEASURED_BATCHES
    handler_rate = events_measured / sum(handler_times)
    raw_rate = events_measured / sum(raw_times)
    writes = [(op, p) for op, p in requests if op in WRITE_OPERATIONS]
    reads = [(op, p) for op, p in requests if op in READ_OPERATIONS]
    wcu = sum(write_units(op, p) for op, p in writes)
    marker_wcu = sum(write_units(op, p) for op, p in writes if is_marker_write(op, p))
    by_operation: dict[str, int] = {}
    wcu_by_operation: dict[str, int] = {}
    for op, p in requests:
        by_operation[op] = by_operation.get(op, 0) + 1
        if op in WRITE_OPERATIONS:
            wcu_by_operation[op] = wcu_by_operation.get(op, 0) + write_units(op, p)

    in_memory_started = time.perf_counter()
    memory = _in_memory()
    in_memory_s = time.perf_counter() - in_memory_started

    expected_quantity = str(sent_value)
    return {
        "description": __doc__.strip().splitlines()[0] if __doc__ else "",
        "emulator_handler_events_per_second": figure(
            handler_rate,
            "events/s",
            batches=MEASURED_BATCHES,
            batch_size=BATCH,
            per_batch_ms=[round(t * 1000, 1) for t in handler_times],
            warmup_batch_size=WARMUP_SIZE,
        ),
        "emulator_raw_events_per_second": figure(
            raw_rate,
            "events/s",
            per_batch_ms=[round(t * 1000, 1) for t in raw_times],
            writers=WRITERS,
            transactions_per_batch=math.ceil(BATCH / CHUNK_RECORDS),
        ),
        "ratio": figure(
            handler_rate / raw_rate,
            "handler / raw events per second",
            Target(">=", 0.8),
            per_pair=[round(r / h, 2) for h, r in zip(handler_times, raw_times, strict=True)],
            meaning="batches alternate handler and raw; per_pair: each pair's raw time / handler time",
        ),
        "handler_events_per_second_in_memory": figure(
            memory["median"],
            "events/s (median of batches)",
            Target(">=", 20_000),
            min=round(memory["min"]),
            max=round(memory["max"]),
            batches=memory["batches"],
            batch_size=BATCH,
        ),
        "write_requests_per_event": figure(
            len(writes) / events_measured, "DynamoDB write requests per event"
        ),
        "read_requests_per_event": figure(len(reads) / events_measured, "DynamoDB read requests per event"),
        "wcu_per_event": figure(wcu / events_measured, "WCU per event (estimated)", Target("<=", 1.5)),
        "wcu_floor_per_event": figure(
            marker_wcu / events_measured, "WCU per event of the marker writes alone"
        ),
        "requests_per_batch": {op: n / MEASURED_BATCHES for op, n in sorted(by_operation.items())},
        "wcu_per_batch": {op: n / MEASURED_BATCHES for op, n in sorted(wcu_by_operation.items())},
        "checks": {
            "note": "handler and raw batches add to the same subscription period totals",
            "usage_quantity_after_all_batches": counted_quantity,
            "usage_quantity_expected": expected_quantity,
            "counted_once": counted_quantity == expected_quantity,
        },
        "elapsed": {"emulator_s": round(emulator_s, 1), "in_memory_s": round(in_memory_s, 1)},
    }


if __name__ == "__main__":
    main(run)
