"""Thin helpers over the low-level DynamoDB client shared by the repositories."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

OUTBOX_SHARDS = 8
EVENT_RETENTION = timedelta(days=30)
INDEXES = ("gsi1", "gsi2", "gsi3")
KEY_ATTRIBUTES = ("pk", "sk", *(f"{index}{part}" for index in INDEXES for part in ("pk", "sk")))


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def without_keys(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in KEY_ATTRIBUTES and k not in ("kind", "expires_at")}


def key_of(item: dict[str, Any], index: str | None) -> dict[str, Any]:
    """The storage position of an item in the table or an index (a LastEvaluatedKey)."""
    names = ["pk", "sk"]
    if index:
        names += [f"{index}pk", f"{index}sk"]
    return {name: item[name] for name in names}


def take_page(
    items: Iterator[dict[str, Any]], limit: int, index: str | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Up to ``limit`` items of a query, and the position to continue from when there are more
    (one extra item is read to know)."""
    found: list[dict[str, Any]] = []
    for item in items:
        found.append(item)
        if len(found) > limit:
            break
    more = len(found) > limit
    return found[:limit], key_of(found[limit - 1], index) if more else None


class TransactionCancelled(Exception):
    """A transaction failed; ``reasons`` has one code per item, in order (None = fine)."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons


@dataclass
class Transaction:
    """Items written all or nothing, with a label per item to explain a cancellation."""

    items: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def put(
        self, label: str, table: str, values: dict[str, Any], condition: str | None = None, **extra: Any
    ) -> None:
        put: dict[str, Any] = {"TableName": table, "Item": to_item(values)}
        if condition:
            put["ConditionExpression"] = condition
        put.update(extra)
        self.items.append({"Put": put})
        self.labels.append(label)

    def delete(
        self, label: str, table: str, key: dict[str, Any], condition: str | None = None, **extra: Any
    ) -> None:
        delete: dict[str, Any] = {"TableName": table, "Key": to_item(key)}
        if condition:
            delete["ConditionExpression"] = condition
        delete.update(extra)
        self.items.append({"Delete": delete})
        self.labels.append(label)

    def update(
        self,
        label: str,
        table: str,
        key: dict[str, Any],
        expression: str,
        values: dict[str, Any],
        **extra: Any,
    ) -> None:
        update: dict[str, Any] = {
            "TableName": table,
            "Key": to_item(key),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": to_item(values),
        }
        update.update(extra)
        self.items.append({"Update": update})
        self.labels.append(label)

    def failed_labels(self, error: TransactionCancelled) -> set[str]:
        return {
            label
            for label, reason in zip(self.labels, error.reasons, strict=False)
            if reason == "ConditionalCheckFailed"
        }


class DynamoTable:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.client = client
        self.name = table_name

    def get(self, pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.name, Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def get_many(self, keys: Sequence[dict[str, str]], *, consistent: bool = False) -> list[dict[str, Any]]:
        """BatchGetItem in pages of 100, following unprocessed keys; missing items are left out
        and the order is not the keys'."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            page = [to_item(key) for key in keys[start : start + 100]]
            request: dict[str, Any] = {self.name: {"Keys": page, "ConsistentRead": consistent}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                found.extend(from_item(raw) for raw in response.get("Responses", {}).get(self.name, []))
                request = response.get("UnprocessedKeys") or {}
        return found

    def write(self, transaction: Transaction) -> None:
        if not transaction.items:
            return
        try:
            if len(transaction.items) == 1 and "Put" in transaction.items[0]:
                # One item needs no transaction; a conditional put is atomic on its own.
                put = transaction.items[0]["Put"]
                self.client.put_item(**put)
            else:
                self.client.transact_write_items(TransactItems=transaction.items)  # type: ignore[arg-type]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                raise TransactionCancelled(["ConditionalCheckFailed"]) from None
            if code == "TransactionCanceledException":
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                raise TransactionCancelled([None if r == "None" else r for r in reasons]) from None
            raise

    def query(
        self,
        *,
        index: str | None,
        partition: str,
        newest_first: bool = True,
        start: dict[str, Any] | None = None,
        filter_expression: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        page_size: int = 100,
        sort_below: str | None = None,
        sort_prefix: str | None = None,
        sort_between: tuple[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield items of one partition in key order, following pages lazily; optionally only
        sort keys below a bound, starting with a prefix, or between two bounds (both included)."""
        partition_attr = f"{index}pk" if index else "pk"
        all_names = {"#p": partition_attr, **(names or {})}
        all_values = {":p": partition, **(values or {})}
        condition = "#p = :p"
        if sort_below is not None or sort_prefix is not None or sort_between is not None:
            all_names["#s"] = f"{index}sk" if index else "sk"
        if sort_below is not None:
            all_values[":s"] = sort_below
            condition += " AND #s < :s"
        elif sort_prefix is not None:
            all_values[":s"] = sort_prefix
            condition += " AND begins_with(#s, :s)"
        elif sort_between is not None:
            all_values[":s"], all_values[":t"] = sort_between
            condition += " AND #s BETWEEN :s AND :t"
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": all_names,
            "ExpressionAttributeValues": to_item(all_values),
            "ScanIndexForward": not newest_first,
            "Limit": page_size,
        }
        if index:
            request["IndexName"] = index
        if filter_expression:
            request["FilterExpression"] = filter_expression
        if start:
            request["ExclusiveStartKey"] = to_item(start)
        while True:
            response = self.client.query(**request)
            for item in response.get("Items", []):
                yield from_item(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last


def scope_of(key_prefix: str) -> Scope:
    """The scope a key prefix (``T#{tenant}#{mode}``) names."""
    _, tenant_id, mode = key_prefix.split("#")
    return Scope(tenant_id, mode == "live")


def due_items(
    table: DynamoTable, *, partitions: Sequence[str], before: str, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` entries of sparse gsi2 due-time partitions (sort keys ``{at}#...``) due
    before ``before``, earliest first across the partitions."""
    bound = f"{before}#~"
    streams = [
        table.query(index="gsi2", partition=partition, newest_first=False, sort_below=bound, page_size=limit)
        for partition in partitions
    ]
    merged = heapq.merge(*streams, key=lambda item: str(item["gsi2sk"]))
    return [item for _, item in zip(range(limit), merged, strict=False)]


@dataclass(frozen=True)
class DueIndexEntry:
    at: str
    scope: Scope
    object_id: str
    item: dict[str, Any]


def due_entries(
    table: DynamoTable,
    *,
    clock: tuple[Scope, str] | None,
    clock_partition: Callable[[Scope, str], str],
    shards: Sequence[str],
    before: str,
    limit: int,
) -> list[DueIndexEntry]:
    """The entries of a due-time index, earliest first: a test clock's own partition (sort keys
    ``{at}#{id}``, all of the clock's scope) or the real-time shards (``{at}#{scope}#{id}``)."""
    partitions = [clock_partition(*clock)] if clock else list(shards)
    clock_scope = clock[0] if clock else None
    entries = []
    for item in due_items(table, partitions=partitions, before=before, limit=limit):
        at, _, rest = str(item["gsi2sk"]).partition("#")
        if clock_scope is None:
            key_prefix, _, object_id = rest.rpartition("#")
            scope = scope_of(key_prefix)
        else:
            scope, object_id = clock_scope, rest
        entries.append(DueIndexEntry(at, scope, object_id, item))
    return entries


def outbox_items(scope: Scope, events: Sequence[EventEnvelope]) -> list[dict[str, Any]]:
    """Event records written in the same transaction as the change they describe.

    The sparse gsi2 entry marks an event as not yet published; the relay removes it.
    """
    items = []
    for event in events:
        created = datetime.strptime(event.created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        expires_at = int((created + EVENT_RETENTION).timestamp())
        shard = int(hashlib.sha256(event.id.encode()).hexdigest(), 16) % OUTBOX_SHARDS
        items.append(
            {
                "pk": f"{scope.key_prefix}#EVENT#{event.id}",
                "sk": "EVENT",
                "kind": "event",
                "gsi1pk": f"{scope.key_prefix}#EVENTS",
                "gsi1sk": event.id,
                "gsi2pk": f"OUTBOX#{shard}",
                "gsi2sk": event.id,
                "tenant_id": scope.tenant_id,
                "event_type": event.type,
                "aggregate_type": event.aggregate_type,
                "aggregate_id": event.aggregate_id,
                "envelope": event.as_dict(),
                "expires_at": expires_at,
            }
        )
    return items
