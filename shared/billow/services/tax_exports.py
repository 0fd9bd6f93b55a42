"""The tax report of a period (``GET /v1/tax/exports``, docs/tax.md "Tax report"): reads the
scope's invoices and credit notes through the invoice repository and hands them to the pure
aggregation of domain/tax_report.py.

**Access pattern** (docs/data-model.md, patterns 91 and 92). Both lists are read newest first
by id, in pages, through their gsi1 partitions (``{scope}#INVOICES``, ``{scope}#CREDIT_NOTES``).

- Invoices are read to the end. An invoice counts on its finalization day, and a draft may wait
  any time before it is finalized, so an invoice created (its id) long before the period can
  still be finalized in it: no id bounds what the period holds. Only the invoices of the
  period are kept in memory, plus the tax-currency rate of every invoice that has one (credit
  notes of the period need their invoice's rate).
- Credit notes are read until their ids are older than the period, in live mode only. A note's
  id (UUIDv7) is made just after the time it records as ``created_at``, both from the real
  clock, so a note whose id is older than the period's first instant (less a day of margin for
  clock steps) was issued before the period, and so are all the notes after it. In sandbox a
  note on a test clock records the clock's time, which may lie anywhere from its id's: there
  the notes are read to the end too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from aws_lambda_powertools import Logger

from billow.domain.credit_note import CreditNote
from billow.domain.errors import NotFound
from billow.domain.invoice import Invoice
from billow.domain.periods import local_midnight
from billow.domain.tax_report import (
    TaxCurrencyRate,
    TaxReport,
    TaxReportQuery,
    build_tax_report,
    credit_note_reported,
    invoice_reported,
)
from billow.domain.tenancy import Scope
from billow.ports.queries import InvoiceFilter, Page, PageResult
from billow.ports.repositories import InvoiceRepository, TenantRepository

T = TypeVar("T")
logger = Logger(service="billow")

# Documents per page: big pages mean fewer round trips; DynamoDB still answers at most 1 MB a
# request, and the table adapter follows its pages.
PAGE_SIZE = 200
# How much older than the period a credit note's id must be before the reading stops.
ID_CLOCK_MARGIN = timedelta(days=1)


def uuid7_time(value: str) -> datetime | None:
    """The creation instant a UUIDv7 carries (its first 48 bits, Unix milliseconds); None for
    anything else, which then never stops a reading early."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    if parsed.version != 7:
        return None
    return datetime.fromtimestamp((parsed.int >> 80) / 1000, tz=UTC)


def _all(fetch: Callable[[Page], PageResult[T]]) -> Iterator[T]:
    position = None
    while True:
        result = fetch(Page(limit=PAGE_SIZE, after=position))
        yield from result.items
        if result.next_position is None:
            return
        position = result.next_position


@dataclass
class TaxExportService:
    invoices: InvoiceRepository
    tenants: TenantRepository

    def report(self, scope: Scope, query: TaxReportQuery) -> TaxReport:
        tenant = self.tenants.get(scope.tenant_id)
        if tenant is None:  # pragma: no cover - a scope always has its tenant
            raise NotFound(detail="unknown tenant")
        timezone = tenant.timezone

        rates: dict[str, TaxCurrencyRate] = {}
        reported: list[Invoice] = []
        read_invoices = 0
        for invoice in _all(lambda page: self.invoices.list(scope, InvoiceFilter(), page)):
            read_invoices += 1
            rate = TaxCurrencyRate.of(invoice.fx, invoice.currency)
            if rate is not None:
                rates[invoice.id] = rate
            if invoice_reported(invoice, query, timezone):
                reported.append(invoice)

        notes: list[CreditNote] = []
        read_notes = 0
        cutoff = local_midnight(query.period.start, timezone) - ID_CLOCK_MARGIN if scope.livemode else None
        for note in _all(lambda page: self.invoices.list_credit_notes(scope, None, None, page)):
            made = uuid7_time(note.id)
            if cutoff is not None and made is not None and made < cutoff:
                break
            read_notes += 1
            if credit_note_reported(note, query, timezone):
                notes.append(note)

        logger.info(
            "tax report read",
            extra={"invoices_read": read_invoices, "credit_notes_read": read_notes},
        )
        return build_tax_report(query, timezone, reported, notes, invoice_rates=rates)
