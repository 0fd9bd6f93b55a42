"""What a subscription charges: the lines of a period and the prorations of a change.

Pure: the caller resolves each item's price terms (and a customer's override) into a
``PricedItem``; these functions only compute. Recurring fees billed in advance are charged at
the start of their period; fees billed in arrears at its end; usage items are priced from
meters on the invoice that closes the period (usage metering, issue 5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from billow.domain.invoice import InvoiceLine
from billow.domain.money import Money
from billow.domain.proration import ProrationFraction, prorate
from billow.domain.subscription import PendingItem, SubscriptionItem

if TYPE_CHECKING:
    from billow.domain.meter import Meter
    from billow.domain.pricing import PriceComputation, PriceTerms
    from billow.domain.usage import Group, GroupTotals, PeriodWindow


@dataclass(frozen=True)
class PricedItem:
    item: SubscriptionItem
    terms: PriceTerms
    billing_timing: str
    product_type: str
    product_name: str
    price_override_id: str | None = None
    # Usage prices for one group of their meter.
    meter_group: Mapping[str, str] | None = None
    # The product's tax category, stamped on the lines it bills (the tax port needs no read).
    tax_category: str | None = None

    @property
    def is_usage(self) -> bool:
        return self.product_type == "usage"

    def billed(self, timing: str) -> bool:
        return not self.is_usage and self.billing_timing == timing

    def full_period(self, currency: str) -> PriceComputation:
        from billow.domain.pricing import compute_price

        return compute_price(self.terms, currency, self.item.billable_quantity)

    def same_charge_as(self, other: PricedItem) -> bool:
        return (
            self.item.price_id == other.item.price_id
            and self.item.quantity == other.item.quantity
            and self.item.included_quantity == other.item.included_quantity
            and self.terms == other.terms
        )


def recurring_lines(
    priced_items: Sequence[PricedItem],
    currency: str,
    *,
    timing: str,
    period_start: str,
    period_end: str,
    fraction: ProrationFraction | None,
    new_id: Callable[[], str],
) -> list[InvoiceLine]:
    """One line per item billed with ``timing`` for the period; a short period (a first period
    to a day-of-month anchor, a last period cut by a term end) is prorated by ``fraction``."""
    lines = []
    for priced in priced_items:
        if not priced.billed(timing):
            continue
        computation = priced.full_period(currency)
        partial = fraction is not None and fraction.days_remaining != fraction.days_in_period
        amount = prorate(computation.total, fraction) if partial and fraction else computation.total
        lines.append(
            InvoiceLine(
                id=new_id(),
                kind="recurring",
                description=_describe(priced),
                quantity=priced.item.quantity,
                amount=amount,
                period_start=period_start,
                period_end=period_end,
                product_id=priced.item.product_id,
                price_id=priced.item.price_id,
                subscription_item_id=priced.item.id,
                tier_breakdown=tuple(line.to_dict() for line in computation.breakdown),
                proration=_proration(fraction) if partial else None,
                tax_category=priced.tax_category,
            )
        )
    return lines


def change_prorations(
    before: Sequence[PricedItem],
    after: Sequence[PricedItem],
    currency: str,
    *,
    fraction: ProrationFraction,
    period_start: str,
    period_end: str,
    created_at: str,
    new_id: Callable[[], str],
) -> list[PendingItem]:
    """Credit the unused time of every in-advance item that changed or went, charge the
    remaining time of every one that changed or came (API.md: each line rounded once)."""
    old = {p.item.id: p for p in before if p.billed("in_advance")}
    new = {p.item.id: p for p in after if p.billed("in_advance")}
    items: list[PendingItem] = []

    def add(priced: PricedItem, sign: int, label: str) -> None:
        amount = prorate(priced.full_period(currency).total, fraction)
        if amount.amount == 0:
            return
        items.append(
            PendingItem(
                id=new_id(),
                kind="proration",
                description=f"{label} {_describe(priced)}",
                amount=amount if sign > 0 else -amount,
                created_at=created_at,
                product_id=priced.item.product_id,
                price_id=priced.item.price_id,
                quantity=priced.item.quantity,
                period_start=period_start,
                period_end=period_end,
            )
        )

    for item_id, priced in old.items():
        if item_id not in new or not new[item_id].same_charge_as(priced):
            add(priced, -1, "Unused time on")
    for item_id, priced in new.items():
        if item_id not in old or not old[item_id].same_charge_as(priced):
            add(priced, +1, "Remaining time on")
    return items


def unused_time_credit(
    priced_items: Sequence[PricedItem], currency: str, fraction: ProrationFraction
) -> Money:
    """What the rest of a paid period is worth (a prorated refund on cancellation)."""
    total = Money.zero(currency)
    for priced in priced_items:
        if priced.billed("in_advance"):
            total = total + prorate(priced.full_period(currency).total, fraction)
    return total


@dataclass(frozen=True)
class UsageShare:
    """One group of a meter's period usage and the subscription item that bills it (None when
    no item claims the group)."""

    meter: Meter
    group: Group
    totals: GroupTotals
    opening_level: Decimal
    priced: PricedItem | None


def share_usage(
    priced_items: Sequence[PricedItem],
    meters: Mapping[str, Meter],
    totals: Mapping[str, Mapping[Group, GroupTotals]],
    openings: Mapping[tuple[str, Group], Decimal],
) -> list[UsageShare]:
    """Every group of every billed meter, with the item that bills it: the item whose price
    names the most dimensions of the group, else the meter's item without a group. An item
    that no usage reached still gets its share (quantity 0), since a price may charge at 0."""
    from billow.domain.usage import GroupTotals

    shares: list[UsageShare] = []
    for meter_id, meter in meters.items():
        items = [p for p in priced_items if p.is_usage and p.item.meter_id == meter_id]
        if not items:
            continue
        groups = dict(totals.get(meter_id, {}))
        for (level_meter, group), level in openings.items():
            if level_meter == meter_id and level != 0:
                groups.setdefault(group, GroupTotals())
        claimed: set[str] = set()
        for group in sorted(groups, key=lambda g: [(k, v or "") for k, v in g]):
            owner = _owner(items, group)
            if owner is not None:
                claimed.add(owner.item.id)
            opening = openings.get((meter_id, group), Decimal(0))
            shares.append(UsageShare(meter, group, groups[group], opening, owner))
        for priced in items:
            if priced.item.id not in claimed:
                group = tuple((k, v) for k, v in (priced.meter_group or {}).items())
                shares.append(
                    UsageShare(meter, _in_meter_order(meter, group), GroupTotals(), Decimal(0), priced)
                )
    return shares


def _owner(items: Sequence[PricedItem], group: Group) -> PricedItem | None:
    values = dict(group)
    best: PricedItem | None = None
    best_size = -1
    for priced in items:
        wanted = priced.meter_group or {}
        if all(values.get(k) == v for k, v in wanted.items()) and len(wanted) > best_size:
            best, best_size = priced, len(wanted)
    return best


def _in_meter_order(meter: Meter, group: Group) -> Group:
    values = dict(group)
    return tuple((name, values.get(name)) for name in meter.group_by) if meter.group_by else ()


def usage_lines(
    shares: Sequence[UsageShare],
    window: PeriodWindow,
    currency: str,
    *,
    period_start: str,
    period_end: str,
    new_id: Callable[[], str],
) -> list[InvoiceLine]:
    """The usage lines of a closed period: one per (item, group), each priced on its own and
    rounded once; an item's included quantity is free."""
    from billow.domain.pricing import compute_price
    from billow.domain.usage import describe_group, quantity

    lines = []
    for share in shares:
        if share.priced is None:
            continue
        used = quantity(share.meter, share.totals, window, share.opening_level)
        billable = max(Decimal(0), used - share.priced.item.included_quantity)
        computation = compute_price(share.priced.terms, currency, billable)
        label = share.priced.product_name
        lines.append(
            InvoiceLine(
                id=new_id(),
                kind="usage",
                description=f"{label} ({describe_group(share.group)})" if share.group else label,
                quantity=billable,
                amount=computation.total,
                period_start=period_start,
                period_end=period_end,
                product_id=share.priced.item.product_id,
                price_id=share.priced.item.price_id,
                subscription_item_id=share.priced.item.id,
                tier_breakdown=tuple(line.to_dict() for line in computation.breakdown),
                meter_id=share.meter.id,
                group=dict(share.group) if share.group else None,
                tax_category=share.priced.tax_category,
            )
        )
    return lines


def pending_lines(pending: Sequence[PendingItem]) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            id=p.id,
            kind=p.kind,
            description=p.description,
            quantity=p.quantity,
            amount=p.amount,
            period_start=p.period_start,
            period_end=p.period_end,
            product_id=p.product_id,
            price_id=p.price_id,
        )
        for p in pending
    ]


def _describe(priced: PricedItem) -> str:
    quantity = priced.item.quantity
    return priced.product_name if quantity == 1 else f"{priced.product_name} x {quantity.normalize():f}"


def _proration(fraction: ProrationFraction | None) -> dict[str, int] | None:
    if fraction is None:
        return None
    return {"days": fraction.days_remaining, "days_in_period": fraction.days_in_period}
