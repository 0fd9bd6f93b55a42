"""Make moto's DynamoDB serialise requests, as DynamoDB itself does per item, and keep its
transactions cheap.

moto's TransactWriteItems snapshots whole tables with deepcopy and restores the snapshot on a
failed condition; two threads at once can raise "dictionary changed size during iteration" or
roll back each other's committed writes. Real DynamoDB never does either, so the local stack
and the tests run every DynamoDB action under one lock. Our own code is unchanged by this:
conditional writes still decide who wins.

The whole-table snapshot also makes every transaction cost time in proportion to the table
(a billing run over 10,000 subscriptions became quadratic). Under the lock a transaction can
instead remember only the items it touches and put those back when it is cancelled: the same
all-or-nothing outcome, at a cost in proportion to the transaction.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_lock = threading.RLock()
_installed = False
_state = threading.local()


class _CopyShim:
    """moto's module-level ``copy``: a table is not copied while a transaction keeps an undo
    log of its own (the table object itself stands in for the snapshot)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if isinstance(value, Table) and getattr(_state, "undo", None) is not None:
            return value
        return copy.deepcopy(value, memo)


def _item_key(backend: Any, operation: str, request: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    table_name = request.get("TableName")
    if not table_name or table_name not in backend.tables:
        return None
    if operation != "Put":
        return table_name, request["Key"]
    table = backend.tables[table_name]
    attrs = request["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None and table.range_key_attr in attrs:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return table_name, key


def _transact_with_undo_log(original: Any) -> Any:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        undo: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for entry in transact_items:
            if len(entry) != 1:
                continue  # moto rejects it before writing anything
            operation, request = next(iter(entry.items()))
            found = _item_key(self, operation, request)
            if found is None:
                continue
            table_name, key = found
            try:
                before = self.get_item(table_name, key)
            except Exception:  # noqa: BLE001, S112 - an invalid key: moto reports it in the call below
                continue
            undo.append((table_name, key, copy.deepcopy(before.to_json()["Attributes"]) if before else None))
        _state.undo = undo
        try:
            return original(self, transact_items)
        except BaseException:
            for table_name, key, before in reversed(undo):
                if before is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before)
            raise
        finally:
            _state.undo = None

    return transact_write_items


def serialise_moto_dynamodb() -> None:
    global _installed
    if _installed:
        return
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    from billow.local.dynamodb_query_index import index_moto_queries

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    dynamodb_models.copy = _CopyShim()  # type: ignore[attr-defined,assignment]
    DynamoDBBackend.transact_write_items = _transact_with_undo_log(  # type: ignore[method-assign]
        DynamoDBBackend.__dict__["transact_write_items"]
    )
    index_moto_queries()
    _installed = True
