"""The seller's tax profile in the single table, one item per tenant and mode
(docs/data-model.md):

    pk = {scope}#TAX_PROFILE   sk = TAX_PROFILE

written under its read version (or only if absent) together with its events.
"""

from __future__ import annotations

from collections.abc import Sequence

from billow.adapters.dynamodb.table import (
    DynamoTable,
    Transaction,
    TransactionCancelled,
    outbox_items,
    without_keys,
)
from billow.domain.errors import ConcurrentModification
from billow.domain.events import EventEnvelope
from billow.domain.tax_profile import SellerTaxProfile, tax_profile_from_dict, tax_profile_to_dict
from billow.domain.tenancy import Scope

SK = "TAX_PROFILE"


def profile_pk(scope: Scope) -> str:
    return f"{scope.key_prefix}#TAX_PROFILE"


class DynamoTaxProfileRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def get(self, scope: Scope) -> SellerTaxProfile | None:
        item = self.table.get(profile_pk(scope), SK)
        return tax_profile_from_dict(without_keys(item)) if item else None

    def save(
        self,
        scope: Scope,
        before: SellerTaxProfile | None,
        after: SellerTaxProfile,
        events: Sequence[EventEnvelope],
    ) -> None:
        """The profile, only if absent (``before`` None) or still at ``before``'s version, with
        the events; ConcurrentModification otherwise."""
        tx = Transaction()
        item = {"pk": profile_pk(scope), "sk": SK, "kind": "tax_profile", **tax_profile_to_dict(after)}
        if before is None:
            tx.put("tax_profile", self.table.name, item, "attribute_not_exists(pk)")
        else:
            tx.put(
                "tax_profile",
                self.table.name,
                item,
                "#version = :expected",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":expected": {"N": str(before.version)}},
            )
        for event in outbox_items(scope, events):
            tx.put("event", self.table.name, event, "attribute_not_exists(pk)")
        try:
            self.table.write(tx)
        except TransactionCancelled:
            raise ConcurrentModification(detail="the tax profile was changed concurrently") from None
