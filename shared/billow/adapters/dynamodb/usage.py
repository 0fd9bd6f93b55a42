"""Usage in the single table (docs/usage.md, docs/data-model.md patterns 30-38).

- dedupe marker  pk = {scope}#UEV#{event_id}                 sk = UEV       one per event, 35-day TTL
- batch journal  pk = {scope}#UBATCH#{batch}                 sk = JOURNAL   the batch's records, 7-day TTL
- chunk applied  pk = {scope}#UBATCH#{batch}                 sk = APPLIED#{origin}
- open batch     pk = USAGE_OPEN#{0..7}                      sk = {opened_at}#{scope}#{batch}
- totals         pk = {scope}#USAGE#{sub}#{period}#{0..3}    sk = {meter}#{group hash}[#X|#U{0..15}]
- period state   pk = {scope}#USAGE#{sub}#{period}#0         sk = STATE     (closed_at: the fence)
- kept events    pk = {scope}#ULOG#{sub}#{period}            sk = {batch}#{origin}
- carried levels pk = {scope}#USAGE#{sub}#LEVELS             sk = LEVELS
- billing guard  pk = {scope}#METER_BILLING#{customer}#{meter} sk = GUARD  (written with the subscription)

One write per event (its marker) plus a few per batch: the additive totals of a batch are
summed in memory and applied in one transaction per subscription period, together with the
chunk's applied marker (exactly once) and the kept copy of its events. Additive totals are
split over ``TOTAL_SHARDS`` partition keys by batch, so no key takes more than a share of a
hot customer's writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from billow.adapters.dynamodb.table import DynamoTable, Transaction, TransactionCancelled, from_item, to_item
from billow.domain.errors import ConcurrentModification
from billow.domain.tenancy import Scope
from billow.domain.usage import Group, GroupTotals, Latest, UsageRecord, group_from_data, totals_of
from billow.ports.usage import (
    DISTINCT_BUCKETS,
    ApplyResult,
    CarriedLevels,
    OpenBatch,
    PeriodUsage,
    RecordOutcome,
    UsageChunk,
)

DEDUPE_WINDOW = timedelta(days=35)
JOURNAL_RETENTION = timedelta(days=7)
TOTAL_SHARDS = 4
# Distinct values of a group spread over this many set items (each holds up to ~400 KB).
DISTINCT_SHARDS = DISTINCT_BUCKETS
OPEN_SHARDS = 8
# Concurrent marker writes per batch (boto3 clients are thread-safe).
WRITERS = 32
_pool: ThreadPoolExecutor | None = None
# (meter id, aggregation, group, the chunk's totals of that group)
Part = tuple[str, str, Group, GroupTotals]


def _writers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="usage-writer")
    return _pool


def _hash(text: str, buckets: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % buckets


def group_key(group: Group) -> str:
    return hashlib.sha256(json.dumps(group).encode()).hexdigest()[:16]


def _pack(records: Sequence[UsageRecord]) -> str:
    """zlib-compressed JSON in base64 text: a string, not a binary attribute, because the
    emulator's stream-to-Lambda bridge cannot serialise binary attributes (docs/local-stack.md)."""
    data = json.dumps([r.to_data() for r in records], separators=(",", ":"), default=str)
    return base64.b64encode(zlib.compress(data.encode(), 6)).decode()


def _unpack(text: Any) -> list[UsageRecord]:
    return [UsageRecord.from_data(d) for d in json.loads(zlib.decompress(base64.b64decode(str(text))))]


class DynamoUsageStore:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    # --- keys ---------------------------------------------------------------------------------

    @staticmethod
    def _marker_pk(scope: Scope, event_id: str) -> str:
        return f"{scope.key_prefix}#UEV#{event_id}"

    @staticmethod
    def _batch_pk(scope: Scope, batch_id: str) -> str:
        return f"{scope.key_prefix}#UBATCH#{batch_id}"

    @staticmethod
    def _period_pk(scope: Scope, subscription_id: str, period_start: str, shard: int) -> str:
        return f"{scope.key_prefix}#USAGE#{subscription_id}#{period_start}#{shard}"

    @staticmethod
    def _log_pk(scope: Scope, subscription_id: str, period_start: str) -> str:
        return f"{scope.key_prefix}#ULOG#{subscription_id}#{period_start}"

    # --- ingest -------------------------------------------------------------------------------

    def open_batch(self, scope: Scope, batch_id: str, records: Sequence[UsageRecord], now: datetime) -> str:
        opened_at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        expires = int((now + JOURNAL_RETENTION).timestamp())
        self.table.client.put_item(
            TableName=self.table.name,
            Item=to_item(
                {
                    "pk": self._batch_pk(scope, batch_id),
                    "sk": "JOURNAL",
                    "kind": "usage_journal",
                    "records": _pack(records),
                    "opened_at": opened_at,
                    "expires_at": expires,
                }
            ),
        )
        self.table.client.put_item(
            TableName=self.table.name,
            Item=to_item(
                {
                    "pk": f"USAGE_OPEN#{_hash(batch_id, OPEN_SHARDS)}",
                    "sk": f"{opened_at}#{scope.key_prefix}#{batch_id}",
                    "kind": "usage_open_batch",
                }
            ),
        )
        return opened_at

    def record_events(
        self, scope: Scope, batch_id: str, records: Sequence[UsageRecord], now: datetime
    ) -> list[RecordOutcome]:
        now_epoch = int(now.timestamp())
        expires = int((now + DEDUPE_WINDOW).timestamp())
        received_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")

        def write(record: UsageRecord) -> RecordOutcome:
            item = {
                "pk": self._marker_pk(scope, record.event_id),
                "sk": "UEV",
                "kind": "usage_event",
                "batch": batch_id,
                "status": "accepted",
                "customer_id": record.customer_id,
                "meter_id": record.meter_id,
                "timestamp": record.timestamp,
                "received_at": received_at,
                "expires_at": expires,
            }
            if record.counted:
                item["subscription_id"] = record.subscription_id
                item["period_start"] = record.period_start
            try:
                self.table.client.put_item(
                    TableName=self.table.name,
                    Item=to_item(item),
                    # A marker past its window is gone in spirit even before TTL removes it.
                    ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                    ExpressionAttributeValues={":now": {"N": str(now_epoch)}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                returned: dict[str, Any] = dict(error.response.get("Item") or {})  # type: ignore[call-overload]
                old = from_item(returned)
                if old.get("status") == "rejected":
                    return RecordOutcome("rejected", old.get("reason_code"), old.get("reason"))
                return RecordOutcome("duplicate")
            return RecordOutcome("accepted")

        if len(records) <= 1:
            return [write(r) for r in records]
        return list(_writers().map(write, records))

    def apply(self, scope: Scope, chunk: UsageChunk) -> ApplyResult:
        """One transaction: the period is still open, the chunk was never applied, its kept
        events, and every total it changes, additive and idempotent alike, so nothing of a
        chunk that a closed period refuses leaks into that period."""
        period_ms = chunk.records[0].period_start_ms if chunk.records else 0
        by_meter: dict[str, list[UsageRecord]] = {}
        for record in chunk.records:
            by_meter.setdefault(record.meter_id, []).append(record)
        parts = [
            (meter_id, chunk.aggregations[meter_id], group, totals)
            for meter_id, records in by_meter.items()
            for group, totals in totals_of((r.fact() for r in records), period_ms).items()
        ]
        for _ in range(5):
            tx = self._chunk_transaction(scope, chunk, parts)
            try:
                self.table.write(tx)
            except TransactionCancelled as cancelled:
                failed = tx.failed_labels(cancelled)
                if "applied" in failed:
                    return "already_applied"
                if "period_open" in failed:
                    return "period_closed"
                if any(label.startswith("extreme:") for label in failed):
                    continue  # a concurrent chunk raised a max or a latest first: read again
                raise
            return "applied"
        raise ConcurrentModification(detail="the usage totals are being raised by many batches at once")

    def _chunk_transaction(self, scope: Scope, chunk: UsageChunk, parts: Sequence[Part]) -> Transaction:
        name = self.table.name
        tx = Transaction()
        state_key = {
            "pk": self._period_pk(scope, chunk.subscription_id, chunk.period_start, 0),
            "sk": "STATE",
        }
        tx.items.append(
            {
                "ConditionCheck": {
                    "TableName": name,
                    "Key": to_item(state_key),
                    "ConditionExpression": "attribute_not_exists(closed_at)",
                }
            }
        )
        tx.labels.append("period_open")
        tx.put(
            "applied",
            name,
            {
                "pk": self._batch_pk(scope, chunk.batch_id),
                "sk": f"APPLIED#{chunk.origin}",
                "kind": "usage_chunk_applied",
                "subscription_id": chunk.subscription_id,
                "period_start": chunk.period_start,
            },
            "attribute_not_exists(pk)",
        )
        tx.put(
            "log",
            name,
            {
                "pk": self._log_pk(scope, chunk.subscription_id, chunk.period_start),
                "sk": f"{chunk.batch_id}#{chunk.origin}",
                "kind": "usage_log",
                "count": len(chunk.records),
                "records": _pack(chunk.records),
            },
        )
        shard = _hash(chunk.batch_id, TOTAL_SHARDS)
        stored = self._extremes(scope, chunk, [(m, g) for m, a, g, _ in parts if a in ("max", "latest")])
        for meter_id, aggregation, group, totals in parts:
            base = f"{meter_id}#{group_key(group)}"
            common = {":m": meter_id, ":g": [list(pair) for pair in group]}
            tx.update(
                "totals",
                name,
                {"pk": self._period_pk(scope, chunk.subscription_id, chunk.period_start, shard), "sk": base},
                "ADD #n :n, #s :s, #ds :ds, #dt :dt SET #m = :m, #g = :g, #k = :k",
                {
                    ":n": totals.count,
                    ":s": totals.sum,
                    ":ds": totals.delta_sum,
                    ":dt": totals.delta_seconds,
                    ":k": "usage_totals",
                    **common,
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
            if aggregation == "unique_count":
                self._stage_distinct(tx, scope, chunk, base, common, totals)
            elif aggregation in ("max", "latest"):
                self._stage_extreme(tx, scope, chunk, base, common, aggregation, totals, stored.get(base))
        return tx

    def _extremes(
        self, scope: Scope, chunk: UsageChunk, keys: Sequence[tuple[str, Group]]
    ) -> dict[str, dict[str, Any]]:
        """The stored max / latest items the chunk may raise, so the transaction carries only
        the updates that do raise them (a failed condition would cancel it all)."""
        if not keys:
            return {}
        pk = self._period_pk(scope, chunk.subscription_id, chunk.period_start, 0)
        items = self._get_many([{"pk": pk, "sk": f"{m}#{group_key(g)}#X"} for m, g in keys])
        return {str(item["sk"])[: -len("#X")]: item for item in items}

    def _get_many(self, keys: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
        return self.table.get_many(keys, consistent=True)

    def _stage_extreme(
        self,
        tx: Transaction,
        scope: Scope,
        chunk: UsageChunk,
        base: str,
        common: dict[str, Any],
        aggregation: str,
        totals: GroupTotals,
        stored: dict[str, Any] | None,
    ) -> None:
        key = {"pk": self._period_pk(scope, chunk.subscription_id, chunk.period_start, 0), "sk": f"{base}#X"}
        if aggregation == "max" and totals.max is not None:
            if (
                stored is not None
                and stored.get("max") is not None
                and Decimal(str(stored["max"])) >= totals.max
            ):
                return
            tx.update(
                f"extreme:{base}",
                self.table.name,
                key,
                "SET #x = :x, #m = :m, #g = :g",
                {":x": totals.max, **common},
                ConditionExpression="attribute_not_exists(#x) OR #x < :x",
                ExpressionAttributeNames={"#x": "max", "#m": "meter_id", "#g": "group"},
            )
        elif aggregation == "latest" and totals.latest is not None:
            latest = totals.latest
            order = f"{latest.at_ms:015d}#{latest.event_id}"
            if stored is not None and str(stored.get("latest_order", "")) >= order:
                return
            tx.update(
                f"extreme:{base}",
                self.table.name,
                key,
                "SET #o = :o, #i = :i, #v = :v, #at = :at, #m = :m, #g = :g",
                {":o": order, ":i": latest.event_id, ":v": latest.value, ":at": latest.at_ms, **common},
                ConditionExpression="attribute_not_exists(#o) OR #o < :o",
                ExpressionAttributeNames={
                    "#o": "latest_order",
                    "#i": "latest_id",
                    "#v": "latest_value",
                    "#at": "latest_ms",
                    "#m": "meter_id",
                    "#g": "group",
                },
            )

    def _stage_distinct(
        self,
        tx: Transaction,
        scope: Scope,
        chunk: UsageChunk,
        base: str,
        common: dict[str, Any],
        totals: GroupTotals,
    ) -> None:
        by_bucket: dict[int, set[str]] = {}
        for text in totals.distinct:
            by_bucket.setdefault(_hash(text, DISTINCT_SHARDS), set()).add(text)
        for bucket, values in sorted(by_bucket.items()):
            pk = self._period_pk(scope, chunk.subscription_id, chunk.period_start, bucket % TOTAL_SHARDS)
            tx.update(
                "distinct",
                self.table.name,
                {"pk": pk, "sk": f"{base}#U{bucket}"},
                "ADD #v :v SET #m = :m, #g = :g",
                {":v": values, **common},
                ExpressionAttributeNames={"#v": "distinct", "#m": "meter_id", "#g": "group"},
            )

    def mark_rejected(
        self, scope: Scope, batch_id: str, event_ids: Sequence[str], code: str, detail: str
    ) -> None:
        for event_id in event_ids:
            try:
                self.table.client.update_item(
                    TableName=self.table.name,
                    Key=to_item({"pk": self._marker_pk(scope, event_id), "sk": "UEV"}),
                    UpdateExpression="SET #st = :st, #rc = :rc, #r = :r REMOVE subscription_id, period_start",
                    ConditionExpression="#b = :b",
                    ExpressionAttributeNames={
                        "#st": "status",
                        "#rc": "reason_code",
                        "#r": "reason",
                        "#b": "batch",
                    },
                    ExpressionAttributeValues=to_item(
                        {":st": "rejected", ":rc": code, ":r": detail, ":b": batch_id}
                    ),
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise

    def mark_rerouted(
        self,
        scope: Scope,
        batch_id: str,
        event_ids: Sequence[str],
        subscription_id: str | None,
        period_start: str | None,
    ) -> None:
        names = {"#b": "batch", "#s": "subscription_id", "#p": "period_start"}
        values: dict[str, Any] = {":b": batch_id}
        if subscription_id is None or period_start is None:
            expression = "REMOVE #s, #p"
        else:
            expression = "SET #s = :s, #p = :p"
            values.update({":s": subscription_id, ":p": period_start})
        for event_id in event_ids:
            try:
                self.table.client.update_item(
                    TableName=self.table.name,
                    Key=to_item({"pk": self._marker_pk(scope, event_id), "sk": "UEV"}),
                    UpdateExpression=expression,
                    ConditionExpression="#b = :b",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_item(values),
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise

    def close_batch(self, scope: Scope, batch_id: str, opened_at: str) -> None:
        self.table.client.delete_item(
            TableName=self.table.name,
            Key=to_item(
                {
                    "pk": f"USAGE_OPEN#{_hash(batch_id, OPEN_SHARDS)}",
                    "sk": f"{opened_at}#{scope.key_prefix}#{batch_id}",
                }
            ),
        )

    # --- recovery -----------------------------------------------------------------------------

    def stale_batches(self, opened_before: str, limit: int) -> list[OpenBatch]:
        found: list[OpenBatch] = []
        for shard in range(OPEN_SHARDS):
            items = self.table.query(
                index=None,
                partition=f"USAGE_OPEN#{shard}",
                newest_first=False,
                sort_below=opened_before,
                page_size=limit,
            )
            for item, _ in zip(items, range(limit), strict=False):
                opened_at, _, rest = str(item["sk"]).partition("#")
                key_prefix, _, batch_id = rest.rpartition("#")
                _, tenant_id, mode = key_prefix.split("#")
                found.append(OpenBatch(Scope(tenant_id, mode == "live"), batch_id, opened_at))
        return sorted(found, key=lambda b: b.opened_at)[:limit]

    def journal(self, scope: Scope, batch_id: str) -> list[UsageRecord] | None:
        item = self.table.get(self._batch_pk(scope, batch_id), "JOURNAL", consistent=True)
        return _unpack(item["records"]) if item else None

    def owned(self, scope: Scope, batch_id: str, event_ids: Sequence[str]) -> set[str]:
        keys = [{"pk": self._marker_pk(scope, i), "sk": "UEV"} for i in dict.fromkeys(event_ids)]
        # Rejected-as-late events stay owned: recovery must rebuild the same chunks.
        return {
            str(item["pk"]).rsplit("#UEV#", 1)[1]
            for item in self._get_many(keys)
            if item.get("batch") == batch_id
        }

    # --- periods ------------------------------------------------------------------------------

    def period_usage(self, scope: Scope, subscription_id: str, period_start: str) -> PeriodUsage:
        totals: dict[str, dict[Group, GroupTotals]] = {}
        closed_at: str | None = None
        for shard in range(TOTAL_SHARDS):
            pk = self._period_pk(scope, subscription_id, period_start, shard)
            for item in self.table.query(index=None, partition=pk, newest_first=False, page_size=500):
                if item["sk"] == "STATE":
                    closed_at = item.get("closed_at")
                    continue
                meter_id = str(item["meter_id"])
                group = group_from_data(item.get("group"))
                part = _totals_of_item(item)
                groups = totals.setdefault(meter_id, {})
                groups[group] = groups.get(group, GroupTotals()).merge(part)
        return PeriodUsage(totals=totals, closed_at=closed_at)

    def close_period(self, scope: Scope, subscription_id: str, period_start: str, closed_at: str) -> None:
        try:
            self.table.client.put_item(
                TableName=self.table.name,
                Item=to_item(
                    {
                        "pk": self._period_pk(scope, subscription_id, period_start, 0),
                        "sk": "STATE",
                        "kind": "usage_period",
                        "closed_at": closed_at,
                    }
                ),
                ConditionExpression="attribute_not_exists(closed_at)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def period_log(self, scope: Scope, subscription_id: str, period_start: str) -> list[UsageRecord]:
        records: list[UsageRecord] = []
        pk = self._log_pk(scope, subscription_id, period_start)
        for item in self.table.query(index=None, partition=pk, newest_first=False, page_size=100):
            records.extend(_unpack(item["records"]))
        return records

    def levels(self, scope: Scope, subscription_id: str) -> CarriedLevels | None:
        item = self.table.get(f"{scope.key_prefix}#USAGE#{subscription_id}#LEVELS", "LEVELS", consistent=True)
        if item is None:
            return None
        return CarriedLevels(
            period_start=str(item["period_start"]),
            opening={k: Decimal(str(v)) for k, v in (item.get("opening") or {}).items()},
            closing={k: Decimal(str(v)) for k, v in (item.get("closing") or {}).items()},
        )

    def save_levels(self, scope: Scope, subscription_id: str, levels: CarriedLevels) -> None:
        try:
            self.table.client.put_item(
                TableName=self.table.name,
                Item=to_item(
                    {
                        "pk": f"{scope.key_prefix}#USAGE#{subscription_id}#LEVELS",
                        "sk": "LEVELS",
                        "kind": "usage_levels",
                        "period_start": levels.period_start,
                        "opening": levels.opening,
                        "closing": levels.closing,
                    }
                ),
                # Periods close in order; a retried close writes the same levels again.
                ConditionExpression="attribute_not_exists(period_start) OR period_start <= :p",
                ExpressionAttributeValues={":p": {"S": levels.period_start}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    # --- lookups ------------------------------------------------------------------------------

    def billing_subscription(self, scope: Scope, customer_id: str, meter_id: str) -> str | None:
        item = self.table.get(
            f"{scope.key_prefix}#METER_BILLING#{customer_id}#{meter_id}", "GUARD", consistent=True
        )
        return str(item["subscription_id"]) if item else None

    def event(self, scope: Scope, event_id: str) -> dict[str, Any] | None:
        item = self.table.get(self._marker_pk(scope, event_id), "UEV", consistent=True)
        if item is None:
            return None
        return {
            "id": event_id,
            "object": "usage_event",
            "status": item.get("status"),
            "reason": {"code": item["reason_code"], "detail": item.get("reason")}
            if item.get("reason_code")
            else None,
            "customer_id": item.get("customer_id"),
            "meter_id": item.get("meter_id"),
            "timestamp": item.get("timestamp"),
            "received_at": item.get("received_at"),
            "subscription_id": item.get("subscription_id"),
            "period_start": item.get("period_start"),
        }


def _totals_of_item(item: dict[str, Any]) -> GroupTotals:
    sk = str(item["sk"])
    if "#U" in sk:
        return GroupTotals(distinct=frozenset(str(v) for v in item.get("distinct") or ()))
    if sk.endswith("#X"):
        latest = None
        if item.get("latest_id") is not None:
            latest = Latest(
                int(item["latest_ms"]), str(item["latest_id"]), Decimal(str(item["latest_value"]))
            )
        maximum = Decimal(str(item["max"])) if item.get("max") is not None else None
        return GroupTotals(max=maximum, latest=latest)
    return GroupTotals(
        count=int(item.get("count", 0)),
        sum=Decimal(str(item.get("sum", 0))),
        delta_sum=Decimal(str(item.get("delta_sum", 0))),
        delta_seconds=Decimal(str(item.get("delta_seconds", 0))),
    )
