"""Invoices and credit notes in the single table (docs/data-model.md).

- invoice: an EntityStore of kind "invoice"; its external-id guard holds
  "subscription:billing_reason:period_start", so a period is invoiced once however often its
  step runs.
- invoice work: a sparse gsi2 entry while an invoice has work ahead: a draft to finalize at
  ``finalize_at`` or a finalized invoice to hand over to payment collection. In real time
  ``INVOICE_WORK#{shard}`` / ``{at}#{scope}#{id}``; in a test clock
  ``{scope}#CLOCK#{clock_id}#INVOICE_WORK`` / ``{at}#{id}``.
- credit note: an EntityStore of kind "credit_note".
- tax day: a sparse gsi3 entry on every document the tax report counts, in the partition of
  the UTC day of its tax point: an invoice while it is finalized, paid or uncollectible (by
  ``finalized_at``), a credit note always (by ``created_at``).
  ``{scope}#TAX_DAY#{YYYY-MM-DD}`` / ``{at}#{id}``. Every write of the item rewrites it, so a
  voided invoice leaves the index in the write that voids it. ``reindex_tax_days`` writes it
  on items stored before the index existed.
- numbers: the gap-free counters of adapters/dynamodb/sequences.py, advanced in the same
  transaction that stores the numbered documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from billow.adapters.dynamodb.credit_balances import stage_credits
from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.sequences import last_number, stage_advance
from billow.adapters.dynamodb.table import (
    DynamoTable,
    Transaction,
    TransactionCancelled,
    due_entries,
    from_item,
    outbox_items,
    scope_of,
    to_item,
    without_keys,
)
from billow.domain.credit_note import CreditNote, credit_note_from_dict, credit_note_to_dict
from billow.domain.errors import AlreadyApplied, ConcurrentModification
from billow.domain.events import EventEnvelope
from billow.domain.invoice import Invoice, invoice_from_dict, invoice_to_record
from billow.domain.subscription import format_time, parse_time
from billow.domain.tax_report import REPORTED_STATUSES
from billow.domain.tenancy import Scope
from billow.ports.queries import InvoiceFilter, Page, PageResult
from billow.ports.repositories import CreditEntry, InvoiceWork

WORK_SHARDS = 8


def invoice_work(invoice: Invoice) -> tuple[str, str] | None:
    """(action, at) of the work an invoice has ahead, if any."""
    if invoice.status == "draft" and invoice.auto_advance and invoice.finalize_at:
        return "finalize", invoice.finalize_at
    open_ = invoice.status in ("finalized", "uncollectible")
    if open_ and invoice.collection_pending and invoice.finalized_at:
        return "collect", invoice.finalized_at
    dunning_at = invoice.dunning.next_at if invoice.dunning and invoice.status == "finalized" else None
    if dunning_at is not None:
        return "dunning", dunning_at
    return None


def _work_action(item: dict[str, object]) -> str:
    if item.get("status") == "draft":
        return "finalize"
    return "collect" if item.get("collection_pending") else "dunning"


def clock_work_partition(scope: Scope, clock_id: str) -> str:
    return f"{scope.key_prefix}#CLOCK#{clock_id}#INVOICE_WORK"


def _work_index(scope: Scope, invoice: Invoice) -> dict[str, str]:
    work = invoice_work(invoice)
    if work is None:
        return {}
    _, at = work
    if invoice.test_clock_id:
        return {"gsi2pk": clock_work_partition(scope, invoice.test_clock_id), "gsi2sk": f"{at}#{invoice.id}"}
    shard = int(hashlib.sha256(invoice.id.encode()).hexdigest(), 16) % WORK_SHARDS
    return {"gsi2pk": f"INVOICE_WORK#{shard}", "gsi2sk": f"{at}#{scope.key_prefix}#{invoice.id}"}


def tax_day_partition(scope: Scope, day: date) -> str:
    return f"{scope.key_prefix}#TAX_DAY#{day.isoformat()}"


def tax_day_entry(scope: Scope, at: str | None, document_id: str) -> dict[str, str]:
    """The gsi3 attributes of a document whose tax point is ``at`` (None: not in the index).
    The time is written in its canonical UTC form, so the sort key's string order is time
    order and a period's bounds can be compared with it."""
    if at is None:
        return {}
    moment = parse_time(at).astimezone(UTC)
    return {
        "gsi3pk": tax_day_partition(scope, moment.date()),
        "gsi3sk": f"{format_time(moment)}#{document_id}",
    }


def invoice_tax_point(status: str, finalized_at: str | None) -> str | None:
    # A draft has no tax point yet; voiding cancels the tax, so a void invoice has none either.
    return finalized_at if status in REPORTED_STATUSES else None


def _invoice_index(scope: Scope, invoice: Invoice) -> dict[str, str]:
    return {
        **_work_index(scope, invoice),
        **tax_day_entry(scope, invoice_tax_point(invoice.status, invoice.finalized_at), invoice.id),
    }


INVOICE = EntityKind[Invoice](
    name="invoice",
    to_dict=invoice_to_record,
    from_dict=invoice_from_dict,
    external_id_of=lambda invoice: invoice.uniqueness_key,
    conflict_detail="this period of the subscription is already invoiced",
    index_of=_invoice_index,
)
CREDIT_NOTE = EntityKind[CreditNote](
    name="credit_note",
    to_dict=credit_note_to_dict,
    from_dict=credit_note_from_dict,
    index_of=lambda scope, note: tax_day_entry(scope, note.created_at, note.id),
)


def utc_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days that [start, end) overlaps."""
    if end <= start:
        return []
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class DynamoInvoiceRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, INVOICE)
        self.notes = EntityStore(table, CREDIT_NOTE)

    # --- reading --------------------------------------------------------------------------

    def get(self, scope: Scope, invoice_id: str) -> Invoice | None:
        return self.store.get(scope, invoice_id)

    def list(self, scope: Scope, filters: InvoiceFilter, page: Page) -> PageResult[Invoice]:
        item_filter = (
            ItemFilter()
            .equals("customer_id", filters.customer_id)
            .equals("subscription_id", filters.subscription_id)
            .equals("status", filters.status)
            .equals("type", filters.type)
        )
        return self.store.list(scope, page, item_filter)

    def get_many(self, scope: Scope, invoice_ids: Collection[str]) -> Sequence[Invoice]:
        return self.store.get_many(scope, invoice_ids)

    def get_credit_note(self, scope: Scope, note_id: str) -> CreditNote | None:
        return self.notes.get(scope, note_id)

    def list_credit_notes(
        self, scope: Scope, invoice_id: str | None, customer_id: str | None, page: Page
    ) -> PageResult[CreditNote]:
        item_filter = ItemFilter().equals("invoice_id", invoice_id).equals("customer_id", customer_id)
        return self.notes.list(scope, page, item_filter)

    def tax_documents_between(
        self, scope: Scope, start: datetime, end: datetime
    ) -> Iterator[Invoice | CreditNote]:
        """The invoices with a tax point and the credit notes of the scope whose tax point lies
        in [start, end): one Query per UTC day partition the span overlaps, each bounded by the
        span's instants (which only narrows the first and the last day). Earliest first within
        a day; eventually consistent, like every index read."""
        bounds = (format_time(start), format_time(end))  # "{end}" sorts below "{end}#{id}"
        for day in utc_days(start, end):
            items = self.table.query(
                index="gsi3",
                partition=tax_day_partition(scope, day),
                newest_first=False,
                sort_between=bounds,
                # DynamoDB answers at most 1 MB a request whatever the limit.
                page_size=1000,
            )
            for item in items:
                if item.get("kind") == "credit_note":
                    yield CREDIT_NOTE.from_dict(without_keys(item))
                else:
                    yield INVOICE.from_dict(without_keys(item))

    def last_number(self, scope: Scope, sequence: str) -> int:
        return last_number(self.table, scope, sequence)

    def work_due(self, before: str, *, clock: tuple[Scope, str] | None, limit: int) -> Sequence[InvoiceWork]:
        entries = due_entries(
            self.table,
            clock=clock,
            clock_partition=clock_work_partition,
            shards=[f"INVOICE_WORK#{shard}" for shard in range(WORK_SHARDS)],
            before=before,
            limit=limit,
        )
        return [
            InvoiceWork(
                scope=entry.scope,
                invoice_id=entry.object_id,
                at=entry.at,
                action=_work_action(entry.item),
            )
            for entry in entries
        ]

    # --- writing --------------------------------------------------------------------------

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[Invoice | None, Invoice]],
        events: Sequence[EventEnvelope],
        *,
        credits: Sequence[CreditEntry] = (),
        numbered: tuple[str, int, int] | None = None,
        credit_notes: Sequence[CreditNote] = (),
        also: Callable[[Transaction], None] | None = None,
    ) -> None:
        """One transaction: invoices under their read versions, credit balance movements,
        new credit notes, events, and, with ``numbered`` = (sequence, last read, new last),
        the gap-free counter moved forward."""
        tx = Transaction()
        self.store.stage(tx, scope, changes)
        self.notes.stage(tx, scope, [(None, note) for note in credit_notes])
        stage_credits(tx, self.table.name, scope, credits)
        if numbered is not None:
            name, last, to = numbered
            stage_advance(tx, self.table.name, scope, name, last, to)
        if also is not None:
            also(tx)
        for item in outbox_items(scope, events):
            tx.put("event", self.table.name, item, "attribute_not_exists(pk)")
        try:
            self.table.write(tx)
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if "gateway_event" in failed:
                raise AlreadyApplied from None
            if any(label.startswith("credit_balance:") for label in failed):
                raise ConcurrentModification(
                    detail="the customer's credit balance changed concurrently"
                ) from None
            raise ConcurrentModification(detail="the invoice was changed concurrently") from None


# --- backfill of the tax-day index -----------------------------------------------------------------

ReindexOutcome = Literal["unchanged", "updated", "changed_concurrently"]
_REINDEXED_KINDS: dict[str, EntityKind[Any]] = {"invoice": INVOICE, "credit_note": CREDIT_NOTE}


@dataclass
class TaxDayReindex:
    """What ``reindex_tax_days`` did: documents seen, entries written or removed, and items
    skipped because a concurrent write changed them (that write stored the right entry)."""

    documents: int = 0
    updated: int = 0
    changed_concurrently: int = 0

    def add(self, outcome: ReindexOutcome) -> None:
        self.documents += 1
        if outcome == "updated":
            self.updated += 1
        elif outcome == "changed_concurrently":
            self.changed_concurrently += 1

    def merge(self, other: TaxDayReindex) -> TaxDayReindex:
        return TaxDayReindex(
            self.documents + other.documents,
            self.updated + other.updated,
            self.changed_concurrently + other.changed_concurrently,
        )


def expected_tax_day_entry(item: dict[str, Any]) -> dict[str, str]:
    """The gsi3 attributes a stored invoice or credit note item should carry."""
    kind = _REINDEXED_KINDS[str(item["kind"])]
    document_id = str(item["id"])
    scope = scope_of(str(item["pk"]).removesuffix(f"#{kind.key}#{document_id}"))
    if kind is INVOICE:
        at = invoice_tax_point(str(item.get("status", "draft")), item.get("finalized_at"))
    else:
        at = str(item["created_at"])
    return tax_day_entry(scope, at, document_id)


def reindex_tax_day(table: DynamoTable, item: dict[str, Any]) -> ReindexOutcome:
    """Write (or remove) the gsi3 entry of one item as read, on condition that its version
    has not moved since: a newer write already stored the entry of its own content."""
    expected = expected_tax_day_entry(item)
    if all(item.get(name) == expected.get(name) for name in ("gsi3pk", "gsi3sk")):
        return "unchanged"
    names = {"#version": "version"}
    values: dict[str, Any] = {}
    if expected:
        update = "SET gsi3pk = :pk, gsi3sk = :sk"
        values.update({":pk": expected["gsi3pk"], ":sk": expected["gsi3sk"]})
    else:
        update = "REMOVE gsi3pk, gsi3sk"
    if item.get("version") is None:
        condition = "attribute_exists(pk) AND attribute_not_exists(#version)"
    else:
        condition = "#version = :version"
        values[":version"] = item["version"]
    request: dict[str, Any] = {
        "TableName": table.name,
        "Key": to_item({"pk": item["pk"], "sk": item["sk"]}),
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
    }
    if values:
        request["ExpressionAttributeValues"] = to_item(values)
    try:
        table.client.update_item(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return "changed_concurrently"
        raise
    return "updated"


def _reindex_segment(table: DynamoTable, segment: int, segments: int) -> TaxDayReindex:
    result = TaxDayReindex()
    request: dict[str, Any] = {
        "TableName": table.name,
        "FilterExpression": "#kind IN (:invoice, :credit_note)",
        # Only what decides the entry, and the entry as it is.
        "ProjectionExpression": (
            "pk, sk, #kind, #id, #status, finalized_at, created_at, #version, gsi3pk, gsi3sk"
        ),
        "ExpressionAttributeNames": {
            "#kind": "kind",
            "#id": "id",
            "#status": "status",
            "#version": "version",
        },
        "ExpressionAttributeValues": to_item({":invoice": "invoice", ":credit_note": "credit_note"}),
    }
    if segments > 1:
        request.update(Segment=segment, TotalSegments=segments)
    while True:
        response = table.client.scan(**request)
        for raw in response.get("Items", []):
            result.add(reindex_tax_day(table, from_item(raw)))
        last = response.get("LastEvaluatedKey")
        if not last:
            return result
        request["ExclusiveStartKey"] = last


def reindex_tax_days(table: DynamoTable, *, segments: int = 1) -> TaxDayReindex:
    """Give every invoice and credit note of every scope the gsi3 entry it should have
    (``python -m billow reindex-tax-days``). A Scan of the whole table, ``segments`` parallel
    parts of it; safe to repeat and to run while the system works."""
    if segments < 1:
        raise ValueError("segments must be at least 1")
    with ThreadPoolExecutor(max_workers=segments) as pool:
        parts = list(pool.map(lambda segment: _reindex_segment(table, segment, segments), range(segments)))
    total = TaxDayReindex()
    for part in parts:
        total = total.merge(part)
    return total
