"""The lookup items through which a policy holds its attachments (docs/data-model.md): one item
per attachment, under ``{scope}#{FOR}#{label}`` / ``{FOR}`` (``FOR`` is ``DUNNING_FOR`` or
``FX_FOR``), naming the holder in ``policy_id``.

A lookup item is written in the policy's transaction, on condition that it is free or names the
policy giving it up (or taking it) in that same write, so two policies never hold one thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from billow.adapters.dynamodb.entities import EntityStore
from billow.adapters.dynamodb.table import DynamoTable, Transaction
from billow.domain.errors import ConcurrentModification, Conflict, FieldError
from billow.domain.events import EventEnvelope
from billow.domain.policy_attachments import (
    AttachingPolicy,
    AttachmentMove,
    PolicyAttachment,
    attachment_moves,
)
from billow.domain.tenancy import Scope

P = TypeVar("P", bound=AttachingPolicy[Any])
A = TypeVar("A", bound=PolicyAttachment)


class PolicyLookups(Generic[P, A]):
    """Saves ``store``'s policies with their lookup items under ``lookup`` (the items' sort key
    and key part). ``taken(attachment, holder)`` says that another policy holds an attachment;
    ``rule`` closes the Conflict's detail."""

    def __init__(self, store: EntityStore[P], lookup: str, taken: Callable[[A, str], str], rule: str) -> None:
        self.table: DynamoTable = store.table
        self.store = store
        self.lookup = lookup
        self.taken = taken
        self.rule = rule

    def pk(self, scope: Scope, attachment: A) -> str:
        return f"{scope.key_prefix}#{self.lookup}#{attachment.label}"

    def holder(self, scope: Scope, attachment: A) -> str | None:
        """The id of the policy holding the attachment (one consistent GetItem)."""
        item = self.table.get(self.pk(scope, attachment), self.lookup, consistent=True)
        return str(item["policy_id"]) if item else None

    def save(
        self, scope: Scope, changes: Sequence[tuple[P | None, P]], events: Sequence[EventEnvelope]
    ) -> None:
        """The policies under their read versions, the lookup items whose holder changes, and
        the events: all or nothing. Conflict when another policy holds an attachment the write
        takes; ConcurrentModification on any other race."""
        tx = Transaction()
        moves: list[AttachmentMove[A]] = attachment_moves(changes)
        for move in moves:
            self._stage(tx, scope, move)
        try:
            self.store.write(scope, changes, events, extra=tx)
        except ConcurrentModification:
            self._refuse_taken(scope, changes, moves)
            raise

    def _stage(self, tx: Transaction, scope: Scope, move: AttachmentMove[A]) -> None:
        attachment, old, new = move
        key = {"pk": self.pk(scope, attachment), "sk": self.lookup}
        # Free, or held by the policy that gives it up (or takes it) in this same write.
        holders = [holder for holder in (old, new) if holder is not None]
        values = {f":h{i}": {"S": holder} for i, holder in enumerate(holders)}
        condition = " OR ".join(["attribute_not_exists(pk)", *(f"policy_id = {v}" for v in values)])
        label = f"{self.lookup.lower()}:{attachment.label}"
        if new is None:
            tx.delete(label, self.table.name, key, condition, ExpressionAttributeValues=values)
            return
        item = {**key, "kind": f"{self.store.kind.name}_{attachment.kind}", "policy_id": new}
        tx.put(label, self.table.name, item, condition, ExpressionAttributeValues=values)

    def _refuse_taken(
        self, scope: Scope, changes: Sequence[tuple[P | None, P]], moves: Sequence[AttachmentMove[A]]
    ) -> None:
        """After a failed write: an attachment the write took that another policy holds now is
        the client's conflict; anything else (the default moved, a policy changed) is a race the
        caller retries."""
        written = {after.id: after for _, after in changes}
        errors: list[FieldError] = []
        for attachment, _, new in moves:
            if attachment.kind == "default" or new is None:
                continue
            holder = self.holder(scope, attachment)
            if holder is None or holder in written:
                continue
            errors.append(FieldError(written[new].pointer_of(attachment), self.taken(attachment, holder)))
        if errors:
            raise Conflict(detail="; ".join(e.message for e in errors) + f": {self.rule}", errors=errors)
