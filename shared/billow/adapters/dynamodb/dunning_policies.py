"""Dunning policies in the single table (an EntityStore of kind "dunning_policy"), and the
lookup items that say which policy holds a customer, a plan or the tenant's default
(docs/data-model.md):

    pk = {scope}#DUNNING_FOR#CUSTOMER#{customer_id}   sk = DUNNING_FOR   policy_id
    pk = {scope}#DUNNING_FOR#PLAN#{plan_id}           sk = DUNNING_FOR   policy_id
    pk = {scope}#DUNNING_FOR#DEFAULT                  sk = DUNNING_FOR   policy_id

A lookup item is written in the same transaction as the policy, on condition that it is free
or already names the policy that held it before: two policies never hold the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable, Transaction
from billow.domain.dunning import (
    Attachment,
    AttachmentMove,
    DunningPolicy,
    attachment_moves,
    dunning_policy_from_dict,
    dunning_policy_to_dict,
)
from billow.domain.errors import ConcurrentModification, Conflict, FieldError
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult

DUNNING_POLICY = EntityKind[DunningPolicy](
    name="dunning_policy",
    to_dict=dunning_policy_to_dict,
    from_dict=dunning_policy_from_dict,
)
LOOKUP_SK = "DUNNING_FOR"


def lookup_pk(scope: Scope, attachment: Attachment) -> str:
    target = f"#{attachment.target_id}" if attachment.target_id else ""
    return f"{scope.key_prefix}#DUNNING_FOR#{attachment.kind.upper()}{target}"


def _label(attachment: Attachment) -> str:
    return f"dunning_for:{attachment.kind}:{attachment.target_id}"


class DynamoDunningPolicyRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, DUNNING_POLICY)

    def get(self, scope: Scope, policy_id: str) -> DunningPolicy | None:
        return self.store.get(scope, policy_id)

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[DunningPolicy]:
        return self.store.list(scope, page, ItemFilter().equals("status", status))

    def holder(self, scope: Scope, attachment: Attachment) -> str | None:
        """The id of the policy holding a customer, a plan or the default (one GetItem)."""
        item = self.table.get(lookup_pk(scope, attachment), LOOKUP_SK, consistent=True)
        return str(item["policy_id"]) if item else None

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[DunningPolicy | None, DunningPolicy]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """Policies under their read versions (a new default and the old one), the lookup items
        whose holder changes, and the events: all or nothing."""
        tx = Transaction()
        moves = attachment_moves(changes)
        for move in moves:
            self._stage_lookup(tx, scope, move)
        try:
            self.store.write(scope, changes, events, extra=tx)
        except ConcurrentModification:
            self._refuse_taken(scope, changes, moves)
            raise

    def _stage_lookup(self, tx: Transaction, scope: Scope, move: AttachmentMove) -> None:
        attachment, old, new = move
        key = {"pk": lookup_pk(scope, attachment), "sk": LOOKUP_SK}
        # Free, or held by the policy that gives it up (or takes it) in this same write.
        holders = [holder for holder in (old, new) if holder is not None]
        values = {f":h{i}": {"S": holder} for i, holder in enumerate(holders)}
        condition = " OR ".join(["attribute_not_exists(pk)", *(f"policy_id = {v}" for v in values)])
        if new is None:
            tx.delete(_label(attachment), self.table.name, key, condition, ExpressionAttributeValues=values)
            return
        item = {**key, "kind": f"dunning_policy_{attachment.kind}", "policy_id": new}
        tx.put(_label(attachment), self.table.name, item, condition, ExpressionAttributeValues=values)

    def _refuse_taken(
        self,
        scope: Scope,
        changes: Sequence[tuple[DunningPolicy | None, DunningPolicy]],
        moves: Sequence[AttachmentMove],
    ) -> None:
        """After a failed write: a customer or plan the write took that another policy holds now
        is the client's conflict; anything else (the default moved, a policy changed) is a race
        the caller retries."""
        written = {after.id: after for _, after in changes}
        errors: list[FieldError] = []
        details: list[str] = []
        for attachment, _, new in moves:
            if attachment.kind == "default" or new is None:
                continue
            holder = self.holder(scope, attachment)
            if holder is None or holder in written:
                continue
            message = f"{attachment.kind} {attachment.target_id} is attached to dunning policy {holder}"
            errors.append(FieldError(written[new].pointer_of(attachment), message))
            details.append(message)
        if errors:
            raise Conflict(
                detail="; ".join(details) + ": a customer or plan follows one dunning policy", errors=errors
            )
