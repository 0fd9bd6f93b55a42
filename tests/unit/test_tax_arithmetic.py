"""The arithmetic of several taxes per line (domain/tax.py): groups rounded once (BR-CO-17),
compound taxes on the net plus the taxes before them, tax-included prices whose nets are
derived so the document totals the prices shown, and invoices and credit notes built on it."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.credit_note import (
    CreditNoteLine,
    credit_note_from_dict,
    credit_note_to_dict,
    plan_by_amount,
    plan_by_lines,
)
from billow.domain.errors import Conflict
from billow.domain.invoice import Invoice, InvoiceLine, invoice_from_dict, invoice_to_record
from billow.domain.money import Money
from billow.domain.tax import (
    LineTaxes,
    TaxAmount,
    TaxRate,
    compute_taxes,
    line_tax,
    tax_total_of,
)

D = Decimal
VAT19 = TaxRate("S", D(19), tax_type="vat", jurisdiction="DE", name="VAT 19 %")
VAT7 = TaxRate("S", D(7), tax_type="vat", jurisdiction="DE", name="VAT 7 %")
VAT19_INCL = replace(VAT19, inclusive=True)
GST = TaxRate("S", D(5), tax_type="gst", jurisdiction="CA", name="GST")
QST = TaxRate("S", D("9.975"), tax_type="sales_tax", jurisdiction="CA-QC", compound=True, name="QST")
QST_PLAIN = replace(QST, compound=False)
FX = {"base_currency": "EUR", "quote_currency": "EUR", "rate": "1", "source": "same_currency", "date": "x"}
NOW = "2026-03-15T09:00:00Z"


def eur(amount: str | Decimal) -> Money:
    return Money(D(amount), "EUR")


def cents(n: int) -> Decimal:
    return D(n) / 100


def half_up(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def grossed(taxable: Decimal, rate: Decimal) -> Decimal:
    return taxable + half_up(taxable * rate / 100)


def invoice_of(*lines: tuple[str, LineTaxes | TaxRate]) -> Invoice:
    draft = Invoice(
        id="inv-1",
        livemode=False,
        customer_id="cus-1",
        currency="EUR",
        type="one_off",
        billing_reason="manual",
        lines=tuple(
            InvoiceLine(
                id=f"L{i}", kind="one_off", description=f"Line {i}", quantity=D(1), amount=eur(amount)
            )
            for i, (amount, _) in enumerate(lines)
        ),
        created_at=NOW,
        updated_at=NOW,
    )
    return draft.taxed([taxes for _, taxes in lines])


def finalized(invoice: Invoice) -> Invoice:
    return invoice.finalize(
        number="INV-2026-000001",
        sequence=1,
        credit_applied=eur("0"),
        fx=FX,
        today=date(2026, 3, 15),
        now=NOW,
    )


def new_ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"id-{next(counter)}"


# --- several taxes per line ------------------------------------------------------------------------


def test_a_compound_tax_is_charged_on_the_net_plus_the_tax_before_it() -> None:
    invoice = invoice_of(("100.00", LineTaxes.of(GST, QST)))
    gst, qst = invoice.tax_breakdown
    assert (gst.taxable_amount, gst.amount) == (eur("100.00"), eur("5.00"))
    # 9.975 % of 105.00 = 10.47375
    assert (qst.taxable_amount, qst.amount, qst.compound) == (eur("105.00"), eur("10.47"), True)
    assert invoice.total == eur("115.47")
    # The same taxes, not compounding: 9.975 % of 100.00.
    plain = invoice_of(("100.00", LineTaxes.of(GST, QST_PLAIN)))
    assert plain.tax_breakdown[1].amount == eur("9.98")
    assert plain.total == eur("114.98")


def test_the_compound_base_of_several_lines_uses_the_groups_tax_rounded_once() -> None:
    # Three lines of 33.33: GST on 99.99 is 4.9995 -> 5.00 (per line it would be 3 x 1.67).
    invoice = invoice_of(*[("33.33", LineTaxes.of(GST, QST))] * 3)
    gst, qst = invoice.tax_breakdown
    assert gst.amount == eur("5.00")
    assert qst.taxable_amount == eur("104.99")  # 99.99 + 5.00, the GST printed above it
    assert qst.amount == eur("10.47")  # 10.4727...
    assert invoice.total == eur("115.46")
    # Each line's own share is informative only.
    assert invoice.lines[0].tax == eur("1.67") + eur("3.49")


def test_lines_with_different_taxes_before_a_compound_one_contribute_apart() -> None:
    # L0 carries GST then QST; L1 carries QST alone (nothing before it): its base is its net.
    invoice = invoice_of(("100.00", LineTaxes.of(GST, QST)), ("50.00", LineTaxes.of(QST)))
    by_name = {g.name: g for g in invoice.tax_breakdown}
    assert by_name["GST"].taxable_amount == eur("100.00")
    assert by_name["QST"].taxable_amount == eur("155.00")  # (100.00 + 5.00) + 50.00
    assert by_name["QST"].amount == eur("15.46")  # 15.46125


def test_chained_compound_taxes_include_every_tax_before_them() -> None:
    second = TaxRate("S", D(10), tax_type="sales_tax", jurisdiction="XX", compound=True, name="B")
    third = TaxRate("S", D(10), tax_type="hst", jurisdiction="XX", compound=True, name="C")
    invoice = invoice_of(("100.00", LineTaxes.of(GST, second, third)))
    amounts = {g.name: (g.taxable_amount, g.amount) for g in invoice.tax_breakdown}
    assert amounts["B"] == (eur("105.00"), eur("10.50"))
    assert amounts["C"] == (eur("115.50"), eur("11.55"))
    assert invoice.total == eur("127.05")


def test_the_breakdown_groups_by_type_jurisdiction_category_rate_and_compounding() -> None:
    us_ca = TaxRate("S", D("7.25"), tax_type="sales_tax", jurisdiction="US-CA")
    us_ny = TaxRate("S", D("7.25"), tax_type="sales_tax", jurisdiction="US-NY")
    result = compute_taxes(
        [
            (eur("10.00"), (us_ca,)),
            (eur("10.00"), (us_ny,)),
            (eur("10.00"), (us_ca,)),
            (eur("1.00"), (VAT19,)),
        ],
        "EUR",
    )
    assert [(g.tax_type, g.jurisdiction, g.taxable_amount) for g in result.groups] == [
        ("vat", "DE", eur("1.00")),  # VAT first
        ("sales_tax", "US-CA", eur("20.00")),
        ("sales_tax", "US-NY", eur("10.00")),
    ]


@pytest.mark.parametrize(
    ("rates", "problem"),
    [
        ((VAT19_INCL, QST), "compound"),
        ((replace(QST, inclusive=True),), "compound"),
        ((VAT19, VAT7), "only one VAT"),
        ((GST, GST), "same tax twice"),
        ((VAT19_INCL, replace(GST, inclusive=True)), "one tax only"),
        ((VAT19_INCL, GST), "one tax only"),
    ],
)
def test_taxes_that_cannot_apply_together_are_refused(rates: tuple[TaxRate, ...], problem: str) -> None:
    with pytest.raises(Conflict, match=problem):
        LineTaxes(rates)
    with pytest.raises(Conflict, match=problem):
        compute_taxes([(eur("1.00"), rates)], "EUR")


def test_a_line_keeps_its_vat_as_tax_rate_and_every_tax_in_taxes() -> None:
    invoice = invoice_of(("10.00", LineTaxes.of(GST, QST)), ("10.00", LineTaxes.of(QST, VAT19)))
    assert invoice.lines[0].tax_rate == GST  # no VAT: the first tax
    assert invoice.lines[1].tax_rate == VAT19
    assert invoice.lines[0].taxes == (GST, QST)
    line = invoice.lines[1].to_dict()
    assert line["tax_rate"] == {"category": "S", "rate": "19", "exemption_reason": None}
    assert [t["name"] for t in line["taxes"]] == ["QST", "VAT 19 %"]
    assert line["net_amount"] == {"amount": "10.00", "currency": "EUR"}


def test_notes_are_kept_once_each_in_line_order() -> None:
    rc = "Reverse charge."
    other = "Something else."
    invoice = invoice_of(
        ("1.00", LineTaxes.of(VAT19, note=rc)),
        ("1.00", LineTaxes.of(VAT19, note=other)),
        ("1.00", LineTaxes.of(VAT19, note=rc)),
        ("1.00", VAT19),  # a plain TaxRate is still accepted
    )
    assert invoice.tax_notes == (rc, other)


def test_an_invoice_with_several_taxes_survives_its_stored_form() -> None:
    invoice = finalized(
        invoice_of(
            ("100.00", LineTaxes.of(GST, QST, note="A note.")),
            ("119.00", LineTaxes.of(VAT19_INCL)),
            ("5.00", VAT7),
        )
    )
    record = invoice_to_record(invoice)
    assert record["tax_notes"] == ["A note."]
    assert record["tax_breakdown"][0]["tax_type"] == "vat"
    assert invoice_from_dict(record) == invoice


def test_records_from_before_several_taxes_are_still_read() -> None:
    record = invoice_to_record(finalized(invoice_of(("10.00", TaxRate("S", D(19))))))
    for line in record["lines"]:
        del line["taxes"], line["net_amount"]
    for group in record["tax_breakdown"]:
        for key in ("exemption_reason_code", "tax_type", "jurisdiction", "compound", "name"):
            del group[key]
    del record["tax_notes"]
    old = invoice_from_dict(record)
    assert old.lines[0].taxes == (TaxRate("S", D(19)),)
    assert old.tax_breakdown == (TaxAmount("S", D(19), eur("10.00"), eur("1.90")),)
    assert (old.total, old.tax_notes) == (eur("11.90"), ())


# --- tax-included prices ---------------------------------------------------------------------------


def test_a_tax_included_price_is_split_into_net_and_tax() -> None:
    invoice = invoice_of(("119.00", LineTaxes.of(VAT19_INCL)))
    [line] = invoice.lines
    assert (line.amount, line.net, line.tax) == (eur("119.00"), eur("100.00"), eur("19.00"))
    [group] = invoice.tax_breakdown
    assert (group.taxable_amount, group.amount) == (eur("100.00"), eur("19.00"))
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        eur("100.00"),
        eur("19.00"),
        eur("119.00"),
    )


def test_an_unreachable_gross_comes_one_cent_closer_to_zero() -> None:
    # 8.39 + 1.59 = 9.98 and 8.40 + 1.60 = 10.00: nothing gives 9.99.
    invoice = invoice_of(("9.99", LineTaxes.of(VAT19_INCL)))
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (eur("8.39"), eur("1.59"), eur("9.98"))
    credit = invoice_of(("-9.99", LineTaxes.of(VAT19_INCL)))
    assert credit.total == eur("-9.98")


def reachable(gross: Decimal, rate: Decimal) -> bool:
    start = half_up(gross * 100 / (100 + rate))
    return any(grossed(start + cents(k), rate) == gross for k in range(-3, 4))


@pytest.mark.parametrize("rate", [D(19), D(7), D(20), D("5.5"), D("9.975"), D(25), D(0), D(100)])
def test_every_gross_up_to_50_euros_totals_exactly_when_any_net_can(rate: Decimal) -> None:
    tax = TaxRate("S", rate, inclusive=True)
    for n in range(0, 5001):
        gross = cents(n)
        result = compute_taxes([(eur(gross), (tax,))], "EUR")
        [net] = result.nets
        [group] = result.groups
        assert group.taxable_amount == net
        assert group.amount.amount == half_up(net.amount * rate / 100)  # BR-CO-17
        total = net.amount + group.amount.amount
        expected = gross if reachable(gross, rate) else gross - D("0.01")
        assert total == expected, (gross, rate, net)


@given(
    included=st.lists(st.integers(min_value=-50_000, max_value=200_000), min_size=1, max_size=6),
    excluded=st.lists(st.integers(min_value=-50_000, max_value=200_000), max_size=3),
    rate=st.sampled_from([D(19), D(7), D(21), D("5.5"), D("8.1"), D("17.5")]),
)
def test_tax_included_lines_total_their_gross(
    included: list[int], excluded: list[int], rate: Decimal
) -> None:
    inclusive = TaxRate("S", rate, inclusive=True)
    exclusive = TaxRate("S", rate)
    lines = [(eur(cents(c)), (inclusive,)) for c in included] + [
        (eur(cents(c)), (exclusive,)) for c in excluded
    ]
    result = compute_taxes(lines, "EUR")
    [group] = result.groups
    nets = [net.amount for net in result.nets]
    assert sum(nets) == group.taxable_amount.amount
    assert group.amount.amount == half_up(group.taxable_amount.amount * rate / 100)
    assert nets[len(included) :] == [cents(c) for c in excluded]  # tax-excluded nets are as given
    # The target: the prices that include the tax, plus what the others come to on their own.
    net_excluded = sum((cents(c) for c in excluded), D(0))
    target = sum((cents(c) for c in included), D(0)) + grossed(net_excluded, rate)
    total = sum(nets) + group.amount.amount
    if reachable(target, rate):
        assert total == target
    else:
        assert total == target - (D("0.01") if target > 0 else D("-0.01"))
    # Each derived net stays within a cent or two of its own gross taken back to net.
    for c, net in zip(included, nets, strict=False):
        assert abs(net - half_up(cents(c) * 100 / (100 + rate))) <= D("0.02") * len(included)


def test_tax_included_lines_in_several_groups() -> None:
    reduced = TaxRate("S", D(7), inclusive=True)
    invoice = invoice_of(
        ("119.00", LineTaxes.of(VAT19_INCL)),
        ("10.70", LineTaxes.of(reduced)),
        ("59.50", LineTaxes.of(VAT19_INCL)),
        ("20.00", VAT7),  # tax excluded, in the same group as the 7 % included line
    )
    assert [line.net for line in invoice.lines] == [eur("100.00"), eur("10.00"), eur("50.00"), eur("20.00")]
    assert invoice.subtotal == eur("180.00")
    assert invoice.total == eur("119.00") + eur("10.70") + eur("59.50") + eur("21.40")


def test_a_tax_included_invoice_is_credited_at_its_nets() -> None:
    # 9.99 alone cannot be met at 19 % (9.98), but the group of 100.00 + 9.99 can: 92.43 + 17.56.
    invoice = finalized(invoice_of(("100.00", LineTaxes.of(VAT19_INCL)), ("9.99", LineTaxes.of(VAT19_INCL))))
    assert (invoice.subtotal, invoice.total) == (eur("92.43"), eur("109.99"))
    plan = plan_by_lines(invoice, [{"invoice_line_id": "L0"}, {"invoice_line_id": "L1"}], new_ids())
    assert [line.amount for line in plan.lines] == [invoice.lines[0].net, invoice.lines[1].net]
    assert all(not rate.inclusive for line in plan.lines for rate in line.taxes)
    assert plan.total == invoice.total
    by_amount = plan_by_amount(invoice, "109.99", "All", new_ids())
    assert by_amount.total == invoice.total


# --- credit notes with several taxes --------------------------------------------------------------


def test_a_credit_by_lines_takes_every_tax_of_the_line() -> None:
    invoice = finalized(invoice_of(("100.00", LineTaxes.of(GST, QST)), ("50.00", VAT19)))
    plan = plan_by_lines(invoice, [{"invoice_line_id": "L0"}], new_ids())
    assert plan.lines[0].taxes == (GST, QST)
    assert plan.total == eur("115.47")
    assert tax_total_of(plan.tax_breakdown, "EUR") == eur("15.47")


@given(
    first=st.integers(min_value=1, max_value=10**6),
    second=st.integers(min_value=1, max_value=10**6),
    per_mille=st.integers(min_value=0, max_value=1000),
)
def test_a_credit_by_amount_over_compound_taxes_meets_the_gross(
    first: int, second: int, per_mille: int
) -> None:
    invoice = finalized(invoice_of((str(cents(first)), LineTaxes.of(GST, QST)), (str(cents(second)), VAT19)))
    gross = max(D("0.01"), half_up(invoice.total.amount * per_mille / 1000))
    plan = plan_by_amount(invoice, str(gross), "Credit", new_ids())
    assert len(plan.lines) == 2
    assert {line.taxes for line in plan.lines} == {(GST, QST), (VAT19,)}
    # Net and tax are rounded apart: the plan is the gross or the nearest a cent allows.
    assert abs(plan.total.amount - gross) <= D("0.01")


def test_credit_notes_keep_the_invoices_notes_and_read_old_records() -> None:
    invoice = finalized(invoice_of(("100.00", LineTaxes.of(VAT19, note="Reverse charge."))))
    plan = plan_by_lines(invoice, [{"invoice_line_id": "L0"}], new_ids())
    assert plan.tax_notes == ("Reverse charge.",)
    line = CreditNoteLine("c1", "Old", eur("10.00"), (VAT19,), "L0")
    assert CreditNoteLine.from_dict(line.to_dict()) == line
    old = line.to_dict()
    del old["taxes"]
    assert CreditNoteLine.from_dict(old).taxes == (TaxRate("S", D(19), tax_type="vat"),)


def test_a_credit_note_survives_its_stored_form() -> None:
    from billow.domain.credit_note import CreditNote

    invoice = finalized(invoice_of(("100.00", LineTaxes.of(GST, QST, note="N."))))
    plan = plan_by_lines(invoice, [{"invoice_line_id": "L0", "amount": "10.00"}], new_ids())
    note = CreditNote(
        id="cn-1",
        livemode=False,
        number="CN-2026-000001",
        sequence=1,
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        customer_id="cus-1",
        currency="EUR",
        reason="other",
        outcome="credit",
        lines=plan.lines,
        tax_breakdown=plan.tax_breakdown,
        tax_notes=plan.tax_notes,
        created_at=NOW,
        updated_at=NOW,
    )
    stored = credit_note_to_dict(note)
    assert stored["tax_notes"] == ["N."]
    assert credit_note_from_dict(stored) == note
    assert note.total == eur("11.55")  # 10.00 + 0.50 + 9.975 % of 10.50 (1.047...)


def test_line_tax_of_a_stack() -> None:
    assert line_tax(eur("100.00"), (GST, QST)) == eur("15.47")
    assert line_tax(eur("10.004"), (VAT19,)) == eur("1.90")
