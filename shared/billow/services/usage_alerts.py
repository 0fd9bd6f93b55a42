"""Usage alert use cases: create, read, list, rename, archive, lift a block, and the two things
ingest asks (is this meter blocked for the period; did this batch cross a threshold)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from billow.domain.errors import NotFound, validation_failed
from billow.domain.events import DomainEvent, EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.subscription import BILLING_STATUSES, Subscription
from billow.domain.tenancy import Scope
from billow.domain.usage_alert import UsageAlert, parse_thresholds, usage_alert_to_dict
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import (
    Page,
    PageResult,
    PriceOverrideRepository,
    PriceRepository,
    ProductRepository,
    SubscriptionRepository,
    UsageAlertFilter,
    UsageAlertRepository,
)
from billow.services.concurrency import read_decide_write
from billow.services.events import change_event, envelope
from billow.services.priced_items import price_items
from billow.services.usage import UsageService


@dataclass
class UsageAlertService:
    alerts: UsageAlertRepository
    subscriptions: SubscriptionRepository
    prices: PriceRepository
    products: ProductRepository
    overrides: PriceOverrideRepository
    usage: UsageService
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, type_: str, alert: UsageAlert) -> EventEnvelope:
        return change_event(scope, type_, "usage_alert", usage_alert_to_dict(alert), new_id=self.new_id)

    # --- the API --------------------------------------------------------------------------------

    def create(self, scope: Scope, raw: dict[str, Any]) -> UsageAlert:
        sub = self.subscriptions.get(scope, raw["subscription_id"])
        if sub is None or sub.is_ended:
            raise validation_failed(
                "/subscription_id", f"no live subscription with id {raw['subscription_id']}"
            )
        if not any(item.meter_id == raw["meter_id"] for item in sub.items):
            raise validation_failed("/meter_id", "the subscription bills no usage of this meter")
        thresholds = parse_thresholds(raw["thresholds"])
        now = rfc3339(self.clock.now())
        alert = UsageAlert(
            id=self.new_id(),
            livemode=scope.livemode,
            subscription_id=sub.id,
            customer_id=sub.customer_id,
            meter_id=raw["meter_id"],
            metric=raw.get("metric") or "units",
            currency=sub.currency if raw.get("metric") == "amount" else None,
            thresholds=thresholds,
            action=raw.get("action") or "notify",
            name=raw.get("name"),
            metadata=dict(raw.get("metadata") or {}),
            created_at=now,
            updated_at=now,
        )
        self.alerts.save(scope, None, alert, [self._event(scope, "usage_alert.created", alert)])
        # Usage already past a threshold counts as crossing it now.
        self.check_thresholds(scope, sub.id, {alert.meter_id})
        return self.get(scope, alert.id)

    def get(self, scope: Scope, alert_id: str) -> UsageAlert:
        alert = self.alerts.get(scope, alert_id)
        if alert is None:
            raise NotFound(detail=f"no usage alert with id {alert_id}")
        return alert

    def list(self, scope: Scope, filters: UsageAlertFilter, page: Page) -> PageResult[UsageAlert]:
        return self.alerts.list(scope, filters, page)

    def _change(
        self,
        scope: Scope,
        alert_id: str,
        if_match: int | None,
        decide: Callable[[UsageAlert], UsageAlert | None],
    ) -> UsageAlert:
        def write(before: UsageAlert, after: UsageAlert) -> None:
            self.alerts.save(scope, before, after, [self._event(scope, "usage_alert.updated", after)])

        return read_decide_write(
            partial(self.get, scope, alert_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda alert: alert.version,
            what="usage alert",
        )

    def update(self, scope: Scope, alert_id: str, raw: dict[str, Any], if_match: int | None) -> UsageAlert:
        def decide(before: UsageAlert) -> UsageAlert | None:
            changes = dict(raw)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(before.metadata, changes["metadata"])
            after = before.with_changes(changes, rfc3339(self.clock.now()))
            same = usage_alert_to_dict(after) | {"version": before.version, "updated_at": before.updated_at}
            return None if same == usage_alert_to_dict(before) else after

        return self._change(scope, alert_id, if_match, decide)

    def archive(self, scope: Scope, alert_id: str, if_match: int | None) -> UsageAlert:
        return self._change(scope, alert_id, if_match, lambda a: a.archive(rfc3339(self.clock.now())))

    def lift(self, scope: Scope, alert_id: str, if_match: int | None) -> UsageAlert:
        """Let usage of the meter count again for the rest of the period."""

        def decide(before: UsageAlert) -> UsageAlert:
            sub = self.subscriptions.get(scope, before.subscription_id)
            period = sub.current_period_start if sub is not None else None
            return before.lift(period or "", rfc3339(self.clock.now()))

        return self._change(scope, alert_id, if_match, decide)

    # --- what ingest asks --------------------------------------------------------------------------

    def blocking(self, scope: Scope, subscription_id: str, meter_id: str, period_start: str) -> str | None:
        for alert in self.alerts.for_subscription(scope, subscription_id):
            if alert.meter_id == meter_id and alert.blocking(period_start):
                crossed = alert.state.crossed[0] if alert.state else Decimal(0)
                return (
                    f"usage alert {alert.id} blocks this meter until the billing period ends or the "
                    f"alert is lifted ({alert.metric} reached {crossed})"
                )
        return None

    def check_thresholds(self, scope: Scope, subscription_id: str, meter_ids: set[str]) -> None:
        """Record every threshold the subscription's current-period usage has reached, once
        per period, each with its ``usage.threshold_reached`` event."""
        alerts = [
            a
            for a in self.alerts.for_subscription(scope, subscription_id)
            if a.meter_id in meter_ids and a.status == "active"
        ]
        if not alerts:
            return
        sub = self.subscriptions.get(scope, subscription_id)
        if sub is None or sub.status not in BILLING_STATUSES or sub.current_period_start is None:
            return
        values: dict[tuple[str, str], Decimal] = {}
        for alert in alerts:
            key = (alert.meter_id, alert.metric)
            if key not in values:
                values[key] = self._value(scope, sub, alert.meter_id, alert.metric)
            self._record(scope, sub, alert.id, values[key])

    def _value(self, scope: Scope, sub: Subscription, meter_id: str, metric: str) -> Decimal:
        from billow.domain.pricing import compute_price

        priced = price_items(
            scope, self.prices, self.products, self.overrides, sub.customer_id, sub.currency, sub.items
        )
        total = Decimal(0)
        for share, quantity in self.usage.meter_usage(scope, sub, priced, meter_id):
            if metric == "units":
                total += quantity
            elif share.priced is not None:
                billable = max(Decimal(0), quantity - share.priced.item.included_quantity)
                total += compute_price(share.priced.terms, sub.currency, billable).total.amount
        return total

    def _record(self, scope: Scope, sub: Subscription, alert_id: str, value: Decimal) -> None:
        period_start = sub.current_period_start or ""

        def write(before: UsageAlert, after: UsageAlert) -> None:
            events = []
            step = before
            for threshold in before.crossings(period_start, value):
                step = step.record(period_start, threshold, after.updated_at)
                data = {
                    **usage_alert_to_dict(step),
                    "crossing": {
                        "threshold": f"{threshold.normalize():f}",
                        "value": f"{value.normalize():f}" if value else "0",
                        "metric": before.metric,
                        "currency": before.currency,
                        "period": {"start": period_start, "end": sub.current_period_end},
                        "action": before.action,
                    },
                }
                events.append(
                    envelope(
                        scope,
                        DomainEvent("usage.threshold_reached", "usage_alert", before.id, data),
                        sequence=step.version,
                        created_at=after.updated_at,
                        new_id=self.new_id,
                    )
                )
            self.alerts.save(scope, before, after, events)

        def decide(before: UsageAlert) -> UsageAlert | None:
            crossings = before.crossings(period_start, value)
            if not crossings:
                return None
            now = rfc3339(self.clock.now())
            after = before
            for threshold in crossings:
                after = after.record(period_start, threshold, now)
            return after

        read_decide_write(
            partial(self.get, scope, alert_id),
            decide,
            write,
            if_match=None,
            version_of=lambda alert: alert.version,
            what="usage alert",
        )
