"""Usage of a subscription's billing periods: closing a period into invoice lines, and the
real-time view of the open one (docs/usage.md). The subscription service calls ``close`` from
the steps that end a period; nothing here reads raw events, only the period totals."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from billow.domain.billing import PricedItem, UsageShare, share_usage, usage_lines
from billow.domain.invoice import InvoiceLine
from billow.domain.meter import Meter
from billow.domain.money import Money
from billow.domain.subscription import Subscription, format_time, parse_time
from billow.domain.tenancy import Scope
from billow.domain.usage import (
    Group,
    GroupTotals,
    PeriodWindow,
    closing_level,
    epoch_ms,
    group_from_data,
    projected_quantity,
    quantity_so_far,
    totals_of,
)
from billow.ports.repositories import MeterRepository
from billow.ports.usage import CarriedLevels, UsageStore


def window_of(start: str, end: str) -> PeriodWindow:
    return PeriodWindow(epoch_ms(parse_time(start)), epoch_ms(parse_time(end)))


@dataclass
class UsageService:
    store: UsageStore
    meters: MeterRepository

    def _meters_of(self, scope: Scope, priced: Sequence[PricedItem]) -> dict[str, Meter]:
        found: dict[str, Meter] = {}
        for p in priced:
            meter_id = p.item.meter_id
            if p.is_usage and meter_id and meter_id not in found:
                meter = self.meters.get(scope, meter_id)
                if meter is not None:
                    found[meter_id] = meter
        return found

    def _openings(
        self, scope: Scope, sub: Subscription, period_start: str, meters: dict[str, Meter]
    ) -> tuple[CarriedLevels | None, dict[tuple[str, Group], Decimal]]:
        if not any(m.aggregation == "weighted_sum" for m in meters.values()):
            return None, {}
        levels = self.store.levels(scope, sub.id)
        if levels is None:
            return None, {}
        # A retried close finds its own period's levels: use what that period opened with.
        source = levels.opening if levels.period_start == period_start else levels.closing
        return levels, {_parse_level_key(k): v for k, v in source.items() if _parse_level_key(k)[0] in meters}

    def close(
        self,
        scope: Scope,
        sub: Subscription,
        priced: Sequence[PricedItem],
        end: str,
        closed_at: str,
        *,
        preview: bool,
        new_id: Callable[[], str],
    ) -> list[InvoiceLine]:
        """The usage lines of the subscription's current period, cut at ``end``. Unless a
        preview, the period is fenced first (no event counts in it after this), so the lines
        hold every event counted before."""
        start = sub.current_period_start
        meters = self._meters_of(scope, priced)
        if start is None or not meters:
            return []
        if not preview:
            self.store.close_period(scope, sub.id, start, closed_at)
        usage = self.store.period_usage(scope, sub.id, start)
        _, openings = self._openings(scope, sub, start, meters)
        shares = share_usage(priced, meters, usage.totals, openings)
        window = window_of(start, end)
        lines = usage_lines(shares, window, sub.currency, period_start=start, period_end=end, new_id=new_id)
        weighted = [s for s in shares if s.meter.aggregation == "weighted_sum"]
        if weighted and not preview:
            self.store.save_levels(
                scope,
                sub.id,
                CarriedLevels(
                    period_start=start,
                    opening={_level_key(s.meter.id, s.group): s.opening_level for s in weighted},
                    closing={
                        _level_key(s.meter.id, s.group): closing_level(s.totals, s.opening_level)
                        for s in weighted
                    },
                ),
            )
        return lines

    def current(
        self, scope: Scope, sub: Subscription, priced: Sequence[PricedItem], now: datetime
    ) -> dict[str, Any]:
        """Usage of the open period so far, what it would bill now, and a projection to the
        period's end (docs/usage.md, Real-time usage)."""
        start, end = sub.current_period_start, sub.current_period_end
        meters = self._meters_of(scope, priced)
        body: dict[str, Any] = {
            "object": "subscription_usage",
            "subscription_id": sub.id,
            "currency": sub.currency,
            "as_of": format_time(now),
            "period": {"start": start, "end": end} if start and end else None,
            "meters": [],
        }
        zero = Money.zero(sub.currency)
        if start is None or end is None or sub.status not in ("active", "past_due") or not meters:
            body["amount"], body["projected_amount"] = zero.as_dict(), zero.as_dict()
            return body
        usage = self.store.period_usage(scope, sub.id, start)
        _, openings = self._openings(scope, sub, start, meters)
        window = window_of(start, end)
        now_ms = epoch_ms(now)
        total, projected_total = zero, zero
        by_meter: dict[str, dict[str, Any]] = {}
        for share in share_usage(priced, meters, usage.totals, openings):
            entry = by_meter.setdefault(
                share.meter.id,
                {
                    "meter_id": share.meter.id,
                    "meter_code": share.meter.code,
                    "aggregation": share.meter.aggregation,
                    "groups": [],
                    "amount": zero,
                    "projected_amount": zero,
                },
            )
            group = _group_view(share, window, now_ms, sub.currency)
            entry["groups"].append(group["view"])
            entry["amount"] = entry["amount"] + group["amount"]
            entry["projected_amount"] = entry["projected_amount"] + group["projected"]
            total, projected_total = total + group["amount"], projected_total + group["projected"]
        for entry in by_meter.values():
            entry["amount"] = entry["amount"].as_dict()
            entry["projected_amount"] = entry["projected_amount"].as_dict()
        body["meters"] = list(by_meter.values())
        body["amount"], body["projected_amount"] = total.as_dict(), projected_total.as_dict()
        return body

    def meter_usage(
        self, scope: Scope, sub: Subscription, priced: Sequence[PricedItem], meter_id: str
    ) -> list[tuple[UsageShare, Decimal]]:
        """The open period's shares of one meter with their quantities so far (alerts)."""
        start, end = sub.current_period_start, sub.current_period_end
        meters = {k: v for k, v in self._meters_of(scope, priced).items() if k == meter_id}
        if start is None or end is None or not meters:
            return []
        usage = self.store.period_usage(scope, sub.id, start)
        _, openings = self._openings(scope, sub, start, meters)
        window = window_of(start, end)
        return [
            (share, quantity_so_far(share.meter, share.totals, window, window.end_ms, share.opening_level))
            for share in share_usage(priced, meters, usage.totals, openings)
        ]

    def reproduce(
        self, scope: Scope, subscription_id: str, period_start: str
    ) -> dict[str, dict[Group, GroupTotals]]:
        """Totals recomputed from the kept events of a period: what its invoice billed, found
        again without the running totals (audit, re-rating)."""
        records = self.store.period_log(scope, subscription_id, period_start)
        start_ms = epoch_ms(parse_time(period_start))
        by_meter: dict[str, list[Any]] = {}
        for record in records:
            by_meter.setdefault(record.meter_id, []).append(record.fact())
        return {meter_id: totals_of(facts, start_ms) for meter_id, facts in by_meter.items()}


def _group_view(share: UsageShare, window: PeriodWindow, now_ms: int, currency: str) -> dict[str, Any]:
    from billow.domain.pricing import compute_price

    so_far = quantity_so_far(share.meter, share.totals, window, now_ms, share.opening_level)
    projected = projected_quantity(share.meter, share.totals, window, now_ms, share.opening_level)
    included = share.priced.item.included_quantity if share.priced else Decimal(0)
    amount = projected_amount = Money.zero(currency)
    if share.priced is not None:
        amount = compute_price(share.priced.terms, currency, max(Decimal(0), so_far - included)).total
        projected_amount = compute_price(
            share.priced.terms, currency, max(Decimal(0), projected - included)
        ).total
    view = {
        "group": dict(share.group) if share.group else None,
        "subscription_item_id": share.priced.item.id if share.priced else None,
        "price_id": share.priced.item.price_id if share.priced else None,
        "events": share.totals.count,
        "quantity": _plain(so_far),
        "included_quantity": _plain(included),
        "amount": amount.as_dict(),
        "projected_quantity": _plain(projected),
        "projected_amount": projected_amount.as_dict(),
    }
    return {"view": view, "amount": amount, "projected": projected_amount}


def _plain(number: Decimal) -> str:
    return "0" if number == 0 else f"{number.normalize():f}"


def _level_key(meter_id: str, group: Group) -> str:
    return f"{meter_id}#{json.dumps([list(pair) for pair in group])}"


def _parse_level_key(key: str) -> tuple[str, Group]:
    meter_id, _, group = key.partition("#")
    return meter_id, group_from_data(json.loads(group))
