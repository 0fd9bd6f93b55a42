"""The tax report of a period (``GET /v1/tax/exports``, docs/tax.md "Tax report"): what the
tenant's invoices and credit notes of the period charged, by currency, jurisdiction, tax type,
category and rate. Pure: the documents come in, rows come out; no storage, no clock.

**Which documents.** An invoice counts on its tax point, the day it was finalized in the
tenant's time zone, when it is ``finalized``, ``paid`` or ``uncollectible``. A ``void``
invoice is left out: voiding cancels it, so its tax is not due (it keeps its number only so
the sequence stays complete). Drafts have no tax point yet. A credit note counts on the day it
was issued, negatively: its taxable amount and tax are subtracted from its groups.

**Rows.** Each tax group of a document (``TaxAmount``) lands in the row of its currency,
jurisdiction, tax type, category and rate. A row never mixes values that the columns show one
of: documents of one group that state different exemption reasons, or state their VAT in
different tax currencies (or one does and another does not), are split into separate rows.
Groups without tax (exempt E, reverse charge AE, export G, outside the scope O, zero rated Z)
are rows too, with a tax of 0: they are what the VAT return's exempt boxes and the EC sales
list are made of. A document is counted once in each row it contributes to.

**Tax currency.** An invoice that states its VAT in a second currency (EN 16931 BT-6, its
``fx``: ``tax_currency``, ``tax_rate``, ``tax_total_in_tax_currency``) contributes each group's
tax converted at the pinned rate, rounded half-up, and the rounding difference to the total the
invoice states goes to its largest group, so the rows add up to what the documents say. A credit
note converts at its invoice's rate; its stated total is its tax converted once.

Sums are exact Decimal additions of amounts that carry the currency's minor digits; rows come
in a fixed order (currency, jurisdiction (none last), VAT before other taxes, tax type,
category, rate, exemption, tax currency).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from billow.domain.credit_note import CreditNote
from billow.domain.errors import FieldError, ValidationFailed
from billow.domain.invoice import Invoice
from billow.domain.money import is_currency, minor_units
from billow.domain.periods import local_date
from billow.domain.subscription import parse_time
from billow.domain.tax import TaxAmount, format_rate

# Invoices whose tax is due: finalized and not cancelled (void) since.
REPORTED_STATUSES = ("finalized", "paid", "uncollectible")
MAX_PERIOD_DAYS = 366
FORMATS = ("csv", "json")
ReportFormat = Literal["csv", "json"]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

CSV_COLUMNS = (
    "currency",
    "jurisdiction",
    "tax_type",
    "category",
    "rate",
    "exemption_reason_code",
    "exemption_reason",
    "document_count",
    "invoice_count",
    "credit_note_count",
    "taxable_amount",
    "tax_amount",
    "tax_currency",
    "tax_amount_in_tax_currency",
)


# --- the query ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPeriod:
    """Calendar days in the tenant's time zone, both ends included."""

    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class TaxReportQuery:
    period: ReportPeriod
    currency: str | None = None
    format: ReportFormat = "csv"


def _day(raw: str | None, pointer: str, errors: list[FieldError]) -> date | None:
    if raw is None or raw == "":
        errors.append(FieldError(pointer, "is required (YYYY-MM-DD)"))
        return None
    if not _DATE.fullmatch(raw):
        errors.append(FieldError(pointer, f"'{raw}' is not a date (YYYY-MM-DD)"))
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(pointer, f"'{raw}' is not a calendar date"))
        return None


def parse_report_query(
    period_start: str | None,
    period_end: str | None,
    currency: str | None = None,
    format: str | None = None,
) -> TaxReportQuery:
    """The report's query parameters, every problem reported at once (422, pointers named
    after the parameters)."""
    errors: list[FieldError] = []
    start = _day(period_start, "/period_start", errors)
    end = _day(period_end, "/period_end", errors)
    if start is not None and end is not None:
        if end < start:
            errors.append(FieldError("/period_end", "must be on or after period_start"))
        elif (end - start).days + 1 > MAX_PERIOD_DAYS:
            errors.append(
                FieldError("/period_end", f"a report covers at most {MAX_PERIOD_DAYS} days; split the period")
            )
    if currency is not None and not is_currency(currency):
        errors.append(FieldError("/currency", f"'{currency}' is not an ISO 4217 currency code"))
    chosen = format or "csv"
    if chosen not in FORMATS:
        errors.append(FieldError("/format", f"must be one of {', '.join(FORMATS)}"))
    if errors:
        raise ValidationFailed(detail="the report's query is invalid", errors=errors)
    assert start is not None
    assert end is not None
    return TaxReportQuery(ReportPeriod(start, end), currency, "json" if chosen == "json" else "csv")


# --- which documents ----------------------------------------------------------------------------


def tax_point(invoice: Invoice, timezone: str) -> date | None:
    """The day the invoice's tax became due: its finalization, in the tenant's zone."""
    if invoice.finalized_at is None:
        return None
    return local_date(parse_time(invoice.finalized_at), timezone)


def issue_date(note: CreditNote, timezone: str) -> date:
    return local_date(parse_time(note.created_at), timezone)


def invoice_reported(invoice: Invoice, query: TaxReportQuery, timezone: str) -> bool:
    if invoice.status not in REPORTED_STATUSES:
        return False
    if query.currency is not None and invoice.currency != query.currency:
        return False
    return tax_point(invoice, timezone) in query.period


def credit_note_reported(note: CreditNote, query: TaxReportQuery, timezone: str) -> bool:
    if query.currency is not None and note.currency != query.currency:
        return False
    return issue_date(note, timezone) in query.period


# --- tax currency -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxCurrencyRate:
    """The rate an invoice pinned to state its VAT in a second currency (amount times rate)."""

    currency: str
    rate: Decimal

    @classmethod
    def of(cls, fx: Mapping[str, str] | None, document_currency: str) -> TaxCurrencyRate | None:
        if not fx or not fx.get("tax_currency") or not fx.get("tax_rate"):
            return None
        if fx["tax_currency"] == document_currency:
            return None
        return cls(fx["tax_currency"], Decimal(fx["tax_rate"]))

    def convert(self, amount: Decimal) -> Decimal:
        return _round(amount * self.rate, self.currency)


def _round(amount: Decimal, currency: str) -> Decimal:
    quantum = Decimal(1).scaleb(-minor_units(currency))
    rounded = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    return rounded if rounded != 0 else abs(rounded)


def split_in_tax_currency(
    groups: Sequence[TaxAmount], rate: TaxCurrencyRate, stated_total: Decimal
) -> list[Decimal]:
    """Each group's tax in the tax currency: converted and rounded on its own, then the
    difference to the document's stated total put on the group with the largest tax (the first
    of them on a tie), so the parts add up to the total exactly."""
    parts = [rate.convert(group.amount.amount) for group in groups]
    difference = stated_total - sum(parts, Decimal(0))
    if difference and parts:
        largest = max(range(len(groups)), key=lambda i: (abs(groups[i].amount.amount), -i))
        parts[largest] += difference
    return parts


def stated_tax_in_tax_currency(invoice: Invoice, rate: TaxCurrencyRate) -> Decimal:
    """What the invoice states as its VAT total in the tax currency (BT-111)."""
    stated = (invoice.fx or {}).get("tax_total_in_tax_currency")
    return Decimal(stated) if stated else rate.convert(invoice.tax_total.amount)


# --- the report --------------------------------------------------------------------------------


RowKey = tuple[str, str | None, str, str, Decimal, str | None, str | None, str | None]


@dataclass(frozen=True)
class TaxReportRow:
    currency: str
    jurisdiction: str | None
    tax_type: str
    category: str
    rate: Decimal
    exemption_reason_code: str | None
    exemption_reason: str | None
    invoice_count: int
    credit_note_count: int
    taxable_amount: Decimal
    tax_amount: Decimal
    tax_currency: str | None = None
    tax_amount_in_tax_currency: Decimal | None = None

    @property
    def document_count(self) -> int:
        return self.invoice_count + self.credit_note_count

    def to_dict(self) -> dict[str, Any]:
        in_tax_currency = self.tax_amount_in_tax_currency
        return {
            "currency": self.currency,
            "jurisdiction": self.jurisdiction,
            "tax_type": self.tax_type,
            "category": self.category,
            "rate": format_rate(self.rate),
            "exemption_reason_code": self.exemption_reason_code,
            "exemption_reason": self.exemption_reason,
            "document_count": self.document_count,
            "invoice_count": self.invoice_count,
            "credit_note_count": self.credit_note_count,
            "taxable_amount": _text(self.taxable_amount, self.currency),
            "tax_amount": _text(self.tax_amount, self.currency),
            "tax_currency": self.tax_currency,
            "tax_amount_in_tax_currency": (
                _text(in_tax_currency, self.tax_currency)
                if in_tax_currency is not None and self.tax_currency
                else None
            ),
        }


@dataclass(frozen=True)
class CurrencyTotals:
    """One currency's documents of the period: counts, net (subtotals), tax and gross, the
    credit notes subtracted; and the tax stated in each tax currency."""

    currency: str
    invoice_count: int
    credit_note_count: int
    net_amount: Decimal
    tax_amount: Decimal
    tax_in_tax_currency: Mapping[str, Decimal] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "invoice_count": self.invoice_count,
            "credit_note_count": self.credit_note_count,
            "net_amount": _text(self.net_amount, self.currency),
            "tax_amount": _text(self.tax_amount, self.currency),
            "total": _text(self.net_amount + self.tax_amount, self.currency),
            "tax_amount_in_tax_currency": {
                code: _text(amount, code) for code, amount in sorted(self.tax_in_tax_currency.items())
            },
        }


@dataclass(frozen=True)
class TaxReport:
    period: ReportPeriod
    timezone: str
    currency: str | None
    rows: tuple[TaxReportRow, ...]
    totals: tuple[CurrencyTotals, ...]

    @property
    def filename(self) -> str:
        return f"tax-report-{self.period.start.isoformat()}-{self.period.end.isoformat()}.csv"

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "tax_report",
            "period_start": self.period.start.isoformat(),
            "period_end": self.period.end.isoformat(),
            "timezone": self.timezone,
            "currency": self.currency,
            "rows": [row.to_dict() for row in self.rows],
            "totals_by_currency": {totals.currency: totals.to_dict() for totals in self.totals},
        }

    def to_csv(self) -> str:
        """RFC 4180: a header row, CRLF line ends, fields quoted only when they need it;
        absent values are empty fields."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.rows:
            values = row.to_dict()
            writer.writerow(["" if values[column] is None else values[column] for column in CSV_COLUMNS])
        return out.getvalue()


def _text(amount: Decimal, currency: str) -> str:
    return str(_round(amount, currency))


@dataclass
class _Row:
    invoices: int = 0
    credit_notes: int = 0
    taxable: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    in_tax_currency: Decimal = Decimal(0)


@dataclass
class _Totals:
    invoices: int = 0
    credit_notes: int = 0
    net: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    in_tax_currency: dict[str, Decimal] = field(default_factory=dict)


def _row_order(key: RowKey) -> tuple[Any, ...]:
    currency, jurisdiction, tax_type, category, rate, code, reason, tax_currency = key
    return (
        currency,
        jurisdiction is None,
        jurisdiction or "",
        tax_type != "vat",
        tax_type,
        category,
        rate,
        code or "",
        reason or "",
        tax_currency or "",
    )


class _Aggregate:
    def __init__(self) -> None:
        self.rows: dict[RowKey, _Row] = {}
        self.totals: dict[str, _Totals] = {}

    def add(
        self,
        *,
        credit_note: bool,
        currency: str,
        groups: Sequence[TaxAmount],
        net: Decimal,
        rate: TaxCurrencyRate | None,
        stated: Decimal | None,
    ) -> None:
        sign = Decimal(-1) if credit_note else Decimal(1)
        converted: list[Decimal | None] = [None] * len(groups)
        if rate is not None and stated is not None:
            converted = list(split_in_tax_currency(groups, rate, stated))
        touched: set[RowKey] = set()
        for group, in_tax_currency in zip(groups, converted, strict=True):
            key: RowKey = (
                currency,
                group.jurisdiction,
                group.tax_type,
                group.category,
                group.rate,
                group.exemption_reason_code,
                group.exemption_reason,
                rate.currency if rate is not None else None,
            )
            row = self.rows.setdefault(key, _Row())
            row.taxable += sign * group.taxable_amount.amount
            row.tax += sign * group.amount.amount
            if in_tax_currency is not None:
                row.in_tax_currency += sign * in_tax_currency
            if key not in touched:
                touched.add(key)
                if credit_note:
                    row.credit_notes += 1
                else:
                    row.invoices += 1
        totals = self.totals.setdefault(currency, _Totals())
        if credit_note:
            totals.credit_notes += 1
        else:
            totals.invoices += 1
        totals.net += sign * net
        totals.tax += sign * sum((group.amount.amount for group in groups), Decimal(0))
        if rate is not None and stated is not None:
            held = totals.in_tax_currency.get(rate.currency, Decimal(0))
            totals.in_tax_currency[rate.currency] = held + sign * stated

    def rows_in_order(self) -> tuple[TaxReportRow, ...]:
        return tuple(
            TaxReportRow(
                currency=key[0],
                jurisdiction=key[1],
                tax_type=key[2],
                category=key[3],
                rate=key[4],
                exemption_reason_code=key[5],
                exemption_reason=key[6],
                invoice_count=row.invoices,
                credit_note_count=row.credit_notes,
                taxable_amount=row.taxable,
                tax_amount=row.tax,
                tax_currency=key[7],
                tax_amount_in_tax_currency=row.in_tax_currency if key[7] is not None else None,
            )
            for key, row in sorted(self.rows.items(), key=lambda item: _row_order(item[0]))
        )

    def totals_in_order(self) -> tuple[CurrencyTotals, ...]:
        return tuple(
            CurrencyTotals(
                currency=currency,
                invoice_count=totals.invoices,
                credit_note_count=totals.credit_notes,
                net_amount=totals.net,
                tax_amount=totals.tax,
                tax_in_tax_currency=dict(totals.in_tax_currency),
            )
            for currency, totals in sorted(self.totals.items())
        )


def build_tax_report(
    query: TaxReportQuery,
    timezone: str,
    invoices: Iterable[Invoice],
    credit_notes: Iterable[CreditNote],
    *,
    invoice_rates: Mapping[str, TaxCurrencyRate] | None = None,
) -> TaxReport:
    """The report of ``query``'s period from the documents given (any others given are left
    out here). ``invoice_rates`` are the tax-currency rates of invoices that are not among
    ``invoices`` but are credited by notes that are: a credit note states its VAT in its
    invoice's tax currency, at its rate."""
    rates: dict[str, TaxCurrencyRate] = dict(invoice_rates or {})
    aggregate = _Aggregate()
    for invoice in invoices:
        rate = TaxCurrencyRate.of(invoice.fx, invoice.currency)
        if rate is not None:
            rates[invoice.id] = rate
        if not invoice_reported(invoice, query, timezone):
            continue
        aggregate.add(
            credit_note=False,
            currency=invoice.currency,
            groups=invoice.tax_breakdown,
            net=invoice.subtotal.amount,
            rate=rate,
            stated=stated_tax_in_tax_currency(invoice, rate) if rate is not None else None,
        )
    for note in credit_notes:
        if not credit_note_reported(note, query, timezone):
            continue
        rate = rates.get(note.invoice_id)
        aggregate.add(
            credit_note=True,
            currency=note.currency,
            groups=note.tax_breakdown,
            net=note.subtotal.amount,
            rate=rate,
            stated=rate.convert(note.tax_total.amount) if rate is not None else None,
        )
    return TaxReport(
        period=query.period,
        timezone=timezone,
        currency=query.currency,
        rows=aggregate.rows_in_order(),
        totals=aggregate.totals_in_order(),
    )
