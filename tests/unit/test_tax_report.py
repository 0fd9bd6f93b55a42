"""The tax report without storage (domain/tax_report.py): which documents count, the rows by
currency, jurisdiction, tax type, category and rate (credit notes negative, void invoices left
out, zero-tax groups kept), sums in the tax currency, the row order, the CSV, the query's
checks; and the service's reading (services/tax_exports.py) over an in-memory repository."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from billow.domain.credit_note import CreditNote, CreditNoteLine
from billow.domain.errors import ValidationFailed
from billow.domain.invoice import Invoice, InvoiceLine
from billow.domain.money import Money
from billow.domain.subscription import parse_time
from billow.domain.tax import TaxRate, compute_taxes
from billow.domain.tax_report import (
    CSV_COLUMNS,
    REPORTED_STATUSES,
    ReportPeriod,
    TaxCurrencyRate,
    TaxReport,
    TaxReportQuery,
    build_tax_report,
    parse_report_query,
    split_in_tax_currency,
)
from billow.domain.tenancy import Scope, Tenant
from billow.services.tax_exports import TaxExportService

TZ = "Europe/Berlin"
JULY = TaxReportQuery(ReportPeriod(date(2026, 7, 1), date(2026, 7, 31)))

DE19 = TaxRate("S", Decimal("19"), tax_type="vat", jurisdiction="DE", name="VAT 19 %")
DE7 = TaxRate("S", Decimal("7"), tax_type="vat", jurisdiction="DE", name="VAT 7 %")
FR20 = TaxRate("S", Decimal("20"), tax_type="vat", jurisdiction="FR")
AE_FR = TaxRate("AE", Decimal("0"), "Reverse charge", "VATEX-EU-AE", jurisdiction="FR")
EXPORT = TaxRate("G", Decimal("0"), "Export outside the EU", "VATEX-EU-G", jurisdiction="DE")
OUTSIDE = TaxRate("O", Decimal("0"), "Not subject to VAT", "VATEX-EU-O")
EXEMPT = TaxRate("E", Decimal("0"), "Exempt, see art. 132", jurisdiction="DE")
USD_TAX = {"tax_currency": "EUR", "tax_rate": "0.8529", "tax_total_in_tax_currency": "0"}

_ids = iter(range(1, 10_000))


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):04d}"


def invoice(
    *lines: tuple[str, TaxRate],
    finalized_at: str | None = "2026-07-10T10:00:00Z",
    status: str = "finalized",
    currency: str = "EUR",
    fx: dict[str, str] | None = None,
    invoice_id: str | None = None,
    created_at: str = "2026-07-01T08:00:00Z",
) -> Invoice:
    draft = Invoice(
        id=invoice_id or _id("inv"),
        livemode=False,
        customer_id="cus-1",
        currency=currency,
        type="one_off",
        billing_reason="manual",
        lines=tuple(
            InvoiceLine(
                id=f"L{i}",
                kind="one_off",
                description="Line",
                quantity=Decimal(1),
                amount=Money(Decimal(amount), currency),
            )
            for i, (amount, _) in enumerate(lines)
        ),
        created_at=created_at,
        updated_at=created_at,
    )
    taxed = draft.taxed([rate for _, rate in lines])
    if fx is not None and "tax_total_in_tax_currency" in fx and fx["tax_total_in_tax_currency"] == "0":
        rate = Decimal(fx["tax_rate"])
        stated = (taxed.tax_total.amount * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        fx = {**fx, "tax_total_in_tax_currency": str(stated)}
    return replace(taxed, status=status, finalized_at=finalized_at, fx=fx)  # type: ignore[arg-type]


def note(
    of: Invoice,
    *lines: tuple[str, TaxRate],
    created_at: str = "2026-07-20T09:00:00Z",
    note_id: str | None = None,
) -> CreditNote:
    note_lines = tuple(
        CreditNoteLine(f"N{i}", "Credit", Money(Decimal(amount), of.currency), (rate,))
        for i, (amount, rate) in enumerate(lines)
    )
    groups = compute_taxes([(line.amount, line.taxes) for line in note_lines], of.currency).groups
    return CreditNote(
        id=note_id or _id("cn"),
        livemode=False,
        number="CN-1",
        sequence=1,
        invoice_id=of.id,
        invoice_number=of.number,
        customer_id=of.customer_id,
        currency=of.currency,
        reason="order_change",
        outcome="credit",
        lines=note_lines,
        tax_breakdown=groups,
        created_at=created_at,
        updated_at=created_at,
    )


def table(report: TaxReport) -> list[tuple[Any, ...]]:
    """(currency, jurisdiction, category, rate, documents, taxable, tax) of every row."""
    return [
        (
            row["currency"],
            row["jurisdiction"],
            row["category"],
            row["rate"],
            row["document_count"],
            row["taxable_amount"],
            row["tax_amount"],
        )
        for row in report.to_dict()["rows"]
    ]


# --- aggregation -----------------------------------------------------------------------------------


def test_rows_by_jurisdiction_and_rate_with_exact_sums() -> None:
    german = invoice(("100.00", DE19), ("30.00", DE7))
    german2 = invoice(("0.10", DE19), ("0.10", DE19))  # 0.20 taxed once: 0.04
    french = invoice(("159.97", FR20))

    report = build_tax_report(JULY, TZ, [german, german2, french], [])

    assert table(report) == [
        ("EUR", "DE", "S", "7", 1, "30.00", "2.10"),
        ("EUR", "DE", "S", "19", 2, "100.20", "19.04"),
        ("EUR", "FR", "S", "20", 1, "159.97", "31.99"),
    ]
    totals = report.to_dict()["totals_by_currency"]["EUR"]
    assert totals == {
        "invoice_count": 3,
        "credit_note_count": 0,
        "net_amount": "290.17",
        "tax_amount": "53.13",
        "total": "343.30",
        "tax_amount_in_tax_currency": {},
    }


def test_credit_notes_count_negatively_on_their_issue_date() -> None:
    german = invoice(("100.00", DE19), ("30.00", DE7))
    in_july = note(german, ("40.00", DE19))
    in_august = note(german, ("10.00", DE7), created_at="2026-08-02T09:00:00Z")

    report = build_tax_report(JULY, TZ, [german], [in_july, in_august])

    assert table(report) == [
        ("EUR", "DE", "S", "7", 1, "30.00", "2.10"),
        ("EUR", "DE", "S", "19", 2, "60.00", "11.40"),
    ]
    row = report.rows[1]
    assert (row.invoice_count, row.credit_note_count) == (1, 1)
    assert report.totals[0].credit_note_count == 1
    # 151.10 invoiced, 47.60 credited in July.
    assert report.to_dict()["totals_by_currency"]["EUR"]["total"] == "103.50"
    # A credit note of an invoice from an earlier period still counts in its own.
    june = invoice(("50.00", DE19), finalized_at="2026-06-15T10:00:00Z")
    alone = build_tax_report(JULY, TZ, [june], [note(june, ("50.00", DE19))])
    assert table(alone) == [("EUR", "DE", "S", "19", 1, "-50.00", "-9.50")]


def test_void_invoices_and_drafts_are_left_out_paid_and_uncollectible_count() -> None:
    void = invoice(("100.00", DE19), status="void")
    draft = invoice(("100.00", DE19), status="draft", finalized_at=None)
    paid = invoice(("10.00", DE19), status="paid")
    uncollectible = invoice(("20.00", DE19), status="uncollectible")

    report = build_tax_report(JULY, TZ, [void, draft, paid, uncollectible], [])

    assert table(report) == [("EUR", "DE", "S", "19", 2, "30.00", "5.70")]


def test_the_tax_point_is_the_finalization_day_in_the_tenants_time_zone() -> None:
    # 23:30 UTC on 30 June is 1 July in Berlin; 22:30 UTC on 31 July is 1 August there.
    first = invoice(("10.00", DE19), finalized_at="2026-06-30T23:30:00Z")
    last = invoice(("20.00", DE19), finalized_at="2026-07-31T21:59:59Z")
    after = invoice(("40.00", DE19), finalized_at="2026-07-31T22:30:00Z")
    before = invoice(("80.00", DE19), finalized_at="2026-06-30T21:59:59Z")

    berlin = build_tax_report(JULY, TZ, [first, last, after, before], [])
    utc = build_tax_report(JULY, "UTC", [first, last, after, before], [])

    assert table(berlin) == [("EUR", "DE", "S", "19", 2, "30.00", "5.70")]
    assert table(utc) == [("EUR", "DE", "S", "19", 2, "60.00", "11.40")]


def test_zero_tax_groups_appear_with_their_exemption() -> None:
    docs = [
        invoice(("160.00", AE_FR)),
        invoice(("100.00", EXPORT)),
        invoice(("5.00", OUTSIDE)),
        invoice(("7.00", EXEMPT)),
    ]

    report = build_tax_report(JULY, TZ, docs, [])

    rows = report.to_dict()["rows"]
    assert [
        (r["jurisdiction"], r["category"], r["exemption_reason_code"], r["tax_amount"]) for r in rows
    ] == [
        ("DE", "E", None, "0.00"),
        ("DE", "G", "VATEX-EU-G", "0.00"),
        ("FR", "AE", "VATEX-EU-AE", "0.00"),
        (None, "O", "VATEX-EU-O", "0.00"),
    ]
    assert rows[0]["exemption_reason"] == "Exempt, see art. 132"
    assert [r["taxable_amount"] for r in rows] == ["7.00", "100.00", "160.00", "5.00"]


def test_currencies_never_mix_and_the_filter_keeps_one() -> None:
    eur = invoice(("100.00", DE19))
    usd = invoice(("117.25", DE19), currency="USD")
    jpy = invoice(("1000", DE19), currency="JPY")

    report = build_tax_report(JULY, TZ, [usd, eur, jpy], [])
    only_usd = build_tax_report(
        replace(JULY, currency="USD"), TZ, [usd, eur, jpy], [note(usd, ("10.00", DE19))]
    )

    assert table(report) == [
        ("EUR", "DE", "S", "19", 1, "100.00", "19.00"),
        ("JPY", "DE", "S", "19", 1, "1000", "190"),
        ("USD", "DE", "S", "19", 1, "117.25", "22.28"),
    ]
    assert sorted(report.to_dict()["totals_by_currency"]) == ["EUR", "JPY", "USD"]
    assert table(only_usd) == [("USD", "DE", "S", "19", 2, "107.25", "20.38")]
    assert list(only_usd.to_dict()["totals_by_currency"]) == ["USD"]


def test_tax_currency_sums_add_up_to_what_the_invoices_state() -> None:
    # USD invoices of a German seller state their VAT in EUR at the pinned rate.
    one = invoice(("117.25", DE19), currency="USD", fx=dict(USD_TAX))
    two = invoice(("10.01", DE19), ("10.01", DE7), ("0.03", DE7), currency="USD", fx=dict(USD_TAX))
    eur = invoice(("100.00", DE19))

    report = build_tax_report(JULY, TZ, [one, two, eur], [note(one, ("17.25", DE19))])

    rows = {(r["currency"], r["rate"]): r for r in report.to_dict()["rows"]}
    assert one.fx is not None
    assert one.fx["tax_total_in_tax_currency"] == "19.00"  # 22.28 USD x 0.8529
    usd19, usd7 = rows[("USD", "19")], rows[("USD", "7")]
    assert (usd19["tax_currency"], usd7["tax_currency"]) == ("EUR", "EUR")
    # 22.28 + 1.90 - 3.28 USD of VAT at 19 %; 0.70 at 7 %.
    assert (usd19["tax_amount"], usd7["tax_amount"]) == ("20.90", "0.70")
    assert (usd19["tax_amount_in_tax_currency"], usd7["tax_amount_in_tax_currency"]) == ("17.82", "0.60")
    assert rows[("EUR", "19")]["tax_currency"] is None
    assert rows[("EUR", "19")]["tax_amount_in_tax_currency"] is None
    totals = report.to_dict()["totals_by_currency"]["USD"]
    assert totals["tax_amount_in_tax_currency"] == {"EUR": "18.42"}
    assert Decimal(usd19["tax_amount_in_tax_currency"]) + Decimal(
        usd7["tax_amount_in_tax_currency"]
    ) == Decimal("18.42")


def test_a_credit_note_converts_at_its_invoices_rate_when_the_invoice_is_outside_the_period() -> None:
    june = invoice(("117.25", DE19), currency="USD", fx=dict(USD_TAX), finalized_at="2026-06-10T10:00:00Z")
    credit = note(june, ("117.25", DE19))

    report = build_tax_report(
        JULY, TZ, [], [credit], invoice_rates={june.id: TaxCurrencyRate("EUR", Decimal("0.8529"))}
    )

    (row,) = report.to_dict()["rows"]
    assert (row["tax_amount"], row["tax_currency"], row["tax_amount_in_tax_currency"]) == (
        "-22.28",
        "EUR",
        "-19.00",
    )


def test_a_stated_total_is_split_over_the_groups_without_losing_a_cent() -> None:
    groups = compute_taxes(
        [(Money(Decimal("0.05"), "USD"), (DE19,)), (Money(Decimal("0.10"), "USD"), (DE7,))], "USD"
    ).groups
    assert [(g.rate, g.amount.amount) for g in groups] == [(7, Decimal("0.01")), (19, Decimal("0.01"))]
    rate = TaxCurrencyRate("EUR", Decimal("0.5"))

    # Each 0.01 x 0.5 = 0.005 rounds to 0.01: 0.02, but the invoice states 0.02 x 0.5 = 0.01.
    parts = split_in_tax_currency(groups, rate, Decimal("0.01"))

    assert parts == [Decimal("0.00"), Decimal("0.01")]


def test_row_order_is_fixed_whatever_the_order_of_the_documents() -> None:
    docs = [
        invoice(("10.00", DE19)),
        invoice(("10.00", FR20), currency="USD"),
        invoice(("10.00", DE7)),
        invoice(("10.00", OUTSIDE)),
        invoice(("10.00", AE_FR)),
        invoice(("10.00", TaxRate("S", Decimal("9.975"), tax_type="gst", jurisdiction="CA-QC"))),
        invoice(("10.00", TaxRate("S", Decimal("5"), tax_type="gst", jurisdiction="CA"))),
    ]
    expected = build_tax_report(JULY, TZ, docs, [])

    for seed in range(5):
        shuffled = list(docs)
        random.Random(seed).shuffle(shuffled)
        assert build_tax_report(JULY, TZ, shuffled, []) == expected

    assert [(r.currency, r.jurisdiction, r.tax_type, r.category, str(r.rate)) for r in expected.rows] == [
        ("EUR", "CA", "gst", "S", "5"),
        ("EUR", "CA-QC", "gst", "S", "9.975"),
        ("EUR", "DE", "vat", "S", "7"),
        ("EUR", "DE", "vat", "S", "19"),
        ("EUR", "FR", "vat", "AE", "0"),
        ("EUR", None, "vat", "O", "0"),
        ("USD", "FR", "vat", "S", "20"),
    ]


def test_a_group_with_two_exemption_reasons_is_two_rows() -> None:
    small_business = TaxRate("E", Decimal("0"), "Small business exemption", jurisdiction="DE")

    report = build_tax_report(JULY, TZ, [invoice(("1.00", EXEMPT)), invoice(("2.00", small_business))], [])

    assert [(r.exemption_reason, r.taxable_amount) for r in report.rows] == [
        ("Exempt, see art. 132", Decimal("1.00")),
        ("Small business exemption", Decimal("2.00")),
    ]


def test_csv_has_a_header_crlf_lines_and_quotes_only_what_needs_it() -> None:
    reason = TaxRate("E", Decimal("0"), 'Exempt, "education"', jurisdiction="DE")
    report = build_tax_report(JULY, TZ, [invoice(("100.00", DE19)), invoice(("5.00", reason))], [])

    text = report.to_csv()

    assert text.startswith(",".join(CSV_COLUMNS) + "\r\n")
    assert text.endswith("\r\n")
    assert '"Exempt, ""education"""' in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["rate"] for row in rows] == ["0", "19"]
    assert rows[1]["tax_amount"] == "19.00"
    assert rows[1]["tax_currency"] == ""
    assert rows[0]["exemption_reason"] == 'Exempt, "education"'
    assert report.filename == "tax-report-2026-07-01-2026-07-31.csv"


def test_an_empty_period_has_only_the_header() -> None:
    report = build_tax_report(JULY, TZ, [], [])

    assert report.to_csv() == ",".join(CSV_COLUMNS) + "\r\n"
    assert report.to_dict()["rows"] == []
    assert report.to_dict()["totals_by_currency"] == {}


# --- the query --------------------------------------------------------------------------------------


def test_a_query_with_defaults() -> None:
    query = parse_report_query("2026-01-01", "2026-12-31")

    assert query == TaxReportQuery(ReportPeriod(date(2026, 1, 1), date(2026, 12, 31)), None, "csv")
    assert parse_report_query("2024-01-01", "2024-12-31", "EUR", "json").period.days == 366
    assert parse_report_query("2026-01-01", "2027-01-01").period.days == 366


@pytest.mark.parametrize(
    ("raw", "pointers"),
    [
        ((None, None, None, None), ["/period_start", "/period_end"]),
        (("2026-07-01", "2026-06-30", None, None), ["/period_end"]),
        (("2026-01-01", "2027-01-02", None, None), ["/period_end"]),
        (("2026-02-30", "2026-03-01", None, None), ["/period_start"]),
        (("2026-7-1", "20260731", None, None), ["/period_start", "/period_end"]),
        (("2026-07-01", "2026-07-31", "eur", "xlsx"), ["/currency", "/format"]),
        (("", "2026-07-31", "XXY", None), ["/period_start", "/currency"]),
    ],
)
def test_bad_queries_name_every_parameter_at_fault(
    raw: tuple[str | None, str | None, str | None, str | None], pointers: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_report_query(*raw)

    assert [error.pointer for error in failure.value.errors] == pointers


# --- the service's reading ------------------------------------------------------------------------


def uuid7_at(moment: str, tail: int = 0) -> str:
    millis = int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() * 1000)
    value = (millis << 80) | (0x7 << 76) | (0x2 << 62) | tail
    return str(uuid.UUID(int=value))


@dataclass
class Repository:
    """The tax-day index in memory: the documents whose tax point lies in the span asked for.
    Records the spans asked for, the documents read and the invoices fetched by id."""

    invoices: list[Invoice] = field(default_factory=list)
    notes: list[CreditNote] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)
    fetched: list[list[str]] = field(default_factory=list)

    def tax_documents_between(
        self, scope: Scope, start: datetime, end: datetime
    ) -> Iterator[Invoice | CreditNote]:
        self.spans.append((start, end))
        found: list[Invoice | CreditNote] = [
            i
            for i in self.invoices
            if i.status in REPORTED_STATUSES and i.finalized_at and start <= parse_time(i.finalized_at) < end
        ]
        found += [n for n in self.notes if start <= parse_time(n.created_at) < end]
        for document in found:
            self.read.append(document.id)
            yield document

    def get_many(self, scope: Scope, invoice_ids: Collection[str]) -> list[Invoice]:
        self.fetched.append(sorted(invoice_ids))
        return [i for i in self.invoices if i.id in invoice_ids]


class Tenants:
    def get(self, tenant_id: str) -> Tenant:
        return Tenant(
            id=tenant_id, name="T", timezone=TZ, default_currency="EUR", created_at="2026-01-01T00:00:00Z"
        )


def service_with(repository: Repository) -> TaxExportService:
    return TaxExportService(repository, Tenants())  # type: ignore[arg-type]


def test_the_period_is_read_as_the_utc_instants_of_its_local_days() -> None:
    repository = Repository()

    service_with(repository).report(Scope("t1", livemode=True), JULY)

    # Berlin is UTC+2 in summer: 1 July 00:00 local to 1 August 00:00 local.
    assert repository.spans == [
        (datetime(2026, 6, 30, 22, tzinfo=UTC), datetime(2026, 7, 31, 22, tzinfo=UTC))
    ]


def test_a_draft_from_long_ago_finalized_in_the_period_counts_and_only_the_period_is_read() -> None:
    old = invoice(("100.00", DE19), invoice_id=uuid7_at("2025-01-05T00:00:00Z"))
    june = invoice(("50.00", DE19), finalized_at="2026-06-10T10:00:00Z")
    recent = [
        invoice(
            ("10.00", DE19),
            invoice_id=uuid7_at(f"2026-07-0{day}T00:00:00Z"),
            finalized_at=None,
            status="draft",
        )
        for day in range(1, 6)
    ]
    repository = Repository(invoices=[old, june, *recent])

    report = service_with(repository).report(Scope("t1", livemode=True), JULY)

    assert table(report) == [("EUR", "DE", "S", "19", 1, "100.00", "19.00")]
    assert repository.read == [old.id]
    assert repository.fetched == []


def test_credit_notes_count_by_issue_day_whatever_their_ids_in_either_mode() -> None:
    june = invoice(
        ("100.00", DE19), finalized_at="2026-06-10T10:00:00Z", invoice_id=uuid7_at("2026-06-10T09:00:00Z")
    )
    stamps = ["2026-07-20T09:00:00Z", "2026-07-01T09:00:00Z", "2026-06-30T12:00:00Z", "2026-06-20T09:00:00Z"]
    notes = [
        note(june, ("1.00", DE19), created_at=s, note_id=uuid7_at(s))
        for s in [*stamps, "2026-05-01T00:00:00Z"]
    ]
    repository = Repository(invoices=[june], notes=notes)

    live = service_with(repository).report(Scope("t1", livemode=True), JULY)
    read_live = list(repository.read)
    repository.read.clear()
    sandbox = service_with(repository).report(Scope("t1", livemode=False), JULY)

    assert table(live) == table(sandbox) == [("EUR", "DE", "S", "19", 2, "-2.00", "-0.38")]
    # 30 June 12:00 UTC is 14:00 in Berlin, still June: only the two July notes are read.
    assert read_live == repository.read == [notes[0].id, notes[1].id]


def test_a_note_of_the_period_converts_at_the_rate_of_its_invoice_read_by_id() -> None:
    june = invoice(("117.25", DE19), currency="USD", fx=dict(USD_TAX), finalized_at="2026-06-10T10:00:00Z")
    july = invoice(("117.25", DE19), currency="USD", fx=dict(USD_TAX))
    notes = [note(june, ("117.25", DE19)), note(june, ("117.25", DE19)), note(july, ("117.25", DE19))]
    repository = Repository(invoices=[june, july], notes=notes)

    report = service_with(repository).report(Scope("t1", livemode=True), JULY)

    # The June invoice is fetched once, for both its notes; the July one is in the period.
    assert repository.fetched == [[june.id]]
    (row,) = report.to_dict()["rows"]
    assert (row["invoice_count"], row["credit_note_count"], row["tax_amount_in_tax_currency"]) == (
        1,
        3,
        "-38.00",
    )


def test_a_sandbox_note_on_a_test_clock_far_from_its_id_still_counts() -> None:
    invoice_ = invoice(("100.00", DE19), invoice_id=uuid7_at("2025-01-01T00:00:00Z"))
    # Issued in real time in 2025, on a clock that says July 2026.
    late = note(
        invoice_, ("10.00", DE19), created_at="2026-07-15T00:00:00Z", note_id=uuid7_at("2025-01-02T00:00:00Z")
    )
    repository = Repository(invoices=[invoice_], notes=[late])

    report = service_with(repository).report(Scope("t1", livemode=False), JULY)

    assert table(report) == [("EUR", "DE", "S", "19", 2, "90.00", "17.10")]
