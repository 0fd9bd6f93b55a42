"""Dunning policies in the single table (an EntityStore of kind "dunning_policy"), and the
lookup items that say which policy holds a customer, a plan or the tenant's default
(docs/data-model.md):

    pk = {scope}#DUNNING_FOR#CUSTOMER#{customer_id}   sk = DUNNING_FOR   policy_id
    pk = {scope}#DUNNING_FOR#PLAN#{plan_id}           sk = DUNNING_FOR   policy_id
    pk = {scope}#DUNNING_FOR#DEFAULT                  sk = DUNNING_FOR   policy_id

The lookup items are written with the policy by PolicyLookups (policy_lookups.py), on condition
that they are free or already name the policy that held them before: two policies never hold
the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.policy_lookups import PolicyLookups
from billow.adapters.dynamodb.table import DynamoTable
from billow.domain.dunning import (
    Attachment,
    DunningPolicy,
    dunning_policy_from_dict,
    dunning_policy_to_dict,
)
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult

DUNNING_POLICY = EntityKind[DunningPolicy](
    name="dunning_policy",
    to_dict=dunning_policy_to_dict,
    from_dict=dunning_policy_from_dict,
)
LOOKUP_SK = "DUNNING_FOR"


def _taken(attachment: Attachment, holder: str) -> str:
    return f"{attachment.kind} {attachment.target_id} is attached to dunning policy {holder}"


class DynamoDunningPolicyRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, DUNNING_POLICY)
        self.lookups = PolicyLookups[DunningPolicy, Attachment](
            self.store, LOOKUP_SK, _taken, "a customer or plan follows one dunning policy"
        )

    def get(self, scope: Scope, policy_id: str) -> DunningPolicy | None:
        return self.store.get(scope, policy_id)

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[DunningPolicy]:
        return self.store.list(scope, page, ItemFilter().equals("status", status))

    def holder(self, scope: Scope, attachment: Attachment) -> str | None:
        """The id of the policy holding a customer, a plan or the default (one GetItem)."""
        return self.lookups.holder(scope, attachment)

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[DunningPolicy | None, DunningPolicy]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """Policies under their read versions (a new default and the old one), the lookup items
        whose holder changes, and the events: all or nothing."""
        self.lookups.save(scope, changes, events)
