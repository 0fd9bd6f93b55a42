"""Credit notes: corrections of a finalized invoice, by lines or by amount, never more than
is still creditable (docs/invoicing.md).

Amounts of lines are net; each credit note taxes its lines like an invoice (domain/tax.py),
with the taxes the invoice pinned on the line it credits. A tax-included invoice line is
credited by its net like any other: the note's taxes are the invoice's, stated as excluded
from the note's (net) amounts. A credit by amount is a gross figure, spread over the
invoice's tax stacks (the distinct sets of taxes its lines carry; for single-VAT invoices,
its VAT groups) in proportion to their gross. The note carries the invoice's tax notes (a
reverse-charge statement applies to its correction too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from billow.domain.errors import FieldError, ValidationFailed, validation_failed
from billow.domain.invoice import Invoice
from billow.domain.money import Money, minor_units
from billow.domain.tax import (
    HUNDRED,
    GroupKey,
    TaxAmount,
    TaxRate,
    compute_taxes,
    gross_factor,
    tax_total_of,
)

CreditReason = Literal["duplicate", "fraudulent", "order_change", "product_unsatisfactory", "other"]
CreditOutcome = Literal["credit", "refund", "offset"]
REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory", "other")
OUTCOMES = ("credit", "refund", "offset")


# What a line without any tax is credited at (lines of invoices taxed before tax existed).
NO_TAX = TaxRate("Z", Decimal(0))


def _excluded(rates: Sequence[TaxRate]) -> tuple[TaxRate, ...]:
    """The invoice's taxes as a note applies them: on net amounts."""
    return tuple(replace(rate, inclusive=False) for rate in rates) or (NO_TAX,)


@dataclass(frozen=True)
class CreditNoteLine:
    id: str
    description: str
    amount: Money  # net
    taxes: tuple[TaxRate, ...]  # in apply order, never tax-included
    invoice_line_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "taxes", tuple(self.taxes) or (NO_TAX,))

    @property
    def tax_rate(self) -> TaxRate:
        """The line's VAT, or its first tax."""
        return next((rate for rate in self.taxes if rate.tax_type == "vat"), self.taxes[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "invoice_line_id": self.invoice_line_id,
            "description": self.description,
            "amount": self.amount.as_dict(),
            "tax_rate": self.tax_rate.summary_dict(),
            "taxes": [rate.to_dict() for rate in self.taxes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CreditNoteLine:
        # Notes issued before several taxes per line have only ``tax_rate``.
        raw = data["taxes"] if data.get("taxes") else [data["tax_rate"]]
        return cls(
            id=data["id"],
            description=data["description"],
            amount=Money(Decimal(data["amount"]["amount"]), data["amount"]["currency"]),
            taxes=tuple(TaxRate.from_dict(rate) for rate in raw),
            invoice_line_id=data.get("invoice_line_id"),
        )


@dataclass(frozen=True)
class CreditNote:
    id: str
    livemode: bool
    number: str
    sequence: int
    invoice_id: str
    invoice_number: str | None
    customer_id: str
    currency: str
    reason: CreditReason
    outcome: CreditOutcome
    lines: tuple[CreditNoteLine, ...]
    tax_breakdown: tuple[TaxAmount, ...]
    created_at: str
    updated_at: str
    memo: str | None = None
    tax_notes: tuple[str, ...] = ()
    status: Literal["issued"] = "issued"
    test_clock_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def subtotal(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.lines:
            total = total + line.amount.rounded()
        return total

    @property
    def tax_total(self) -> Money:
        return tax_total_of(self.tax_breakdown, self.currency)

    @property
    def total(self) -> Money:
        return self.subtotal + self.tax_total


@dataclass(frozen=True)
class CreditPlan:
    """What a credit note request amounts to against its invoice, before it is numbered."""

    lines: tuple[CreditNoteLine, ...]
    tax_breakdown: tuple[TaxAmount, ...]
    by_line: dict[str, Decimal]
    tax_notes: tuple[str, ...] = ()

    @property
    def total(self) -> Money:
        currency = self.lines[0].amount.currency
        total = Money.zero(currency)
        for line in self.lines:
            total = total + line.amount.rounded()
        for group in self.tax_breakdown:
            total = total + group.amount
        return total


def _amount(raw: Any, pointer: str, currency: str) -> Money:
    from billow.domain.money import parse_decimal

    value = parse_decimal(raw, pointer, max_decimals=minor_units(currency))
    if value <= 0:
        raise validation_failed(pointer, "must be more than zero")
    return Money(value, currency)


def plan_by_lines(invoice: Invoice, requested: Sequence[Mapping[str, Any]], new_id: Any) -> CreditPlan:
    """Credit named invoice lines, each by ``amount`` (net) or, without one, all of what is
    left of it."""
    errors: list[FieldError] = []
    lines: list[CreditNoteLine] = []
    by_line: dict[str, Decimal] = {}
    for i, entry in enumerate(requested):
        pointer = f"/lines/{i}"
        line = invoice.line(str(entry.get("invoice_line_id") or ""))
        if line is None:
            errors.append(FieldError(f"{pointer}/invoice_line_id", "is not a line of the invoice"))
            continue
        if line.id in by_line:
            errors.append(FieldError(f"{pointer}/invoice_line_id", "names a line already credited above"))
            continue
        left = invoice.creditable_line(line)
        # Only an absent (or null) amount means "all of it": 0 or "" is an invalid amount.
        amount = (
            _amount(entry["amount"], f"{pointer}/amount", invoice.currency)
            if entry.get("amount") is not None
            else left
        )
        if amount.amount <= 0:
            errors.append(FieldError(f"{pointer}/invoice_line_id", "nothing of this line is left to credit"))
            continue
        if amount.amount > left.amount:
            errors.append(
                FieldError(
                    f"{pointer}/amount",
                    f"at most {left.amount} {invoice.currency} of this line is left to credit",
                )
            )
            continue
        lines.append(CreditNoteLine(new_id(), line.description, amount, _excluded(line.taxes), line.id))
        by_line[line.id] = amount.amount
    if errors:
        raise ValidationFailed(detail="the credit note's lines are invalid", errors=errors)
    return _checked(invoice, lines, by_line)


def _stacks(invoice: Invoice) -> list[tuple[tuple[TaxRate, ...], Money, Money]]:
    """The invoice's lines by the taxes they carry: (taxes, net, gross) of each set with a
    positive net, ordered like the breakdown. For an invoice with one tax per line these are
    exactly its tax groups, with the same taxable amounts and tax."""
    currency = invoice.currency
    nets: dict[tuple[GroupKey, ...], tuple[tuple[TaxRate, ...], Money]] = {}
    for line in invoice.lines:
        rates = _excluded(line.taxes)
        key = tuple(rate.group_key for rate in rates)
        _, net = nets.get(key, (rates, Money.zero(currency)))
        nets[key] = (rates, net + line.net)
    stacks = []
    for rates, net in nets.values():
        if net.amount <= 0:
            continue
        taxed = compute_taxes([(net, rates)], currency)
        stacks.append((rates, net, net + tax_total_of(taxed.groups, currency)))
    return sorted(stacks, key=lambda stack: [_order(rate) for rate in stack[0]])


def _order(rate: TaxRate) -> tuple[Any, ...]:
    return (
        rate.tax_type != "vat",
        rate.tax_type,
        rate.jurisdiction or "",
        rate.compound,
        rate.category,
        rate.rate,
    )


def plan_by_amount(invoice: Invoice, raw_amount: Any, description: str, new_id: Any) -> CreditPlan:
    """Credit a gross amount, spread over the invoice's tax stacks by their gross share."""
    gross = _amount(raw_amount, "/amount", invoice.currency)
    stacks = _stacks(invoice) or [((NO_TAX,), invoice.subtotal, invoice.subtotal)]
    whole = sum((stack_gross.amount for _, _, stack_gross in stacks), Decimal(0))
    quantum = Decimal(1).scaleb(-minor_units(invoice.currency))
    lines: list[CreditNoteLine] = []
    left = gross.amount
    for i, (rates, _, stack_gross) in enumerate(stacks):
        share = (
            left
            if i == len(stacks) - 1
            else (gross.amount * stack_gross.amount / whole).quantize(quantum, rounding=ROUND_HALF_UP)
        )
        left -= share
        net = (share * HUNDRED / gross_factor(rates)).quantize(quantum, rounding=ROUND_HALF_UP)
        lines.append(CreditNoteLine(new_id(), description, Money(net, invoice.currency), rates))
    return _checked(invoice, _fitted(lines, gross, quantum), {})


def _fitted(lines: list[CreditNoteLine], gross: Money, quantum: Decimal) -> list[CreditNoteLine]:
    """Net and tax are rounded apart; the gross asked for is what counts, to the cent. Nudge
    the nets by a few cents, one line and else two, until net plus tax is exactly the gross.
    One cent more of net can add two cents of gross in a taxed group (so moving the first line
    alone may overshoot back and forth); when no nudge reaches the gross, the nearest is kept."""

    def total(candidate: Sequence[CreditNoteLine]) -> Decimal:
        return CreditPlan(tuple(candidate), _breakdown(candidate, gross.currency), {}).total.amount

    def nudged(deltas: Mapping[int, int]) -> list[CreditNoteLine] | None:
        out = list(lines)
        for i, cents in deltas.items():
            line = out[i]
            amount = line.amount + Money(quantum * cents, gross.currency)
            if amount.amount < 0:
                return None
            out[i] = replace(line, amount=amount)
        return out

    if total(lines) == gross.amount:
        return lines
    steps = sorted((s for s in range(-3, 4) if s), key=abs)
    tries: list[dict[int, int]] = [{i: s} for s in steps for i in range(len(lines))]
    tries += [
        {i: a, j: b}
        for a in steps
        for b in steps
        for i in range(len(lines))
        for j in range(i + 1, len(lines))
    ]
    best, best_gap = lines, abs(gross.amount - total(lines))
    for deltas in tries:
        candidate = nudged(deltas)
        if candidate is None:
            continue
        gap = abs(gross.amount - total(candidate))
        if gap == 0:
            return candidate
        if gap < best_gap:
            best, best_gap = candidate, gap
    return best


def _breakdown(lines: Sequence[CreditNoteLine], currency: str) -> tuple[TaxAmount, ...]:
    return compute_taxes([(line.amount, line.taxes) for line in lines], currency).groups


def _checked(invoice: Invoice, lines: Sequence[CreditNoteLine], by_line: dict[str, Decimal]) -> CreditPlan:
    plan = CreditPlan(tuple(lines), _breakdown(lines, invoice.currency), by_line, invoice.tax_notes)
    if plan.total.amount > invoice.creditable.amount:
        raise validation_failed(
            "/amount" if not by_line else "/lines",
            f"the credit note would credit {plan.total.amount} {invoice.currency}; "
            f"only {invoice.creditable.amount} {invoice.currency} of the invoice is left to credit",
        )
    return plan


def credit_note_to_dict(note: CreditNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "object": "credit_note",
        "livemode": note.livemode,
        "number": note.number,
        "status": note.status,
        "invoice_id": note.invoice_id,
        "invoice_number": note.invoice_number,
        "customer_id": note.customer_id,
        "currency": note.currency,
        "reason": note.reason,
        "outcome": note.outcome,
        "memo": note.memo,
        "lines": [line.to_dict() for line in note.lines],
        "subtotal": note.subtotal.as_dict(),
        "tax_total": note.tax_total.as_dict(),
        "tax_breakdown": [g.to_dict() for g in note.tax_breakdown],
        "tax_notes": list(note.tax_notes),
        "total": note.total.as_dict(),
        "test_clock_id": note.test_clock_id,
        "metadata": dict(note.metadata),
        "created_at": note.created_at,
        "updated_at": note.updated_at,
        "version": note.version,
        "sequence": note.sequence,
    }


def credit_note_from_dict(data: Mapping[str, Any]) -> CreditNote:
    return CreditNote(
        id=data["id"],
        livemode=bool(data["livemode"]),
        number=data["number"],
        sequence=int(data["sequence"]),
        invoice_id=data["invoice_id"],
        invoice_number=data.get("invoice_number"),
        customer_id=data["customer_id"],
        currency=data["currency"],
        reason=data["reason"],
        outcome=data["outcome"],
        lines=tuple(CreditNoteLine.from_dict(line) for line in data["lines"]),
        tax_breakdown=tuple(TaxAmount.from_dict(g) for g in data.get("tax_breakdown") or ()),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        memo=data.get("memo"),
        tax_notes=tuple(data.get("tax_notes") or ()),
        test_clock_id=data.get("test_clock_id"),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version", 1)),
    )
