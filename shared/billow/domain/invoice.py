"""Invoices: a draft with lines, then finalized (numbered, tax and FX pinned, immutable), then
paid, void or uncollectible (docs/invoicing.md).

Totals are sums of lines each rounded once; tax is stated per group of tax type, jurisdiction,
category and rate (domain/tax.py). A line carries the taxes the tax decision gave it, in apply
order; a line whose tax is included in its price keeps that price as ``amount`` and gets its
net (``net_amount``) from the invoice's arithmetic, so ``subtotal`` is always the sum of nets.
A total below zero (credits exceed charges) is never collected: ``amount_due`` is zero and the
surplus goes to the customer's credit balance when the invoice is finalized. The customer's
credit balance is applied to ``amount_due`` at finalization; what is left is collected.

An invoice in another currency than its prices (docs/fx.md) keeps each converted line's
``source_amount`` and its ``source_currency``: the lines are recomputed from those, never from
an amount already converted, each time a rate is applied (provisionally to the draft, finally
at finalization), so the pinned rate alone explains every amount.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal

from billow.domain.dunning_run import DunningRun
from billow.domain.errors import InvalidStateTransition
from billow.domain.money import MAX_UNIT_DECIMALS, Money
from billow.domain.periods import local_date
from billow.domain.subscription import parse_time
from billow.domain.tax import LineTaxes, TaxAmount, TaxRate, compute_taxes, line_tax, tax_total_of

if TYPE_CHECKING:
    from billow.domain.fx import PinnedRate

InvoiceType = Literal["subscription", "proration", "one_off"]
InvoiceStatus = Literal["draft", "finalized", "paid", "void", "uncollectible"]
BillingReason = Literal[
    "subscription_create",
    "subscription_cycle",
    "subscription_resume",
    "subscription_update",
    "subscription_cancel",
    "subscription_end",
    "manual",
]
LineKind = Literal["recurring", "proration", "one_off", "usage"]
# Invoices that can still receive credit notes.
CREDITABLE = ("finalized", "paid", "uncollectible")
MAX_LINES = 500


@dataclass(frozen=True)
class InvoiceLine:
    id: str
    kind: LineKind
    description: str
    quantity: Decimal
    amount: Money
    period_start: str | None = None
    period_end: str | None = None
    product_id: str | None = None
    price_id: str | None = None
    subscription_item_id: str | None = None
    unit_amount: Decimal | None = None
    tier_breakdown: tuple[dict[str, Any], ...] = ()
    proration: dict[str, int] | None = None
    # Usage lines: the meter and the group of its usage they bill.
    meter_id: str | None = None
    group: dict[str, str | None] | None = None
    # Why a line takes money off (required for negative lines added by hand).
    reason: str | None = None
    # Set through the tax port on every draft change, pinned at finalization; in apply order.
    taxes: tuple[TaxRate, ...] = ()
    # Lines added through the API (as opposed to what a subscription produced).
    manual: bool = False
    # The product's tax category when the line was billed from a subscription item (so taxing
    # it reads no product); None: the tax port looks the product up.
    tax_category: str | None = None
    # A tax-included line's net, derived when the invoice is taxed (``amount`` is its gross).
    net_amount: Money | None = None
    # A line converted from the prices' currency: its amount and unit amount as priced there.
    # ``amount`` and ``unit_amount`` are then the converted figures.
    source_amount: Money | None = None
    source_unit_amount: Decimal | None = None

    def converted(self, rate: PinnedRate) -> InvoiceLine:
        """The line in ``rate``'s quote currency, recomputed from what it was priced at: the
        amount rounded once, half-up, to the quote currency's minor unit, the unit amount to
        12 decimals. A line that was never converted and is already in the quote currency
        (one added to the draft by hand) stays as it is."""
        source = self.source_amount if self.source_amount is not None else self.amount
        if self.source_amount is None and source.currency == rate.quote_currency:
            return self
        if source.currency != rate.base_currency:
            raise ValueError(f"line {self.id} is priced in {source.currency}, not {rate.base_currency}")
        unit = self.source_unit_amount if self.source_amount is not None else self.unit_amount
        return replace(
            self,
            amount=rate.convert(source),
            unit_amount=converted_unit_amount(unit, rate.rate) if unit is not None else None,
            source_amount=source,
            source_unit_amount=unit,
            net_amount=None,
        )

    @property
    def tax_rate(self) -> TaxRate | None:
        """The line's VAT, or its first tax: what single-tax readers look at."""
        vat = [rate for rate in self.taxes if rate.tax_type == "vat"]
        first = vat or list(self.taxes)
        return first[0] if first else None

    @property
    def includes_tax(self) -> bool:
        return any(rate.inclusive for rate in self.taxes)

    @property
    def net(self) -> Money:
        return self.net_amount if self.net_amount is not None else self.amount.rounded()

    @property
    def tax(self) -> Money | None:
        """The line's own share of tax (informative; the invoice taxes each group once)."""
        return line_tax(self.net, self.taxes) if self.taxes else None

    def to_dict(self) -> dict[str, Any]:
        tax = self.tax
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit_amount": str(self.unit_amount) if self.unit_amount is not None else None,
            "amount": self.amount.as_dict(),
            "net_amount": self.net.as_dict(),
            "tax": tax.as_dict() if tax is not None else None,
            "tax_rate": self.tax_rate.summary_dict() if self.tax_rate is not None else None,
            "taxes": [rate.to_dict() for rate in self.taxes],
            "period": {"start": self.period_start, "end": self.period_end} if self.period_start else None,
            "product_id": self.product_id,
            "price_id": self.price_id,
            "subscription_item_id": self.subscription_item_id,
            "tier_breakdown": list(self.tier_breakdown),
            "proration": dict(self.proration) if self.proration else None,
            "meter_id": self.meter_id,
            "group": dict(self.group) if self.group is not None else None,
            "reason": self.reason,
            "manual": self.manual,
            "tax_category": self.tax_category,
            "source_amount": self.source_amount.as_dict() if self.source_amount is not None else None,
            "source_unit_amount": str(self.source_unit_amount)
            if self.source_unit_amount is not None
            else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InvoiceLine:
        period = data.get("period") or {}
        unit = data.get("unit_amount")
        # Records from before several taxes per line have only ``tax_rate``.
        if data.get("taxes") is not None:
            taxes = tuple(TaxRate.from_dict(rate) for rate in data["taxes"])
        else:
            taxes = (TaxRate.from_dict(data["tax_rate"]),) if data.get("tax_rate") else ()
        net = data.get("net_amount")
        # Records from before FX conversion have no source amounts.
        source = data.get("source_amount")
        source_unit = data.get("source_unit_amount")
        return cls(
            id=data["id"],
            kind=data["kind"],
            description=data["description"],
            quantity=Decimal(str(data["quantity"])),
            amount=Money(Decimal(data["amount"]["amount"]), data["amount"]["currency"]),
            period_start=period.get("start"),
            period_end=period.get("end"),
            product_id=data.get("product_id"),
            price_id=data.get("price_id"),
            subscription_item_id=data.get("subscription_item_id"),
            unit_amount=Decimal(str(unit)) if unit is not None else None,
            tier_breakdown=tuple(data.get("tier_breakdown") or ()),
            proration={k: int(v) for k, v in data["proration"].items()} if data.get("proration") else None,
            meter_id=data.get("meter_id"),
            group=dict(data["group"]) if data.get("group") is not None else None,
            reason=data.get("reason"),
            taxes=taxes,
            manual=bool(data.get("manual", False)),
            tax_category=data.get("tax_category"),
            net_amount=Money(Decimal(net["amount"]), net["currency"])
            if net and any(rate.inclusive for rate in taxes)
            else None,
            source_amount=Money(Decimal(source["amount"]), source["currency"]) if source else None,
            source_unit_amount=Decimal(str(source_unit)) if source_unit is not None else None,
        )


def converted_unit_amount(unit: Decimal, rate: Decimal) -> Decimal:
    """A unit amount times a rate, rounded half-up to the 12 decimals a unit price may carry
    (API.md), without trailing zeros: enough that quantity x unit explains the converted line."""
    exact = (unit * rate).quantize(Decimal(1).scaleb(-MAX_UNIT_DECIMALS), rounding=ROUND_HALF_UP)
    trimmed = exact.normalize()
    # normalize() writes whole hundreds with an exponent (1E+2); a unit amount never has one.
    exponent = trimmed.as_tuple().exponent
    return trimmed.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else trimmed


def fx_period_end(period_end: str | None, timezone: str, on: date) -> date | None:
    """The date an FX policy with ``rate_date: period_end`` takes its rate of: the last day of
    the billing period the invoice bills, in the tenant's time zone (a period ends at the
    first instant after it). Never after ``on``, the invoice's date: the rates of a day to
    come are not published, and an invoice billing a period in advance does not wait for the
    period to end, it takes its own date's rate. None without a period."""
    if period_end is None:
        return None
    last_day = local_date(parse_time(period_end) - timedelta(microseconds=1), timezone)
    return min(last_day, on)


def total_of(lines: Sequence[InvoiceLine], currency: str) -> Money:
    total = Money.zero(currency)
    for line in lines:
        total = total + line.net
    return total


def _money(value: Decimal, currency: str) -> Money:
    return Money(value, currency).rounded()


@dataclass(frozen=True)
class Invoice:
    id: str
    livemode: bool
    customer_id: str
    currency: str
    type: InvoiceType
    billing_reason: BillingReason
    lines: tuple[InvoiceLine, ...]
    created_at: str
    updated_at: str
    subscription_id: str | None = None
    period_start: str | None = None
    period_end: str | None = None
    collection_method: str = "charge_automatically"
    payment_terms_days: int = 0
    status: InvoiceStatus = "draft"
    test_clock_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1
    # Drafts the billing cycle finalizes on its own at ``finalize_at`` (after the grace period).
    auto_advance: bool = True
    finalize_at: str | None = None
    number: str | None = None
    sequence: int | None = None
    due_date: str | None = None
    finalized_at: str | None = None
    paid_at: str | None = None
    voided_at: str | None = None
    marked_uncollectible_at: str | None = None
    tax_breakdown: tuple[TaxAmount, ...] = ()
    # Sentences the invoice must carry about its tax (reverse charge, an unverified VAT ID).
    tax_notes: tuple[str, ...] = ()
    # The rate pinned at finalization (PinnedRate.to_dict()), with the VAT in the seller's
    # currency when that differs (services/tax_currency.py).
    fx: dict[str, Any] | None = None
    # The prices' currency when the lines were converted from it into ``currency``.
    source_currency: str | None = None
    # Taken from the customer's credit balance at finalization.
    credit_applied: Decimal = Decimal(0)
    amount_paid: Decimal = Decimal(0)
    # Credit notes: everything credited, and the part of it that reduced what is owed.
    credited_total: Decimal = Decimal(0)
    credited_offset: Decimal = Decimal(0)
    credited_by_line: dict[str, Decimal] = field(default_factory=dict)
    # Handing a finalized invoice over to payment collection (ports/payments.py) is pending.
    collection_pending: bool = False
    buyer_reference: str | None = None
    memo: str | None = None
    # Charge attempts started through a gateway, and the one not yet settled (at most one:
    # a second attempt never starts while the gateway may still be charging the first).
    payment_attempts: int = 0
    open_payment_id: str | None = None
    dunning: DunningRun | None = None

    # --- amounts ------------------------------------------------------------------------------

    @property
    def subtotal(self) -> Money:
        return total_of(self.lines, self.currency)

    @property
    def tax_total(self) -> Money:
        return tax_total_of(self.tax_breakdown, self.currency)

    @property
    def total(self) -> Money:
        return self.subtotal + self.tax_total

    @property
    def amount_due(self) -> Money:
        """What the customer owes once the credit balance is applied."""
        due = self.total.amount - self.credit_applied
        return _money(max(due, Decimal(0)), self.currency)

    @property
    def amount_remaining(self) -> Money:
        remaining = self.amount_due.amount - self.amount_paid - self.credited_offset
        return _money(max(remaining, Decimal(0)), self.currency)

    @property
    def credited_to_balance(self) -> Money:
        """What a negative total gives back to the customer's credit balance."""
        return -self.total if self.total.amount < 0 else Money.zero(self.currency)

    @property
    def creditable(self) -> Money:
        """What credit notes may still credit: the total less what they already credited."""
        return _money(max(self.total.amount - self.credited_total, Decimal(0)), self.currency)

    def creditable_line(self, line: InvoiceLine) -> Money:
        """The net amount of a line not yet credited."""
        left = line.net.amount - self.credited_by_line.get(line.id, Decimal(0))
        return _money(max(left, Decimal(0)), self.currency)

    def line(self, line_id: str) -> InvoiceLine | None:
        return next((line for line in self.lines if line.id == line_id), None)

    @property
    def uniqueness_key(self) -> str | None:
        """One invoice per subscription, billing reason and period start: a retried or
        duplicated run finds the key taken and creates nothing."""
        if self.subscription_id is None or self.period_start is None:
            return None
        if self.billing_reason not in ("subscription_create", "subscription_cycle"):
            # Change and cancellation invoices are made in the transaction that moves the
            # subscription's version, which already makes them once-only.
            return None
        return f"{self.subscription_id}:{self.billing_reason}:{self.period_start}"

    # --- lifecycle ------------------------------------------------------------------------------

    def require_draft(self, action: str) -> None:
        if self.status != "draft":
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} is {self.status}: only a draft can be {action}; "
                "correct a finalized invoice with a credit note"
            )

    def touched(self, now: str, **changes: Any) -> Invoice:
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    def with_lines(self, lines: Sequence[InvoiceLine], now: str) -> Invoice:
        self.require_draft("edited")
        return self.touched(now, lines=tuple(lines))

    def converted(self, rate: PinnedRate) -> Invoice:
        """The draft in ``rate``'s quote currency: every line priced in the base currency
        recomputed from its source amount (docs/fx.md), the tax to be computed again. A rate
        from a currency to itself changes nothing."""
        self.require_draft("converted")
        if rate.base_currency == rate.quote_currency:
            return self
        priced_in = self.source_currency or self.currency
        if priced_in != rate.base_currency or (
            self.source_currency is not None and self.currency != rate.quote_currency
        ):
            raise ValueError(
                f"invoice {self.id} converts {priced_in} into {self.currency}, "
                f"not {rate.base_currency} into {rate.quote_currency}"
            )
        return replace(
            self,
            currency=rate.quote_currency,
            source_currency=rate.base_currency,
            lines=tuple(line.converted(rate) for line in self.lines),
            tax_breakdown=(),
        )

    def taxed(self, taxes: Sequence[LineTaxes | TaxRate]) -> Invoice:
        """The lines with their taxes (one ``LineTaxes`` per line, in order; a plain
        ``TaxRate`` is a line with that one tax), the breakdown they give, and the notes the
        decision asked for, each once."""
        decided = [t if isinstance(t, LineTaxes) else LineTaxes((t,)) for t in taxes]
        pairs = list(zip(self.lines, decided, strict=True))
        result = compute_taxes([(line.amount, d.rates) for line, d in pairs], self.currency)
        lines = tuple(
            replace(line, taxes=d.rates, net_amount=net if d.inclusive else None)
            for (line, d), net in zip(pairs, result.nets, strict=True)
        )
        notes = tuple(dict.fromkeys(d.note for d in decided if d.note))
        return replace(self, lines=lines, tax_breakdown=result.groups, tax_notes=notes)

    def finalize(
        self,
        *,
        number: str,
        sequence: int,
        credit_applied: Money,
        fx: Mapping[str, Any],
        today: date,
        now: str,
    ) -> Invoice:
        """Pin what was decided and give the invoice its number. An invoice with nothing left
        to collect is paid at once."""
        self.require_draft("finalized")
        finalized = self.touched(
            now,
            status="finalized",
            number=number,
            sequence=sequence,
            credit_applied=credit_applied.amount,
            fx=dict(fx),
            due_date=(today + timedelta(days=self.payment_terms_days)).isoformat(),
            finalized_at=now,
            finalize_at=None,
        )
        if finalized.amount_remaining.amount == 0:
            return replace(finalized, status="paid", paid_at=now)
        return replace(finalized, collection_pending=True)

    def collection_handed_over(self, now: str) -> Invoice:
        # Bookkeeping, not a change a client sees: no new version, so no gap in the events.
        return replace(self, updated_at=now, collection_pending=False)

    def void(self, now: str) -> Invoice:
        if self.status == "void":
            raise InvalidStateTransition(detail=f"invoice {self.number or self.id} is already void")
        if self.status == "paid":
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} is paid and cannot be voided; issue a credit note"
            )
        if self.amount_paid > 0 or self.credited_total > 0:
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} has payments or credit notes; "
                "credit the rest instead"
            )
        return self.touched(
            now,
            status="void",
            voided_at=now,
            finalize_at=None,
            collection_pending=False,
            dunning=self.dunning.ended("stopped", now) if self.dunning else None,
        )

    def mark_uncollectible(self, now: str) -> Invoice:
        if self.status != "finalized":
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} is {self.status}: only a finalized, unpaid "
                "invoice can be marked uncollectible"
            )
        return self.touched(
            now,
            status="uncollectible",
            marked_uncollectible_at=now,
            collection_pending=False,
            dunning=self.dunning.ended("stopped", now) if self.dunning else None,
        )

    def credit(self, lines: Mapping[str, Decimal], total: Money, offset: Money, now: str) -> Invoice:
        """Record a credit note: ``lines`` are the net amounts it credits per invoice line,
        ``total`` its gross amount, ``offset`` the part that reduces what is owed."""
        if self.status not in CREDITABLE:
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} is {self.status}: only a finalized, paid or "
                "uncollectible invoice can be credited"
            )
        by_line = dict(self.credited_by_line)
        for line_id, amount in lines.items():
            by_line[line_id] = by_line.get(line_id, Decimal(0)) + amount
        after = self.touched(
            now,
            credited_total=self.credited_total + total.amount,
            credited_offset=self.credited_offset + offset.amount,
            credited_by_line=by_line,
        )
        if after.status in ("finalized", "uncollectible") and after.amount_remaining.amount == 0:
            dunning = after.dunning.ended("recovered", now) if after.dunning else None
            return replace(after, status="paid", paid_at=now, collection_pending=False, dunning=dunning)
        return after

    def record_payment(self, amount: Money, now: str) -> Invoice:
        """Money received against the invoice (a gateway charge that succeeded, or a manual
        payment); covering what remains makes it paid."""
        if self.status not in ("finalized", "uncollectible"):
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} is {self.status}: only a finalized or "
                "uncollectible invoice takes payments"
            )
        if amount.currency != self.currency:
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} is in {self.currency}, not {amount.currency}"
            )
        if amount.amount <= 0 or amount.amount > self.amount_remaining.amount:
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} has {self.amount_remaining.amount} "
                f"{self.currency} left to pay; a payment must be more than 0 and at most that"
            )
        after = self.touched(now, amount_paid=self.amount_paid + amount.amount)
        if after.amount_remaining.amount == 0:
            dunning = after.dunning.ended("recovered", now) if after.dunning else None
            return replace(after, status="paid", paid_at=now, collection_pending=False, dunning=dunning)
        return after

    @property
    def next_payment_attempt(self) -> str | None:
        """When dunning will next try to charge the invoice."""
        run = self.dunning
        if run is None or self.status != "finalized":
            return None
        upcoming = run.steps[run.next_step :] if run.status == "active" else ()
        for offset, step in enumerate(upcoming):
            if step.action == "retry_payment":
                return replace(run, next_step=run.next_step + offset).next_at
        return None

    def require_payable(self) -> None:
        """Only a finalized (or uncollectible) invoice with money left is charged."""
        if self.status not in ("finalized", "uncollectible"):
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} is {self.status}: only a finalized or "
                "uncollectible invoice can be paid"
            )
        if self.amount_remaining.amount <= 0:
            raise InvalidStateTransition(detail=f"invoice {self.number or self.id} has nothing left to pay")

    def attempt_started(self, payment_id: str, now: str) -> Invoice:
        """A new charge attempt is under way; it stays open until the gateway settles it."""
        self.require_payable()
        if self.open_payment_id is not None:
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} has a payment in progress ({self.open_payment_id})"
            )
        return self.touched(now, payment_attempts=self.payment_attempts + 1, open_payment_id=payment_id)

    def attempt_settled(self, payment_id: str, now: str) -> Invoice:
        """The open attempt has a final answer (succeeded or failed)."""
        if self.open_payment_id != payment_id:
            return self
        return self.touched(now, open_payment_id=None, collection_pending=False)

    def with_dunning(self, run: DunningRun | None, now: str) -> Invoice:
        return self.touched(now, dunning=run)

    def reverse_payment(self, amount: Money, now: str) -> Invoice:
        """A payment taken back (a chargeback): the invoice is owed again."""
        if amount.currency != self.currency or not 0 < amount.amount <= self.amount_paid:
            raise InvalidStateTransition(
                detail=f"invoice {self.number or self.id} has {self.amount_paid} {self.currency} paid; "
                f"{amount.amount} {amount.currency} cannot be taken back"
            )
        after = self.touched(now, amount_paid=self.amount_paid - amount.amount)
        if after.status == "paid" and after.amount_remaining.amount > 0:
            return replace(after, status="finalized", paid_at=None)
        return after


def invoice_to_dict(invoice: Invoice) -> dict[str, Any]:
    currency = invoice.currency
    return {
        "id": invoice.id,
        "object": "invoice",
        "livemode": invoice.livemode,
        "number": invoice.number,
        "status": invoice.status,
        "type": invoice.type,
        "billing_reason": invoice.billing_reason,
        "customer_id": invoice.customer_id,
        "subscription_id": invoice.subscription_id,
        "currency": currency,
        "source_currency": invoice.source_currency,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "lines": [line.to_dict() for line in invoice.lines],
        "subtotal": invoice.subtotal.as_dict(),
        "discount_total": Money.zero(currency).as_dict(),
        "tax_total": invoice.tax_total.as_dict(),
        "tax_breakdown": [group.to_dict() for group in invoice.tax_breakdown],
        "tax_notes": list(invoice.tax_notes),
        "total": invoice.total.as_dict(),
        "credited_to_balance": invoice.credited_to_balance.as_dict(),
        "credit_applied": _money(invoice.credit_applied, currency).as_dict(),
        "amount_due": invoice.amount_due.as_dict(),
        "amount_paid": _money(invoice.amount_paid, currency).as_dict(),
        "amount_credited": _money(invoice.credited_total, currency).as_dict(),
        "amount_remaining": invoice.amount_remaining.as_dict(),
        "fx": dict(invoice.fx) if invoice.fx else None,
        "collection_method": invoice.collection_method,
        "payment_terms_days": invoice.payment_terms_days,
        "due_date": invoice.due_date,
        "auto_advance": invoice.auto_advance,
        "finalize_at": invoice.finalize_at,
        "finalized_at": invoice.finalized_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
        "marked_uncollectible_at": invoice.marked_uncollectible_at,
        "buyer_reference": invoice.buyer_reference,
        "memo": invoice.memo,
        "attempt_count": invoice.payment_attempts,
        "next_payment_attempt": invoice.next_payment_attempt,
        "dunning": invoice.dunning.to_dict() if invoice.dunning else None,
        "test_clock_id": invoice.test_clock_id,
        "metadata": dict(invoice.metadata),
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
        "version": invoice.version,
    }


def invoice_to_record(invoice: Invoice) -> dict[str, Any]:
    """What is stored: the public form plus the bookkeeping clients do not see."""
    return {
        **invoice_to_dict(invoice),
        "sequence": invoice.sequence,
        "credit_applied_exact": str(invoice.credit_applied),
        "amount_paid_exact": str(invoice.amount_paid),
        "credited_total_exact": str(invoice.credited_total),
        "credited_offset_exact": str(invoice.credited_offset),
        "credited_by_line": {k: str(v) for k, v in invoice.credited_by_line.items()},
        "collection_pending": invoice.collection_pending,
        "open_payment_id": invoice.open_payment_id,
    }


def invoice_from_dict(data: Mapping[str, Any]) -> Invoice:
    return Invoice(
        id=data["id"],
        livemode=bool(data["livemode"]),
        customer_id=data["customer_id"],
        currency=data["currency"],
        type=data["type"],
        billing_reason=data["billing_reason"],
        lines=tuple(InvoiceLine.from_dict(line) for line in data.get("lines") or ()),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        subscription_id=data.get("subscription_id"),
        period_start=data.get("period_start"),
        period_end=data.get("period_end"),
        collection_method=data.get("collection_method", "charge_automatically"),
        payment_terms_days=int(data.get("payment_terms_days", 0)),
        status=data.get("status", "draft"),
        test_clock_id=data.get("test_clock_id"),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version", 1)),
        auto_advance=bool(data.get("auto_advance", True)),
        finalize_at=data.get("finalize_at"),
        number=data.get("number"),
        sequence=int(data["sequence"]) if data.get("sequence") is not None else None,
        due_date=data.get("due_date"),
        finalized_at=data.get("finalized_at"),
        paid_at=data.get("paid_at"),
        voided_at=data.get("voided_at"),
        marked_uncollectible_at=data.get("marked_uncollectible_at"),
        tax_breakdown=tuple(TaxAmount.from_dict(g) for g in data.get("tax_breakdown") or ()),
        tax_notes=tuple(data.get("tax_notes") or ()),
        fx=dict(data["fx"]) if data.get("fx") else None,
        source_currency=data.get("source_currency"),
        credit_applied=Decimal(data.get("credit_applied_exact") or "0"),
        amount_paid=Decimal(data.get("amount_paid_exact") or "0"),
        credited_total=Decimal(data.get("credited_total_exact") or "0"),
        credited_offset=Decimal(data.get("credited_offset_exact") or "0"),
        credited_by_line={k: Decimal(v) for k, v in (data.get("credited_by_line") or {}).items()},
        collection_pending=bool(data.get("collection_pending", False)),
        buyer_reference=data.get("buyer_reference"),
        memo=data.get("memo"),
        payment_attempts=int(data.get("attempt_count") or 0),
        open_payment_id=data.get("open_payment_id"),
        dunning=DunningRun.from_dict(data["dunning"]) if data.get("dunning") else None,
    )
