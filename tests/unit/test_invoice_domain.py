"""The invoicing domain without storage: number formats, the tax breakdown's rounding per group
(EN 16931 BR-CO-17), an invoice's amounts and lifecycle, and how credit notes are planned."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.credit_note import plan_by_amount, plan_by_lines
from billow.domain.errors import InvalidStateTransition, ValidationFailed
from billow.domain.invoice import Invoice, InvoiceLine, invoice_from_dict, invoice_to_record
from billow.domain.money import Money
from billow.domain.numbering import (
    DEFAULT_CREDIT_NOTE_FORMAT,
    DEFAULT_INVOICE_FORMAT,
    format_number,
    format_problem,
)
from billow.domain.tax import TaxAmount, TaxRate, breakdown, tax_of

NOW = "2026-03-15T09:00:00Z"
LATER = "2026-03-20T10:00:00Z"
STANDARD = TaxRate("S", Decimal("19"))
REDUCED = TaxRate("S", Decimal("7"))
ZERO = TaxRate("Z", Decimal("0"))
FX = {"base_currency": "EUR", "quote_currency": "EUR", "rate": "1", "source": "same_currency", "date": "x"}


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def new_ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"id-{next(counter)}"


def make_line(line_id: str, amount: str, **extra: Any) -> InvoiceLine:
    return InvoiceLine(
        id=line_id,
        kind="one_off",
        description=f"Line {line_id}",
        quantity=Decimal(1),
        amount=eur(amount),
        **extra,
    )


def make_invoice(*amounts: str, rates: list[TaxRate] | None = None, **extra: Any) -> Invoice:
    """A draft with one line per amount, taxed at ``rates`` (0 %, category Z, by default)."""
    lines = tuple(make_line(f"L{i}", amount) for i, amount in enumerate(amounts))
    invoice = Invoice(
        id="inv-1",
        livemode=False,
        customer_id="cus-1",
        currency="EUR",
        type="one_off",
        billing_reason="manual",
        lines=lines,
        created_at=NOW,
        updated_at=NOW,
        **extra,
    )
    return invoice.taxed(rates if rates is not None else [ZERO] * len(lines))


def finalize(invoice: Invoice, credit: str = "0", terms: int | None = None) -> Invoice:
    if terms is not None:
        invoice = replace(invoice, payment_terms_days=terms)
    return invoice.finalize(
        number="INV-2026-000001",
        sequence=1,
        credit_applied=eur(credit),
        fx=FX,
        today=date(2026, 3, 15),
        now=LATER,
    )


# --- numbering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "sequence", "issued", "expected"),
    [
        (DEFAULT_INVOICE_FORMAT, 1, date(2026, 3, 15), "INV-2026-000001"),
        (DEFAULT_INVOICE_FORMAT, 42, date(2026, 3, 15), "INV-2026-000042"),
        (DEFAULT_INVOICE_FORMAT, 1234567, date(2027, 1, 1), "INV-2027-1234567"),  # wider than the pad
        (DEFAULT_CREDIT_NOTE_FORMAT, 7, date(2026, 12, 31), "CN-2026-000007"),
        ("ACME/{YY}/{SEQ}", 3, date(2026, 3, 15), "ACME/26/3"),
        ("{YY}{SEQ:02}", 5, date(2009, 1, 1), "0905"),
        ("{YYYY}{MM}{DD}-{SEQ:04}", 12, date(2026, 2, 3), "20260203-0012"),
        ("R#{SEQ:01}_x.y", 99, date(2026, 1, 1), "R#99_x.y"),
        ("{SEQ:012}", 1, date(2026, 1, 1), "000000000001"),
        ("{SEQ}", 10, date(2026, 1, 1), "10"),
    ],
)
def test_format_number(fmt: str, sequence: int, issued: date, expected: str) -> None:
    assert format_problem(fmt) is None
    assert format_number(fmt, sequence, issued) == expected


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("", "1 to 40 characters"),
        ("A" * 36 + "{SEQ}", "1 to 40 characters"),
        ("INV-{YYYY}", "exactly one {SEQ}"),
        ("INV-{SEQ}-{SEQ:04}", "exactly one {SEQ}"),
        ("INV-{seq}", "exactly one {SEQ}"),
        ("INV-{SEQ:4}", "exactly one {SEQ}"),  # not a token: the width needs its leading 0
        ("INV-{FOO}-{SEQ}", "unknown token {FOO}"),
        ("{YYYY}-{MONTH}-{SEQ}", "unknown token {MONTH}"),
        ("{YYYY:04}-{SEQ}", "only {SEQ} takes a width"),
        ("INV-{SEQ:00}", "1 to 12 digits"),
        ("INV-{SEQ:013}", "1 to 12 digits"),
        ("INV {SEQ}", "letters, digits and - / _ . #"),
        ("INV-{SEQ}}", "letters, digits and - / _ . #"),
        ("INV-{SEQ}?", "letters, digits and - / _ . #"),
        ("ÎNV-{SEQ}", "letters, digits and - / _ . #"),
    ],
)
def test_format_problem(fmt: str, problem: str) -> None:
    found = format_problem(fmt)
    assert found is not None
    assert problem in found


def test_the_longest_allowed_format() -> None:
    fmt = "A" * 35 + "{SEQ}"
    assert len(fmt) == 40
    assert format_problem(fmt) is None


# --- tax ----------------------------------------------------------------------------------------


def test_tax_is_rounded_once_per_group_not_per_line() -> None:
    # BR-CO-17: 7 % of 0.30 is 0.021 -> 0.02; three lines rounded apart would give 3 x 0.01.
    [group] = breakdown([(eur("0.10"), REDUCED)] * 3, "EUR")
    assert (group.taxable_amount, group.amount) == (eur("0.30"), eur("0.02"))
    assert sum(tax_of(eur("0.10"), REDUCED.rate).amount for _ in range(3)) == Decimal("0.03")
    # 19 % of ten lines of 0.02: 0.038 -> 0.04 for the group, 0.00 for each line.
    [group] = breakdown([(eur("0.02"), STANDARD)] * 10, "EUR")
    assert (group.taxable_amount, group.amount) == (eur("0.20"), eur("0.04"))
    # Three lines of 0.10 at 19 %: 0.057 -> 0.06.
    [group] = breakdown([(eur("0.10"), STANDARD)] * 3, "EUR")
    assert group.amount == eur("0.06")


def test_the_breakdown_groups_by_category_and_rate_of_rounded_lines() -> None:
    exempt = TaxRate("E", Decimal(0), "VATEX-EU-132")
    groups = breakdown(
        [
            (eur("10.004"), STANDARD),  # each net is rounded first: 10.00
            (eur("5.005"), REDUCED),  # 5.01
            (eur("2.50"), STANDARD),
            (eur("7.00"), exempt),
            (eur("1.00"), ZERO),
        ],
        "EUR",
    )
    assert groups == (
        TaxAmount("E", Decimal(0), eur("7.00"), eur("0.00"), "VATEX-EU-132"),
        TaxAmount("S", Decimal(7), eur("5.01"), eur("0.35")),  # 0.3507
        TaxAmount("S", Decimal(19), eur("12.50"), eur("2.38")),  # 2.375 -> half-up
        TaxAmount("Z", Decimal(0), eur("1.00"), eur("0.00")),
    )
    assert TaxAmount.from_dict(groups[0].to_dict()) == groups[0]


def test_an_invoices_totals_come_from_rounded_lines_and_the_breakdown() -> None:
    invoice = make_invoice("0.10", "0.10", "0.10", "19.995", rates=[REDUCED, REDUCED, REDUCED, STANDARD])
    assert invoice.subtotal == eur("20.30")  # 0.30 + 20.00 (19.995 rounds half-up)
    assert invoice.tax_total == eur("3.82")  # 0.02 + 3.80
    assert invoice.total == eur("24.12")
    assert [line.tax_rate for line in invoice.lines] == [REDUCED, REDUCED, REDUCED, STANDARD]
    assert [line.tax for line in invoice.lines] == [eur("0.01"), eur("0.01"), eur("0.01"), eur("3.80")]
    with pytest.raises(ValueError, match=r"shorter|longer"):
        invoice.taxed([STANDARD])


# --- lifecycle ------------------------------------------------------------------------------------


def test_finalize_pins_the_number_and_the_due_date() -> None:
    draft = make_invoice("59.97")
    invoice = finalize(draft, terms=14)
    assert (invoice.status, invoice.number, invoice.sequence) == ("finalized", "INV-2026-000001", 1)
    assert (invoice.due_date, invoice.finalized_at, invoice.fx) == ("2026-03-29", LATER, FX)
    assert invoice.version == draft.version + 1
    assert invoice.collection_pending
    assert (invoice.amount_due, invoice.amount_remaining) == (eur("59.97"), eur("59.97"))
    with pytest.raises(InvalidStateTransition):
        finalize(invoice)
    with pytest.raises(InvalidStateTransition):
        invoice.with_lines([], LATER)


def test_an_invoice_partly_covered_by_credit_waits_for_the_rest() -> None:
    invoice = finalize(make_invoice("59.97"), credit="25.00")
    assert invoice.status == "finalized"
    assert (invoice.amount_due, invoice.amount_remaining) == (eur("34.97"), eur("34.97"))


@pytest.mark.parametrize(
    ("amounts", "credit"), [(("59.97",), "59.97"), (("0.00",), "0"), (("10.00", "-10.00"), "0")]
)
def test_an_invoice_with_nothing_left_to_collect_is_paid_at_once(
    amounts: tuple[str, ...], credit: str
) -> None:
    invoice = finalize(make_invoice(*amounts), credit=credit)
    assert (invoice.status, invoice.paid_at) == ("paid", LATER)
    assert invoice.amount_due == eur("0.00")
    assert not invoice.collection_pending


def test_a_negative_total_owes_nothing_and_credits_the_balance() -> None:
    invoice = make_invoice("10.00", "-25.00")
    assert invoice.total == eur("-15.00")
    assert (invoice.amount_due, invoice.credited_to_balance) == (eur("0.00"), eur("15.00"))
    assert make_invoice("10.00").credited_to_balance == eur("0")
    assert finalize(invoice).status == "paid"


def test_void_rules() -> None:
    draft = make_invoice("10.00")
    assert draft.void(LATER).status == "void"
    open_invoice = finalize(draft, credit="4.00")
    voided = open_invoice.void(LATER)
    assert (voided.status, voided.voided_at, voided.number) == ("void", LATER, "INV-2026-000001")
    assert not voided.collection_pending
    assert voided.version == open_invoice.version + 1
    uncollectible = open_invoice.mark_uncollectible(LATER)
    assert uncollectible.void(LATER).status == "void"
    for refused in (
        voided,
        finalize(make_invoice("0.00")),  # paid
        replace(open_invoice, amount_paid=Decimal("1.00")),
        open_invoice.credit({}, eur("1.00"), eur("0"), LATER),
    ):
        with pytest.raises(InvalidStateTransition):
            refused.void(LATER)


def test_mark_uncollectible_rules() -> None:
    draft = make_invoice("10.00")
    open_invoice = finalize(draft)
    marked = open_invoice.mark_uncollectible(LATER)
    assert (marked.status, marked.marked_uncollectible_at) == ("uncollectible", LATER)
    assert not marked.collection_pending
    for refused in (draft, marked, open_invoice.void(LATER), finalize(make_invoice("0.00"))):
        with pytest.raises(InvalidStateTransition):
            refused.mark_uncollectible(LATER)


def test_credit_records_what_was_credited_and_pays_what_is_fully_offset() -> None:
    invoice = finalize(make_invoice("60.00", "40.00"))
    with pytest.raises(InvalidStateTransition):
        make_invoice("10.00").credit({}, eur("1.00"), eur("0"), LATER)
    partly = invoice.credit({"L0": Decimal("20.00")}, eur("20.00"), eur("20.00"), LATER)
    assert (partly.status, partly.amount_remaining, partly.creditable) == (
        "finalized",
        eur("80.00"),
        eur("80.00"),
    )
    assert partly.creditable_line(partly.lines[0]) == eur("40.00")
    to_balance = partly.credit({}, eur("30.00"), eur("0"), LATER)
    assert (to_balance.status, to_balance.amount_remaining, to_balance.creditable) == (
        "finalized",
        eur("80.00"),
        eur("50.00"),
    )
    paid = to_balance.credit({"L0": Decimal("40.00")}, eur("80.00"), eur("80.00"), LATER)
    assert (paid.status, paid.paid_at, paid.amount_remaining) == ("paid", LATER, eur("0.00"))
    assert paid.credited_by_line == {"L0": Decimal("60.00")}
    assert not paid.collection_pending


def test_an_invoice_survives_its_stored_form() -> None:
    invoice = finalize(make_invoice("19.99", "0.13", rates=[STANDARD, REDUCED]), credit="3.00")
    invoice = invoice.credit({"L0": Decimal("1.00")}, eur("1.19"), eur("1.19"), LATER)
    assert invoice_from_dict(invoice_to_record(invoice)) == invoice


# --- credit notes -------------------------------------------------------------------------------


def two_rate_invoice(standard: str = "100.00", reduced: str = "50.00") -> Invoice:
    """Finalized: a 19 % line and a 7 % line."""
    return finalize(make_invoice(standard, reduced, rates=[STANDARD, REDUCED]))


def test_a_gross_amount_is_spread_over_the_tax_groups_by_their_gross() -> None:
    invoice = two_rate_invoice()  # 119.00 gross at 19 %, 53.50 at 7 %: 172.50
    assert invoice.total == eur("172.50")
    plan = plan_by_amount(invoice, "34.50", "Goodwill", new_ids())  # a fifth of the invoice
    assert [(line.tax_rate, line.amount) for line in plan.lines] == [
        (REDUCED, eur("10.00")),
        (STANDARD, eur("20.00")),
    ]
    assert [g.amount for g in plan.tax_breakdown] == [eur("0.70"), eur("3.80")]
    assert plan.total == eur("34.50")
    assert all(line.description == "Goodwill" and line.invoice_line_id is None for line in plan.lines)
    assert plan.by_line == {}


@pytest.mark.parametrize(
    ("standard", "reduced", "gross"),
    [
        # Rounding net and tax apart lands a cent off; moving the first group's net by a cent
        # moves its gross by two there, so the other group has to take the cent.
        ("27.29", "295.41", "11.71"),
        ("274.06", "793.84", "565.78"),
        ("100.20", "406.80", "195.22"),
        ("118.61", "854.61", "752.83"),
        ("100.00", "50.00", "0.01"),
        ("100.00", "50.00", "172.50"),  # all of it
    ],
)
def test_a_credit_by_amount_totals_the_requested_gross_to_the_cent(
    standard: str, reduced: str, gross: str
) -> None:
    invoice = two_rate_invoice(standard, reduced)
    plan = plan_by_amount(invoice, gross, "Credit", new_ids())
    assert plan.total == eur(gross)
    assert all(line.amount.amount >= 0 for line in plan.lines)
    # The tax is that of the note's own lines, per group (as on the invoice).
    assert plan.tax_breakdown == breakdown([(line.amount, line.tax_rate) for line in plan.lines], "EUR")


@given(
    standard=st.integers(min_value=1, max_value=10**6),
    reduced=st.integers(min_value=1, max_value=10**6),
    per_mille=st.integers(min_value=0, max_value=1000),
)
def test_any_creditable_gross_is_met_exactly(standard: int, reduced: int, per_mille: int) -> None:
    invoice = two_rate_invoice(str(Decimal(standard) / 100), str(Decimal(reduced) / 100))
    cents = max(1, int(invoice.total.amount * 100) * per_mille // 1000)
    gross = Decimal(cents) / 100
    plan = plan_by_amount(invoice, str(gross), "Credit", new_ids())
    assert plan.total.amount == gross


def test_a_credit_by_amount_never_exceeds_what_is_left() -> None:
    invoice = two_rate_invoice()
    plan_by_amount(invoice, "172.50", "Credit", new_ids())
    with pytest.raises(ValidationFailed) as refused:
        plan_by_amount(invoice, "172.51", "Credit", new_ids())
    assert [e.pointer for e in refused.value.errors] == ["/amount"]
    credited = invoice.credit({}, eur("100.00"), eur("0"), LATER)
    plan_by_amount(credited, "72.50", "Credit", new_ids())
    with pytest.raises(ValidationFailed):
        plan_by_amount(credited, "72.51", "Credit", new_ids())
    for bad in ("0", "0.00", "-1.00", "1.001", 5, None, "x"):
        with pytest.raises(ValidationFailed):
            plan_by_amount(invoice, bad, "Credit", new_ids())


def test_a_credit_by_lines_takes_each_lines_rate() -> None:
    invoice = two_rate_invoice()
    plan = plan_by_lines(
        invoice, [{"invoice_line_id": "L0", "amount": "10.00"}, {"invoice_line_id": "L1"}], new_ids()
    )
    assert [(line.invoice_line_id, line.amount, line.tax_rate) for line in plan.lines] == [
        ("L0", eur("10.00"), STANDARD),
        ("L1", eur("50.00"), REDUCED),
    ]
    assert plan.by_line == {"L0": Decimal("10.00"), "L1": Decimal("50.00")}
    assert plan.total == eur("65.40")  # 10.00 + 1.90 + 50.00 + 3.50


@pytest.mark.parametrize(
    ("entry", "pointer"),
    [
        ({"invoice_line_id": "L0", "amount": 0}, "/lines/0/amount"),  # a JSON 0 is not "all of it"
        ({"invoice_line_id": "L0", "amount": ""}, "/lines/0/amount"),
        ({"invoice_line_id": "L0", "amount": "0"}, "/lines/0/amount"),
        ({"invoice_line_id": "L0", "amount": 10}, "/lines/0/amount"),
        ({"invoice_line_id": "L0", "amount": "100.01"}, "/lines/0/amount"),
        ({"invoice_line_id": "nope"}, "/lines/0/invoice_line_id"),
    ],
)
def test_bad_credit_lines_are_refused(entry: dict[str, Any], pointer: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        plan_by_lines(two_rate_invoice(), [entry], new_ids())
    assert pointer in [e.pointer for e in refused.value.errors]


def test_a_credited_line_cannot_be_credited_again() -> None:
    invoice = two_rate_invoice()
    with pytest.raises(ValidationFailed) as refused:
        plan_by_lines(invoice, [{"invoice_line_id": "L0"}, {"invoice_line_id": "L0"}], new_ids())
    assert [e.pointer for e in refused.value.errors] == ["/lines/1/invoice_line_id"]
    credited = invoice.credit({"L0": Decimal("100.00")}, eur("119.00"), eur("0"), LATER)
    with pytest.raises(ValidationFailed):
        plan_by_lines(credited, [{"invoice_line_id": "L0"}], new_ids())
    assert plan_by_lines(credited, [{"invoice_line_id": "L1"}], new_ids()).total == eur("53.50")
