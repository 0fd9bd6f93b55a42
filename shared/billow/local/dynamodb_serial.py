"""Make moto's DynamoDB serialise requests, as DynamoDB itself does per item.

moto's TransactWriteItems snapshots whole tables with deepcopy and restores the snapshot on a
failed condition; two threads at once can raise "dictionary changed size during iteration" or
roll back each other's committed writes. Real DynamoDB never does either, so the local stack
and the tests run every DynamoDB action under one lock. Our own code is unchanged by this:
conditional writes still decide who wins.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.RLock()
_installed = False


def serialise_moto_dynamodb() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _installed = True
