"""Give moto's DynamoDB Query the partition lookup DynamoDB has.

moto answers every Query, on the table or on a global secondary index, by sorting every item
of the table and then filtering them: a Query costs time in proportion to the table, so a
billing run that queries once per subscription becomes quadratic on the local stack while it
is linear on AWS. This module hands moto's own ``Table.query`` only the items of the partition
asked for: the table's own partition for a base-table Query, and for an index Query the items
whose index partition attribute has the value asked for, kept in a map that every write
updates. moto still applies every key condition, filter, sort and page to those items, so the
answer is the same; only the candidates are fewer.

Every write in moto goes through ``Table.put_item``, ``Table.delete_item`` or, for an update
in place, ``DynamoDBBackend.update_item``; those three keep the map. Callers hold the lock of
``dynamodb_serial``, so the map is never read while it is being changed.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

_installed = False

_PrimaryKey = tuple[Any, Any]


class _PartitionMap:
    """For one table: index partition attribute → value → the items having it."""

    def __init__(self, attributes: frozenset[str]) -> None:
        self.attributes = attributes
        self.items: dict[str, dict[Any, dict[_PrimaryKey, Any]]] = defaultdict(lambda: defaultdict(dict))
        self.values_of: dict[_PrimaryKey, dict[str, Any]] = {}

    def forget(self, key: _PrimaryKey) -> None:
        for attribute, value in self.values_of.pop(key, {}).items():
            bucket = self.items[attribute][value]
            bucket.pop(key, None)
            if not bucket:
                del self.items[attribute][value]

    def remember(self, key: _PrimaryKey, item: Any) -> None:
        self.forget(key)
        values: dict[str, Any] = {}
        for attribute in self.attributes:
            value = item.attrs.get(attribute)
            if value is not None:
                self.items[attribute][value][key] = item
                values[attribute] = value
        if values:
            self.values_of[key] = values


def _index_attributes(table: Any) -> frozenset[str]:
    return frozenset(
        key["AttributeName"]
        for index in table.global_indexes
        for key in index.schema
        if key["KeyType"] == "HASH"
    )


def _partition_map(table: Any) -> _PartitionMap:
    """The table's map, built from its items the first time or when its indexes change."""
    attributes = _index_attributes(table)
    current: _PartitionMap | None = table.__dict__.get("_billow_partitions")
    if current is None or current.attributes != attributes:
        current = _PartitionMap(attributes)
        for hash_set in table.items.values():
            for item in hash_set.values() if table.range_key_attr else [hash_set]:
                current.remember((item.hash_key, item.range_key), item)
        table.__dict__["_billow_partitions"] = current
    return current


def _reindex(table: Any, hash_value: Any, range_value: Any) -> None:
    partitions = table.__dict__.get("_billow_partitions")
    if partitions is None:
        return  # built from the items on the first Query
    item = table.get_item(hash_value, range_value)
    if item is None:
        partitions.forget((hash_value, range_value))
    else:
        partitions.remember((hash_value, range_value), item)


def _candidates(table: Any, hash_key: Any, index_name: str | None, conditions: Any) -> list[Any] | None:
    if not index_name:
        if hash_key is None:
            return None
        partition = table.items.get(hash_key)
        if partition is None:
            return []
        return list(partition.values()) if table.range_key_attr else [partition]
    if not conditions or index_name not in {index.name for index in table.global_indexes}:
        return None  # a local index or an odd request: moto's own full pass
    partitions = _partition_map(table)
    for attribute, value in conditions:
        if attribute in partitions.attributes:
            return list(partitions.items[attribute].get(value, {}).values())
    return None


def index_moto_queries() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item

    @functools.wraps(original_query)
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        found = _candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if found is None:
            return original_query(self, hash_key, *args, **kwargs)
        self.all_items = lambda: found
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    @functools.wraps(original_put)
    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        _reindex(self, item.hash_key, item.range_key)
        return item

    @functools.wraps(original_delete)
    def delete_item(self: Any, hash_value: Any, range_value: Any = None) -> Any:
        try:
            return original_delete(self, hash_value, range_value)
        finally:
            _reindex(self, hash_value, range_value)

    @functools.wraps(original_update)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            if table is not None and table.hash_key_attr in key:
                range_attr = table.range_key_attr
                _reindex(
                    table,
                    DynamoType(key[table.hash_key_attr]),
                    DynamoType(key[range_attr]) if range_attr and range_attr in key else None,
                )

    Table.query = query  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign,assignment]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    _installed = True
