"""Invoices as subscriptions produce them: a draft with lines, created once per billing event.

Totals are sums of lines each rounded once (API.md rounding). A total below zero (credits
exceed charges) is never collected: ``amount_due`` is zero and the surplus goes to the
customer's credit balance. Finalizing, numbering, tax and payment build on this (issue 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from billow.domain.money import Money

InvoiceType = Literal["subscription", "proration", "one_off"]
BillingReason = Literal[
    "subscription_create",
    "subscription_cycle",
    "subscription_resume",
    "subscription_update",
    "subscription_cancel",
    "subscription_end",
]
LineKind = Literal["recurring", "proration", "one_off", "usage"]


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit_amount": str(self.unit_amount) if self.unit_amount is not None else None,
            "amount": self.amount.as_dict(),
            "period": {"start": self.period_start, "end": self.period_end} if self.period_start else None,
            "product_id": self.product_id,
            "price_id": self.price_id,
            "subscription_item_id": self.subscription_item_id,
            "tier_breakdown": list(self.tier_breakdown),
            "proration": dict(self.proration) if self.proration else None,
            "meter_id": self.meter_id,
            "group": dict(self.group) if self.group is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InvoiceLine:
        period = data.get("period") or {}
        unit = data.get("unit_amount")
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
        )


def total_of(lines: Sequence[InvoiceLine], currency: str) -> Money:
    total = Money.zero(currency)
    for line in lines:
        total = total + line.amount.rounded()
    return total


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
    status: Literal["draft"] = "draft"
    test_clock_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def total(self) -> Money:
        return total_of(self.lines, self.currency)

    @property
    def amount_due(self) -> Money:
        return self.total if self.total.amount > 0 else Money.zero(self.currency)

    @property
    def credited_to_balance(self) -> Money:
        """What a negative total gives back to the customer's credit balance."""
        return -self.total if self.total.amount < 0 else Money.zero(self.currency)

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


def invoice_to_dict(invoice: Invoice) -> dict[str, Any]:
    zero = Money.zero(invoice.currency).as_dict()
    return {
        "id": invoice.id,
        "object": "invoice",
        "livemode": invoice.livemode,
        "number": None,
        "status": invoice.status,
        "type": invoice.type,
        "billing_reason": invoice.billing_reason,
        "customer_id": invoice.customer_id,
        "subscription_id": invoice.subscription_id,
        "currency": invoice.currency,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "lines": [line.to_dict() for line in invoice.lines],
        "subtotal": invoice.total.as_dict(),
        "discount_total": zero,
        "tax_total": zero,
        "total": invoice.total.as_dict(),
        "credited_to_balance": invoice.credited_to_balance.as_dict(),
        "amount_due": invoice.amount_due.as_dict(),
        "amount_paid": zero,
        "collection_method": invoice.collection_method,
        "payment_terms_days": invoice.payment_terms_days,
        "test_clock_id": invoice.test_clock_id,
        "metadata": dict(invoice.metadata),
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
        "version": invoice.version,
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
    )
