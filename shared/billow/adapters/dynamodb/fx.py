"""FX and EU VAT rate data in the single table (docs/data-model.md, docs/fx.md).

Public reference data, the same for every tenant, so its keys carry no scope:

    pk = FX_RATES#{source}             sk = {YYYY-MM-DD}    one publication (e.g. the ECB's)
    pk = EU_VAT_RATES                  sk = CURRENT         the table in use
    pk = EU_VAT_RATES                  sk = {as_of}         each table that was in use (history)
    pk = SCHEDULED_REFRESH#{name}      sk = STATE           when a scheduled refresh last tried

None of these items holds tenant data: a rate publication is what the ECB (or the Commission)
publishes for everyone, and keeping one copy rather than one per tenant means one refresh and
one truth. Nothing tenant-specific is ever written under these keys.

A tenant's own FX objects are scoped like every other object (EntityStores):

    pk = {scope}#FX_POLICY#{id}                   sk = FX_POLICY          gsi1 {scope}#FX_POLICYS / {id}
    pk = {scope}#FX_FOR#DEFAULT                   sk = FX_FOR             policy_id (the default)
    pk = {scope}#FX_FOR#PAIR#{base}:{quote}       sk = FX_FOR             policy_id (the pair's)
    pk = {scope}#FX_OVERRIDE#{id}                 sk = FX_OVERRIDE        gsi1 {scope}#FX_OVERRIDES / {id}
    pk = {scope}#FX_OVERRIDES_FOR#{base}:{quote}  sk = FX_OVERRIDES_FOR   the pair's overrides' dates

A lookup item is written in the policy's transaction (PolicyLookups, policy_lookups.py), on
condition that it is free or names the policy giving it up, so two policies never hold one pair
(or the default). The per-pair
override index is written under its own version in the transaction that creates or deletes an
override: two overlapping overrides of a pair cannot both be written, and finding the override
for a date is one read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.policy_lookups import PolicyLookups
from billow.adapters.dynamodb.table import (
    DynamoTable,
    Transaction,
    TransactionCancelled,
    from_item,
    outbox_items,
    to_item,
)
from billow.domain.errors import ConcurrentModification
from billow.domain.eu_vat import EuVatRates
from billow.domain.events import EventEnvelope
from billow.domain.fx import (
    CurrencyPair,
    FxAttachment,
    FxOverride,
    FxPolicy,
    OverrideIndex,
    OverrideSpan,
    fx_override_from_dict,
    fx_override_to_dict,
    fx_policy_from_dict,
    fx_policy_to_dict,
)
from billow.domain.reference_rates import ReferenceRates
from billow.domain.tenancy import Scope
from billow.ports.queries import Page, PageResult

# --- public reference data ---------------------------------------------------------------------


def rates_pk(source: str) -> str:
    return f"FX_RATES#{source}"


def _publication_item(publication: ReferenceRates, fetched_at: str) -> dict[str, Any]:
    return {
        "pk": rates_pk(publication.source),
        "sk": publication.rate_date.isoformat(),
        "kind": "fx_reference_rates",
        "source": publication.source,
        "rate_date": publication.rate_date.isoformat(),
        "base": publication.base,
        # Decimal strings: exactly what the source published, whatever DynamoDB's number rules.
        "rates": {code: str(rate) for code, rate in publication.rates.items()},
        "fetched_at": fetched_at,
    }


def _publication(item: dict[str, Any]) -> ReferenceRates:
    return ReferenceRates(
        source=str(item["source"]),
        rate_date=date.fromisoformat(str(item["rate_date"])),
        base=str(item["base"]),
        rates={str(code): Decimal(str(rate)) for code, rate in item["rates"].items()},
    )


class DynamoReferenceRateStore:
    """Reference rate publications, one item per source and date, never changed once stored:
    an invoice that pinned a date's rate can always be explained from it."""

    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def held_dates(self, source: str, since: date, until: date) -> set[date]:
        """The dates of the publications held from ``since`` to ``until`` (inclusive)."""
        request: dict[str, Any] = {
            "TableName": self.table.name,
            "KeyConditionExpression": "#pk = :p AND #sk BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": to_item(
                {":p": rates_pk(source), ":a": since.isoformat(), ":b": until.isoformat()}
            ),
            "ProjectionExpression": "#sk",
        }
        held: set[date] = set()
        while True:
            response = self.table.client.query(**request)
            held.update(date.fromisoformat(str(from_item(item)["sk"])) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return held
            request["ExclusiveStartKey"] = last

    def add(self, publication: ReferenceRates, fetched_at: str) -> bool:
        """Store a publication unless one of its date is held (False then: the first stays)."""
        tx = Transaction()
        tx.put(
            "publication",
            self.table.name,
            _publication_item(publication, fetched_at),
            "attribute_not_exists(pk)",
        )
        try:
            self.table.write(tx)
        except TransactionCancelled:
            return False
        return True

    def on_or_before(self, source: str, on: date) -> ReferenceRates | None:
        """The latest publication dated ``on`` or earlier (one query of one item)."""
        bound = (on + timedelta(days=1)).isoformat()
        items = self.table.query(index=None, partition=rates_pk(source), sort_below=bound, page_size=1)
        first = next(items, None)
        return _publication(first) if first else None

    def latest(self, source: str) -> ReferenceRates | None:
        first = next(self.table.query(index=None, partition=rates_pk(source), page_size=1), None)
        return _publication(first) if first else None


VAT_PK = "EU_VAT_RATES"
VAT_CURRENT = "CURRENT"


@dataclass(frozen=True)
class StoredVatRates:
    rates: EuVatRates
    refreshed_at: str


class DynamoEuVatRateStore:
    """The EU VAT rate table in use, and every table that was (by its ``as_of``)."""

    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def current(self) -> StoredVatRates | None:
        item = self.table.get(VAT_PK, VAT_CURRENT, consistent=True)
        if item is None:
            return None
        return StoredVatRates(EuVatRates.from_dict(item["table"]), str(item["refreshed_at"]))

    def history(self, as_of: date) -> EuVatRates | None:
        item = self.table.get(VAT_PK, as_of.isoformat())
        return EuVatRates.from_dict(item["table"]) if item else None

    def save(self, rates: EuVatRates, refreshed_at: str, *, changed: bool) -> bool:
        """Make ``rates`` the current table unless a newer one (a later ``as_of``) is current
        already (False then). A table that ``changed`` from the current one is also kept in the
        history under its ``as_of``; an unchanged one only moves ``refreshed_at``."""
        body = {"kind": "eu_vat_rates", "table": rates.to_dict(), "as_of": rates.as_of.isoformat()}
        if changed:
            history = Transaction()
            history.put(
                "history",
                self.table.name,
                {"pk": VAT_PK, "sk": rates.as_of.isoformat(), **body, "stored_at": refreshed_at},
                "attribute_not_exists(pk)",
            )
            with contextlib.suppress(TransactionCancelled):  # that date's table is in the history already
                self.table.write(history)
        current = Transaction()
        current.put(
            "current",
            self.table.name,
            {"pk": VAT_PK, "sk": VAT_CURRENT, **body, "refreshed_at": refreshed_at},
            "attribute_not_exists(pk) OR as_of <= :as_of",
            ExpressionAttributeValues={":as_of": {"S": rates.as_of.isoformat()}},
        )
        try:
            self.table.write(current)
        except TransactionCancelled:
            return False
        return True


@dataclass(frozen=True)
class RefreshState:
    attempted_at: str
    succeeded_at: str | None
    error: str | None


class DynamoRefreshLog:
    """When each scheduled refresh last tried and last succeeded; lets a refresh fired far more
    often than needed (the local ticker fires every schedule every 2 s) skip the source."""

    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def get(self, name: str) -> RefreshState | None:
        item = self.table.get(f"SCHEDULED_REFRESH#{name}", "STATE", consistent=True)
        if item is None:
            return None
        return RefreshState(str(item["attempted_at"]), item.get("succeeded_at"), item.get("error"))

    def attempt(self, name: str, at: str, *, not_since: str) -> bool:
        """Note an attempt at ``at``, unless one was noted after ``not_since`` (False: another
        run is trying, or tried, recently). Conditional, so two runs at once try once."""
        try:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=to_item({"pk": f"SCHEDULED_REFRESH#{name}", "sk": "STATE"}),
                UpdateExpression="SET #kind = :kind, attempted_at = :at REMOVE #error",
                ConditionExpression="attribute_not_exists(attempted_at) OR attempted_at <= :since",
                ExpressionAttributeNames={"#kind": "kind", "#error": "error"},
                ExpressionAttributeValues=to_item(
                    {":kind": "scheduled_refresh", ":at": at, ":since": not_since}
                ),
            )
        except self.table.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def finished(self, name: str, at: str, error: str | None) -> None:
        key = to_item({"pk": f"SCHEDULED_REFRESH#{name}", "sk": "STATE"})
        if error is None:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=key,
                UpdateExpression="SET succeeded_at = :at REMOVE #error",
                ExpressionAttributeNames={"#error": "error"},
                ExpressionAttributeValues=to_item({":at": at}),
            )
        else:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=key,
                UpdateExpression="SET #error = :error",
                ExpressionAttributeNames={"#error": "error"},
                ExpressionAttributeValues=to_item({":error": error[:1000]}),
            )


# --- a tenant's policies -----------------------------------------------------------------------

FX_POLICY = EntityKind[FxPolicy](name="fx_policy", to_dict=fx_policy_to_dict, from_dict=fx_policy_from_dict)
LOOKUP_SK = "FX_FOR"


def _taken(attachment: FxAttachment, holder: str) -> str:
    # Only pairs are refused as taken: a default that moved meanwhile is a race, retried.
    pair = attachment.pair.key if attachment.pair else attachment.label
    return f"{pair} is governed by FX policy {holder}"


class DynamoFxPolicyRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, FX_POLICY)
        self.lookups = PolicyLookups[FxPolicy, FxAttachment](
            self.store, LOOKUP_SK, _taken, "a currency pair follows one FX policy"
        )

    def get(self, scope: Scope, policy_id: str) -> FxPolicy | None:
        return self.store.get(scope, policy_id)

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[FxPolicy]:
        return self.store.list(scope, page, ItemFilter().equals("status", status))

    def holder(self, scope: Scope, attachment: FxAttachment) -> str | None:
        """The id of the policy holding a pair or the default (one consistent GetItem)."""
        return self.lookups.holder(scope, attachment)

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[FxPolicy | None, FxPolicy]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """The policies under their read versions, the lookup items whose holder changes, and
        the events: all or nothing. Conflict when another policy holds a pair the write takes."""
        self.lookups.save(scope, changes, events)


# --- a tenant's overrides ----------------------------------------------------------------------

FX_OVERRIDE = EntityKind[FxOverride](
    name="fx_override", to_dict=fx_override_to_dict, from_dict=fx_override_from_dict
)
INDEX_SK = "FX_OVERRIDES_FOR"


def index_pk(scope: Scope, pair: CurrencyPair) -> str:
    return f"{scope.key_prefix}#FX_OVERRIDES_FOR#{pair.key}"


class DynamoFxOverrideRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, FX_OVERRIDE)

    def get(self, scope: Scope, override_id: str) -> FxOverride | None:
        return self.store.get(scope, override_id)

    def list(
        self,
        scope: Scope,
        page: Page,
        base_currency: str | None = None,
        quote_currency: str | None = None,
    ) -> PageResult[FxOverride]:
        item_filter = (
            ItemFilter().equals("base_currency", base_currency).equals("quote_currency", quote_currency)
        )
        return self.store.list(scope, page, item_filter)

    def index(self, scope: Scope, pair: CurrencyPair) -> OverrideIndex:
        item = self.table.get(index_pk(scope, pair), INDEX_SK, consistent=True)
        if item is None:
            return OverrideIndex((), 0)
        spans = tuple(OverrideSpan.from_dict(span) for span in item.get("spans") or ())
        return OverrideIndex(spans, int(item["version"]))

    def _stage_index(
        self,
        tx: Transaction,
        scope: Scope,
        pair: CurrencyPair,
        before: OverrideIndex,
        spans: Sequence[OverrideSpan],
    ) -> None:
        item = {
            "pk": index_pk(scope, pair),
            "sk": INDEX_SK,
            "kind": "fx_override_index",
            "spans": [span.to_dict() for span in spans],
            "version": before.version + 1,
        }
        if before.version == 0:
            tx.put("index", self.table.name, item, "attribute_not_exists(pk)")
        else:
            tx.put(
                "index",
                self.table.name,
                item,
                "#version = :expected",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":expected": {"N": str(before.version)}},
            )

    def create(
        self, scope: Scope, override: FxOverride, index: OverrideIndex, events: Sequence[EventEnvelope]
    ) -> None:
        """The override, the pair's index with its dates added (under the index's read version:
        ConcurrentModification when another write of the pair came first), the events."""
        tx = Transaction()
        self._stage_index(tx, scope, override.pair, index, [*index.spans, override.span])
        self.store.write(scope, [(None, override)], events, extra=tx)

    def delete(
        self, scope: Scope, override: FxOverride, index: OverrideIndex, events: Sequence[EventEnvelope]
    ) -> None:
        tx = Transaction()
        remaining = [span for span in index.spans if span.id != override.id]
        self._stage_index(tx, scope, override.pair, index, remaining)
        tx.delete(
            "fx_override:entity",
            self.table.name,
            {"pk": f"{scope.key_prefix}#{FX_OVERRIDE.key}#{override.id}", "sk": FX_OVERRIDE.key},
            "attribute_exists(pk)",
        )
        for item in outbox_items(scope, events):
            tx.put("event", self.table.name, item, "attribute_not_exists(pk)")
        try:
            self.table.write(tx)
        except TransactionCancelled:
            raise ConcurrentModification(detail="the FX override was changed concurrently") from None
