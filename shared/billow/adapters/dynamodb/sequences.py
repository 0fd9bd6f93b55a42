"""Gap-free document sequences: one counter item per tenant, mode and kind of document.

- counter: pk = {scope}#SEQUENCE#{name}   sk = SEQUENCE   (``last``: the last number given)
A number is taken by writing ``last`` forward in the same transaction that stores the numbered
documents, on the condition that it still holds the value read: a finalization that fails
gives its number back simply by never committing, so there are no gaps and no duplicates.
"""

from __future__ import annotations

from billow.adapters.dynamodb.table import DynamoTable, Transaction
from billow.domain.tenancy import Scope


def _key(scope: Scope, name: str) -> dict[str, str]:
    return {"pk": f"{scope.key_prefix}#SEQUENCE#{name}", "sk": "SEQUENCE"}


def last_number(table: DynamoTable, scope: Scope, name: str) -> int:
    item = table.get(**_key(scope, name), consistent=True)
    return int(item["last"]) if item else 0


def stage_advance(tx: Transaction, table: str, scope: Scope, name: str, last: int, to: int) -> None:
    """Move the counter from ``last`` (as read) to ``to``; fails if anyone moved it since."""
    condition = "attribute_not_exists(pk)" if last == 0 else "#last = :last"
    values: dict[str, object] = {":to": to, ":kind": "sequence"}
    if last:
        values[":last"] = last
    tx.update(
        f"sequence:{name}",
        table,
        _key(scope, name),
        "SET #last = :to, #kind = :kind",
        values,
        ConditionExpression=condition,
        ExpressionAttributeNames={"#last": "last", "#kind": "kind"},
    )
