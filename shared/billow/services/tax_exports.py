"""The tax report of a period (``GET /v1/tax/exports``, docs/tax.md "Tax report"): reads the
period's invoices and credit notes through the invoice repository and hands them to the pure
aggregation of domain/tax_report.py.

**Access pattern** (docs/data-model.md, patterns 91 and 92). The period is days in the tenant's
time zone; it becomes the UTC instants [first local midnight, midnight after the last day),
and the repository reads the sparse tax-day index (gsi3) for those instants: one Query per UTC
day the span overlaps, its sort key bounded by the instants (which narrows the first and last
day). What is read is the documents whose tax point lies in the period, never the scope's
whole history; the domain still decides which count, by local date, status and currency.

A credit note of the period states its VAT at its invoice's tax-currency rate, and that
invoice may have been finalized before the period: such invoices are read by id (one
BatchGetItem per 100), only when no document of the period is that invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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
from billow.ports.repositories import InvoiceRepository, TenantRepository

logger = Logger(service="billow")


@dataclass
class TaxExportService:
    invoices: InvoiceRepository
    tenants: TenantRepository

    def report(self, scope: Scope, query: TaxReportQuery) -> TaxReport:
        tenant = self.tenants.get(scope.tenant_id)
        if tenant is None:  # pragma: no cover - a scope always has its tenant
            raise NotFound(detail="unknown tenant")
        timezone = tenant.timezone
        start = local_midnight(query.period.start, timezone)
        end = local_midnight(query.period.end + timedelta(days=1), timezone)

        rates: dict[str, TaxCurrencyRate] = {}
        seen: set[str] = set()
        reported: list[Invoice] = []
        notes: list[CreditNote] = []
        read_invoices = read_notes = 0
        for document in self.invoices.tax_documents_between(scope, start, end):
            if isinstance(document, CreditNote):
                read_notes += 1
                if credit_note_reported(document, query, timezone):
                    notes.append(document)
                continue
            read_invoices += 1
            seen.add(document.id)
            rate = TaxCurrencyRate.of(document.fx, document.currency)
            if rate is not None:
                rates[document.id] = rate
            if invoice_reported(document, query, timezone):
                reported.append(document)

        credited = sorted({note.invoice_id for note in notes} - seen)
        for invoice in self.invoices.get_many(scope, credited) if credited else ():
            rate = TaxCurrencyRate.of(invoice.fx, invoice.currency)
            if rate is not None:
                rates[invoice.id] = rate

        logger.info(
            "tax report read",
            extra={
                "invoices_read": read_invoices,
                "credit_notes_read": read_notes,
                "credited_invoices_read": len(credited),
            },
        )
        return build_tax_report(query, timezone, reported, notes, invoice_rates=rates)
