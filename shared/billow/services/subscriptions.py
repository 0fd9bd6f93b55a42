"""Subscription use cases: create, change, cancel, pause, resume, schedule, preview — and run
the steps that time brings (start, trial end, renewal, scheduled change, expiry).

Every step is decided by ``SubscriptionSteps.decide`` from the stored subscription and the
moment it runs at, then written in one transaction with its invoices, credit balance
movements and events. The API's mutations first run any step already due, so a change that
arrives just after a boundary sees the renewed period, whether or not the scheduler ran yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from billow.domain.billing import (
    PricedItem,
    change_prorations,
    pending_lines,
    recurring_lines,
    unused_time_credit,
)
from billow.domain.errors import (
    BillowError,
    ConcurrentModification,
    Conflict,
    FieldError,
    InvalidStateTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    validation_failed,
)
from billow.domain.events import EventEnvelope
from billow.domain.invoice import BillingReason, Invoice, InvoiceLine, InvoiceType, invoice_to_dict
from billow.domain.metadata import merge_metadata
from billow.domain.money import Money, parse_decimal
from billow.domain.periods import BillingCycle, cycle_for, local_date, local_midnight
from billow.domain.plan import INTERVALS, Plan, PlanVersion
from billow.domain.product import missing_requirements
from billow.domain.proration import ProrationFraction, proration_fraction
from billow.domain.subscription import (
    BILLING_STATUSES,
    MAX_ITEMS,
    MAX_PENDING_ITEMS,
    MAX_SCHEDULED_CHANGES,
    DueStep,
    PendingItem,
    ScheduledChange,
    Subscription,
    SubscriptionItem,
    first_period,
    format_time,
    next_period,
    parse_time,
    renewed_term_end,
    subscription_to_dict,
)
from billow.domain.tenancy import InvoiceSettings, Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import (
    CreditEntry,
    CustomerRepository,
    Page,
    PageResult,
    PlanRepository,
    PriceOverrideRepository,
    PriceRepository,
    ProductRepository,
    SubscriptionFilter,
    SubscriptionRepository,
    TenantRepository,
    TestClockRepository,
)
from billow.services.concurrency import MAX_ATTEMPTS, require_version
from billow.services.events import change_event
from billow.services.priced_items import price_items

if TYPE_CHECKING:
    from billow.services.invoices import InvoiceService
    from billow.services.usage import UsageService

logger = Logger(service="billow")

# How far back a start or a scheduled time may lie and still mean "now" (client clock skew).
CLOCK_SKEW = timedelta(seconds=60)


@dataclass
class StepOutcome:
    """What one decision produces: the new state and everything written with it."""

    after: Subscription
    event_type: str
    invoices: list[Invoice] = field(default_factory=list)
    credits: list[CreditEntry] = field(default_factory=list)


@dataclass
class SubscriptionService:
    subscriptions: SubscriptionRepository
    customers: CustomerRepository
    plans: PlanRepository
    prices: PriceRepository
    products: ProductRepository
    overrides: PriceOverrideRepository
    tenants: TenantRepository
    clocks: TestClockRepository
    clock: Clock
    new_id: IdGenerator
    usage: UsageService | None = None
    invoicing: InvoiceService | None = None

    # --- time -----------------------------------------------------------------------------

    def _now(self, scope: Scope, test_clock_id: str | None, *, for_reading: bool = False) -> datetime:
        """Real time, or the frozen time of the test clock the subscription lives in. Reads
        may look while the clock advances; changes wait until it is ready."""
        if test_clock_id is None:
            return self.clock.now()
        clock = self.clocks.get(scope, test_clock_id)
        if clock is None:  # pragma: no cover - clocks are never deleted
            raise NotFound(detail=f"no test clock with id {test_clock_id}")
        if clock.status == "advancing" and not for_reading:
            # Its objects are mid-way between two times; changes wait until it is ready.
            raise Conflict(
                detail=f"test clock {clock.id} is advancing to {clock.advancing_to}; retry when ready"
            )
        return parse_time(clock.frozen_time)

    # --- pricing ----------------------------------------------------------------------------

    def priced(self, scope: Scope, sub: Subscription) -> list[PricedItem]:
        return self._priced_items(scope, sub.customer_id, sub.currency, sub.items)

    def _priced_items(
        self, scope: Scope, customer_id: str, currency: str, items: Sequence[SubscriptionItem]
    ) -> list[PricedItem]:
        return price_items(scope, self.prices, self.products, self.overrides, customer_id, currency, items)

    # --- reading ----------------------------------------------------------------------------

    def get(self, scope: Scope, subscription_id: str) -> Subscription:
        sub = self.subscriptions.get(scope, subscription_id)
        if sub is None:
            raise NotFound(detail=f"no subscription with id {subscription_id}")
        return sub

    def list(self, scope: Scope, filters: SubscriptionFilter, page: Page) -> PageResult[Subscription]:
        return self.subscriptions.list(scope, filters, page)

    # --- items --------------------------------------------------------------------------------

    def _plan_version(
        self, scope: Scope, plan_id: str, number: int | None, pointer: str
    ) -> tuple[Plan, PlanVersion]:
        plan = self.plans.get(scope, plan_id)
        if plan is None:
            raise validation_failed(pointer, f"no plan with id {plan_id}")
        if number is not None:
            try:
                version = plan.version_number(number)
            except NotFound:
                raise validation_failed("/plan_version", f"plan {plan_id} has no version {number}") from None
            if version.status != "published":
                raise validation_failed("/plan_version", f"version {number} is a draft; publish it first")
            return plan, version
        if plan.status != "active":
            raise validation_failed(pointer, f"plan {plan_id} is archived")
        latest = plan.latest_published
        if latest is None:
            raise validation_failed(pointer, f"plan {plan_id} has no published version yet")
        return plan, latest

    def _plan_items(
        self,
        scope: Scope,
        version: PlanVersion,
        quantities: Mapping[str, Any],
        carried: Mapping[str, Decimal],
    ) -> tuple[SubscriptionItem, ...]:
        """Items for a plan version's components; a quantity is given per component or product
        id, carried over from the items being replaced, or 1 (0 for metered usage)."""
        errors = [
            FieldError(f"/quantities/{key}", "is not a component or product of the plan")
            for key in quantities
            if version.component(key) is None
        ]
        if errors:
            raise ValidationFailed(detail="the quantities do not match the plan", errors=errors)
        items = []
        for component in version.components:
            product = self.products.get(scope, component.product_id)
            key = component.id if component.id in quantities else component.product_id
            if key in quantities:
                quantity = _quantity(quantities[key], f"/quantities/{key}")
            elif component.product_id in carried:
                quantity = carried[component.product_id]
            else:
                quantity = Decimal(0 if product is not None and product.type == "usage" else 1)
            items.append(
                SubscriptionItem(
                    id=self.new_id(),
                    price_id=component.price_id,
                    product_id=component.product_id,
                    quantity=quantity,
                    kind="plan",
                    component_id=component.id,
                    included_quantity=component.included_quantity,
                    meter_id=self._meter_of(scope, component.price_id),
                )
            )
        return tuple(items)

    def _check_items(self, scope: Scope, items: Sequence[SubscriptionItem], currency: str | None) -> str:
        """Every price exists, is active, in one currency; required products are present.
        Returns the currency."""
        errors: list[FieldError] = []
        currencies: set[str] = set()
        products = []
        for i, item in enumerate(items):
            price = self.prices.get(scope, item.price_id)
            if price is None:
                errors.append(FieldError(f"/items/{i}/price_id", f"no price with id {item.price_id}"))
                continue
            currencies.add(price.currency)
            if currency is not None and price.currency != currency:
                errors.append(
                    FieldError(
                        f"/items/{i}/price_id",
                        f"the price is in {price.currency}; the subscription is in {currency}",
                    )
                )
            product = self.products.get(scope, price.product_id)
            if product is None or product.status != "active":
                errors.append(FieldError(f"/items/{i}/price_id", "the price's product is archived"))
            elif product not in products:
                products.append(product)
        if currency is None and len(currencies) > 1:
            errors.append(
                FieldError("/items", f"all prices must share one currency, not {sorted(currencies)}")
            )
        for product, required in missing_requirements(products):
            errors.append(FieldError("/items", f"product {product.id} requires product {required}"))
        if len(items) > MAX_ITEMS:
            errors.append(FieldError("/items", f"at most {MAX_ITEMS} items"))
        if not items:
            errors.append(FieldError("/items", "a subscription needs at least one item"))
        if errors:
            raise ValidationFailed(detail="the subscription's items are invalid", errors=errors)
        return currency or currencies.pop()

    def _new_item(
        self, scope: Scope, raw: Mapping[str, Any], pointer: str, kind: str, *, scheduled: bool = False
    ) -> SubscriptionItem:
        price = self.prices.get(scope, raw["price_id"])
        if price is None:
            raise validation_failed(f"{pointer}/price_id", f"no price with id {raw['price_id']}")
        # A scheduled change was checked when it was scheduled; a price archived since applies.
        if price.status != "active" and not scheduled:
            raise validation_failed(f"{pointer}/price_id", "the price is archived")
        return SubscriptionItem(
            id=self.new_id(),
            price_id=price.id,
            product_id=price.product_id,
            quantity=_quantity(raw.get("quantity", "1"), f"{pointer}/quantity"),
            kind=kind,  # type: ignore[arg-type]
            meter_id=price.meter_id,
        )

    def _meter_of(self, scope: Scope, price_id: str) -> str | None:
        price = self.prices.get(scope, price_id)
        return price.meter_id if price is not None else None

    # --- create -------------------------------------------------------------------------------

    def create(self, scope: Scope, raw: dict[str, Any]) -> Subscription:
        customer = self.customers.get(scope, raw["customer_id"])
        if customer is None or customer.status == "archived":
            raise validation_failed("/customer_id", f"no customer with id {raw['customer_id']}")
        if customer.status != "active":
            raise validation_failed("/customer_id", f"customer {customer.id} is disabled")
        clock_id = raw.get("test_clock_id") or customer.test_clock_id
        if clock_id is not None:
            if scope.livemode:
                raise validation_failed("/test_clock_id", "test clocks exist only for sandbox keys")
            if self.clocks.get(scope, clock_id) is None:
                raise validation_failed("/test_clock_id", f"no test clock with id {clock_id}")
            customer_clock = customer.test_clock_id
            if customer_clock not in (None, clock_id):
                raise validation_failed("/test_clock_id", "the customer lives in another test clock")
        now = self._now(scope, clock_id)
        plan_id, plan_version, trial_days = None, None, int(raw.get("trial_days") or 0)
        if raw.get("plan_id"):
            if raw.get("items"):
                raise validation_failed("/items", "give either plan_id or items, not both")
            plan, version = self._plan_version(scope, raw["plan_id"], raw.get("plan_version"), "/plan_id")
            plan_id, plan_version = plan.id, version.number
            quantities = dict(raw.get("quantities") or {})
            if raw.get("quantity") is not None:
                quantities[self._seat_key(scope, version)] = raw["quantity"]
            items = self._plan_items(scope, version, quantities, {})
            currency = self._check_items(scope, items, version.currency)
            interval, interval_count = version.interval, version.interval_count
            if raw.get("trial_days") is None:
                trial_days = version.trial_days
        elif raw.get("items"):
            items = tuple(self._new_item(scope, r, f"/items/{i}", "item") for i, r in enumerate(raw["items"]))
            currency = self._check_items(scope, items, None)
            interval, interval_count = raw.get("interval") or "month", int(raw.get("interval_count") or 1)
        else:
            raise validation_failed("/plan_id", "give a plan_id or items")
        if customer.currency is not None and customer.currency != currency and self.invoicing is not None:
            # The subscription stays in its prices' currency; its invoices are in the customer's,
            # converted (docs/fx.md). A pair without any rate is refused now (422
            # fx_rate_unavailable), not at its first invoice.
            self.invoicing.provisional_rate(scope, currency, customer.currency, now.date())
        if interval not in INTERVALS:
            raise validation_failed("/interval", f"must be one of {', '.join(INTERVALS)}")
        start = self._future_time(raw.get("start_at"), now, "/start_at") or now
        tenant = self.tenants.get(scope.tenant_id)
        timezone = customer.timezone or (tenant.timezone if tenant else "UTC")
        anchor = raw.get("billing_anchor") or {}
        day_of_month = (
            anchor.get("day_of_month") if anchor.get("type", "day_of_month") == "day_of_month" else None
        )
        if anchor and anchor.get("type", "day_of_month") == "day_of_month" and day_of_month is None:
            raise validation_failed(
                "/billing_anchor/day_of_month", "a day_of_month anchor needs its day (1-31)"
            )
        trial_end_day = local_date(start, timezone) + timedelta(days=trial_days)
        billing_start_day = trial_end_day if trial_days else local_date(start, timezone)
        try:
            cycle = cycle_for(interval, interval_count, billing_start_day, day_of_month)
        except ValueError as error:
            raise validation_failed("/billing_anchor", str(error)) from None
        end_at, term_periods = self._term(
            raw, start, trial_end_day if trial_days else None, cycle, timezone, day_of_month is not None
        )
        stamp = rfc3339(now)
        sub = Subscription(
            id=self.new_id(),
            livemode=scope.livemode,
            customer_id=customer.id,
            currency=currency,
            interval=interval,
            interval_count=interval_count,
            timezone=timezone,
            anchor_day=cycle.anchor_day,
            day_of_month_anchor=day_of_month is not None,
            items=items,
            status="pending",
            start_at=format_time(start),
            created_at=stamp,
            updated_at=stamp,
            plan_id=plan_id,
            plan_version=plan_version,
            trial_end=format_time(local_midnight(trial_end_day, timezone)) if trial_days else None,
            collection_method=raw.get("collection_method") or "charge_automatically",
            payment_terms_days=int(raw.get("payment_terms_days") or 0),
            test_clock_id=clock_id,
            auto_renew=raw.get("auto_renew", True) is not False,
            end_at=end_at,
            term_periods=term_periods,
            metadata=dict(raw.get("metadata") or {}),
        )
        self.subscriptions.save(scope, None, sub, [self._event(scope, "subscription.created", sub)])
        # A subscription that starts now takes its first step (trial or first period) at once.
        return self.catch_up(scope, sub.id, now)

    def _seat_key(self, scope: Scope, version: PlanVersion) -> str:
        """The component ``quantity`` applies to: the plan's seat product, else its only
        licensed (non-usage) component."""
        seats, licensed = [], []
        for component in version.components:
            product = self.products.get(scope, component.product_id)
            if product is not None and product.type == "seat":
                seats.append(component.id)
            if product is not None and product.type != "usage":
                licensed.append(component.id)
        for candidates in (seats, licensed):
            if len(candidates) == 1:
                return candidates[0]
        raise validation_failed("/quantity", "the plan has several components; give quantities per component")

    def _seat_item(self, scope: Scope, sub: Subscription) -> SubscriptionItem:
        seats, licensed = [], []
        for item in sub.items:
            product = self.products.get(scope, item.product_id)
            if product is not None and product.type == "seat":
                seats.append(item)
            if product is not None and product.type != "usage":
                licensed.append(item)
        for candidates in (seats, licensed):
            if len(candidates) == 1:
                return candidates[0]
        raise validation_failed("/quantity", "the subscription has several items; change items by id instead")

    def _future_time(self, value: str | None, now: datetime, pointer: str) -> datetime | None:
        if value is None:
            return None
        moment = _parse_moment(value, pointer)
        if moment < now - CLOCK_SKEW:
            raise validation_failed(pointer, f"{value} is in the past (now is {rfc3339(now)})")
        return max(moment, now)

    def _term(
        self,
        raw: Mapping[str, Any],
        start: datetime,
        trial_end_day: Any,
        cycle: BillingCycle,
        timezone: str,
        day_of_month_anchor: bool,
    ) -> tuple[str | None, int | None]:
        """A fixed term ends at ``end_at``; with auto_renew it must end on a period boundary so
        it can roll over by whole periods."""
        if raw.get("end_at") is None:
            return None, None
        end = _parse_moment(raw["end_at"], "/end_at")
        if end <= start:
            raise validation_failed("/end_at", "must be after start_at")
        end_day = local_date(end, timezone)
        end_at = format_time(local_midnight(end_day, timezone))
        if raw.get("auto_renew", True) is False:
            return end_at, None
        billing_start = trial_end_day or local_date(start, timezone)
        boundary = cycle.first_period_end(billing_start, day_of_month_anchor=day_of_month_anchor)
        periods = 1
        while boundary < end_day and periods < 1000:
            boundary, periods = cycle.add(boundary), periods + 1
        if boundary != end_day:
            raise validation_failed(
                "/end_at",
                f"with auto_renew the term must end on a period boundary, e.g. {boundary.isoformat()}",
            )
        return end_at, periods

    # --- the steps time brings -------------------------------------------------------------------

    def catch_up(self, scope: Scope, subscription_id: str, now: datetime) -> Subscription:
        """Run every step of the subscription due by ``now``, in order; the invoices they
        make are finalized at once when their grace period allows (as after any action)."""
        bound = rfc3339(now)
        sub = self.get(scope, subscription_id)
        for _ in range(10_000):
            step = sub.next_due()
            if step is None or step.at > bound:
                return sub
            outcome = self._run_step(scope, subscription_id, bound, stamp=None)
            if outcome is None:
                return self.get(scope, subscription_id)
            self._finalize_now(scope, outcome, bound)
            sub = outcome.after
        return sub

    def run_step(
        self, scope: Scope, subscription_id: str, bound: str, stamp: str | None
    ) -> Subscription | None:
        """Run the subscription's earliest step if it is due by ``bound``; None when nothing
        was due (another run took it). ``stamp`` is the write time (None: the step's time for
        a test clock, else the real time)."""
        outcome = self._run_step(scope, subscription_id, bound, stamp)
        return outcome.after if outcome is not None else None

    def close_due_periods(self, scope: Scope, subscription_id: str, bound: str) -> Sequence[str]:
        """The billing cycle's step for one subscription: run every step due by ``bound`` and
        return the ids of the invoices they drafted. Running it again does nothing."""
        drafted: Sequence[str] = ()
        known: Subscription | None = None
        for _ in range(10_000):
            outcome = self._run_step(scope, subscription_id, bound, None, known=known)
            if outcome is None:
                return drafted
            drafted = (*drafted, *(invoice.id for invoice in outcome.invoices))
            known = outcome.after  # what was just written: no need to read it back
        return drafted

    def _run_step(
        self,
        scope: Scope,
        subscription_id: str,
        bound: str,
        stamp: str | None,
        *,
        known: Subscription | None = None,
    ) -> StepOutcome | None:
        """``known`` is the subscription as this process last wrote it; a stale one only costs
        a failed condition and a fresh read."""
        for _ in range(MAX_ATTEMPTS):
            before = known or self.subscriptions.get(scope, subscription_id)
            known = None
            if before is None:
                return None
            step = before.next_due()
            if step is None or step.at > bound:
                return None
            written = stamp or (step.at if before.test_clock_id else rfc3339(self.clock.now()))
            outcome = self.decide(scope, before, step, written)
            try:
                self._save(scope, before, outcome)
            except ConcurrentModification:
                continue
            return outcome
        raise ConcurrentModification(detail="the subscription is being changed by many requests at once")

    def _save(self, scope: Scope, before: Subscription | None, outcome: StepOutcome) -> None:
        """The step's write: the subscription, its invoice drafts (taxed, with their payment
        terms and grace period, docs/invoicing.md) and the events of both."""
        if outcome.invoices and self.invoicing is not None:
            tenant = self.tenants.get(scope.tenant_id)
            settings = tenant.invoicing if tenant is not None else InvoiceSettings()
            timezone = tenant.timezone if tenant is not None else None
            outcome.invoices = [
                self.invoicing.prepare_draft(scope, invoice, settings, timezone)
                for invoice in outcome.invoices
            ]
        events = [self._event(scope, outcome.event_type, outcome.after)]
        events += [
            change_event(scope, "invoice.created", "invoice", invoice_to_dict(invoice), new_id=self.new_id)
            for invoice in outcome.invoices
        ]
        self.subscriptions.save(
            scope,
            before,
            outcome.after,
            events,
            invoices=outcome.invoices,
            credits=outcome.credits,
        )

    def _finalize_now(self, scope: Scope, outcome: StepOutcome, stamp: str) -> None:
        """Invoices an API action produced are finalized in the same request when their grace
        period is zero; if this fails, the billing cycle finalizes them from the work index."""
        if self.invoicing is None:
            return
        due = [i.id for i in outcome.invoices if i.finalize_at is not None and i.finalize_at <= stamp]
        if not due:
            return
        try:
            for invoice in self.invoicing.finalize_batch(scope, due, stamp, defer_without_rate=True):
                self.invoicing.collect(scope, invoice.id, stamp)
        except BillowError:
            logger.exception("finalizing an action's invoice failed; the billing cycle retries it")

    def decide(
        self, scope: Scope, sub: Subscription, step: DueStep, now: str, *, preview: bool = False
    ) -> StepOutcome:
        """The outcome of a due step. ``preview`` computes it without fencing the usage of the
        period it closes (the upcoming invoice)."""
        at = parse_time(step.at)
        if step.kind == "start":
            if sub.trial_end is not None and sub.trial_end > step.at:
                started = replace(sub.start_trial(now), trial_start=sub.start_at)
                return StepOutcome(started, "subscription.trial_started")
            return self._begin_billing(scope, sub, at, now, "subscription_create", "subscription.activated")
        if step.kind == "trial_will_end":
            return StepOutcome(sub.touched(now, trial_will_end_sent=True), "subscription.trial_will_end")
        if step.kind == "trial_end":
            return self._begin_billing(scope, sub, at, now, "subscription_create", "subscription.activated")
        if step.kind == "resume":
            return self._resume(scope, sub, at, now)
        if step.kind == "scheduled_change":
            change = next(c for c in sub.scheduled_changes if c.id == step.change_id)
            remaining = tuple(c for c in sub.scheduled_changes if c.id != change.id)
            sub = replace(sub, scheduled_changes=remaining)
            if change.action == "cancel":
                return self._cancel_now(scope, sub, at, now, change.request.get("refund", "none"), preview)
            try:
                return self._apply_change(
                    scope, sub, change.request, at, now, prorate=not change.at_period_end, scheduled=True
                )
            except BillowError as error:
                # It no longer fits (e.g. its item was removed since): it is dropped, never
                # retried forever, and the event says why.
                failed = {**change.to_dict(), "failure": {"code": error.code, "detail": error.detail}}
                dropped = sub.touched(now, last_failed_change=failed)
                return StepOutcome(dropped, "subscription.scheduled_change_failed")
        if step.kind == "term_end":
            # Whatever was pending (the pause credit) goes on the final invoice.
            lines = pending_lines(sub.pending_items)
            after = sub.expire(step.at, now)
            return self._with_invoice(
                after,
                "subscription.expired",
                "subscription",
                "subscription_end",
                sub.paused_at,
                step.at,
                lines,
                now,
            )
        return self._period_end(scope, sub, now, preview)

    def _usage_lines(
        self,
        scope: Scope,
        sub: Subscription,
        end: str,
        now: str,
        preview: bool,
        priced: Sequence[PricedItem] | None = None,
    ) -> Sequence[InvoiceLine]:
        """The metered usage of the current period up to ``end`` (docs/usage.md)."""
        if self.usage is None or sub.status not in BILLING_STATUSES:
            return []
        if priced is None:
            priced = self.priced(scope, sub)
        return self.usage.close(scope, sub, priced, end, now, preview=preview, new_id=self.new_id)

    def _begin_billing(
        self, scope: Scope, sub: Subscription, at: datetime, now: str, reason: BillingReason, event: str
    ) -> StepOutcome:
        return self._open_period(scope, sub, first_period(sub, at), now, event, reason)

    def _open_period(
        self,
        scope: Scope,
        sub: Subscription,
        period: tuple[str, str, str],
        now: str,
        event: str,
        reason: BillingReason,
        closing: Sequence[InvoiceLine] = (),
        priced: Sequence[PricedItem] | None = None,
    ) -> StepOutcome:
        """Start a billed period and invoice it: the pending items, what closes the previous
        period (in-arrears fees), then the new period's in-advance fees. ``priced`` is the
        subscription's items already priced for the period just closed."""
        start, end, boundary = period
        after = replace(sub.start_period(start, end, boundary, now), pending_items=())
        if priced is None or after.items != sub.items:
            priced = self.priced(scope, after)
        lines = [
            *pending_lines(sub.pending_items),
            *closing,
            *recurring_lines(
                priced,
                sub.currency,
                timing="in_advance",
                period_start=start,
                period_end=end,
                fraction=self._period_fraction(after, start, end, boundary),
                new_id=self.new_id,
            ),
        ]
        return self._with_invoice(after, event, "subscription", reason, start, end, lines, now)

    def _period_fraction(self, sub: Subscription, start: str, end: str, boundary: str) -> ProrationFraction:
        boundary_day = local_date(parse_time(boundary), sub.timezone)
        return proration_fraction(
            local_date(parse_time(start), sub.timezone),
            local_date(parse_time(end), sub.timezone),
            sub.cycle.days_in_period(boundary_day),
        )

    def _remaining(self, sub: Subscription, at: datetime) -> ProrationFraction:
        """The part of the current period still ahead at ``at`` (API.md: by days)."""
        assert sub.current_period_end is not None
        assert sub.current_period_boundary is not None
        boundary_day = local_date(parse_time(sub.current_period_boundary), sub.timezone)
        return proration_fraction(
            local_date(at, sub.timezone),
            local_date(parse_time(sub.current_period_end), sub.timezone),
            sub.cycle.days_in_period(boundary_day),
        )

    def _period_end(self, scope: Scope, sub: Subscription, now: str, preview: bool) -> StepOutcome:
        assert sub.current_period_start is not None
        assert sub.current_period_end is not None
        priced = self.priced(scope, sub)
        closing = [*self._usage_lines(scope, sub, sub.current_period_end, now, preview, priced)]
        closing += recurring_lines(
            priced,
            sub.currency,
            timing="in_arrears",
            period_start=sub.current_period_start,
            period_end=sub.current_period_end,
            fraction=self._period_fraction(
                sub, sub.current_period_start, sub.current_period_end, sub.current_period_boundary or ""
            ),
            new_id=self.new_id,
        )
        # Without auto-renewal a subscription ends with its term (end_at), or without a term
        # with the period it is in.
        if not sub.auto_renew and (sub.end_at is None or sub.end_at <= sub.current_period_end):
            after = sub.expire(sub.current_period_end, now)
            return self._with_invoice(
                after,
                "subscription.expired",
                "subscription",
                "subscription_end",
                sub.current_period_start,
                sub.current_period_end,
                [*pending_lines(sub.pending_items), *closing],
                now,
            )
        renewing = sub
        if sub.end_at is not None and sub.end_at <= sub.current_period_end:
            renewing = replace(sub, end_at=renewed_term_end(sub))
        return self._open_period(
            scope,
            renewing,
            next_period(renewing),
            now,
            "subscription.renewed",
            "subscription_cycle",
            closing,
            priced=priced,
        )

    def _with_invoice(
        self,
        after: Subscription,
        event: str,
        type_: InvoiceType,
        reason: BillingReason,
        start: str | None,
        end: str | None,
        lines: Sequence[InvoiceLine],
        now: str,
    ) -> StepOutcome:
        outcome = StepOutcome(after, event)
        if not lines:
            return outcome
        invoice = Invoice(
            id=self.new_id(),
            livemode=after.livemode,
            customer_id=after.customer_id,
            currency=after.currency,
            type=type_,
            billing_reason=reason,
            lines=tuple(lines),
            created_at=now,
            updated_at=now,
            subscription_id=after.id,
            period_start=start,
            period_end=end,
            collection_method=after.collection_method,
            payment_terms_days=after.payment_terms_days,
            test_clock_id=after.test_clock_id,
        )
        # A negative total reaches the credit balance when the invoice is finalized.
        outcome.invoices.append(invoice)
        return outcome

    # --- changes --------------------------------------------------------------------------------

    def _changed_items(
        self, scope: Scope, sub: Subscription, request: Mapping[str, Any], scheduled: bool = False
    ) -> tuple[tuple[SubscriptionItem, ...], dict[str, Any]]:
        """The items after a change request, and the other fields it changes (plan)."""
        if request.get("plan_id"):
            plan, version = self._plan_version(
                scope, request["plan_id"], request.get("plan_version"), "/plan_id"
            )
            if version.currency != sub.currency:
                raise validation_failed(
                    "/plan_id", f"the plan is in {version.currency}; the subscription in {sub.currency}"
                )
            carried = {i.product_id: i.quantity for i in sub.items}
            quantities = dict(request.get("quantities") or {})
            if request.get("quantity") is not None:
                quantities[self._seat_key(scope, version)] = request["quantity"]
            items = self._plan_items(scope, version, quantities, carried)
            add_ons = tuple(i for i in sub.items if i.kind == "add_on")
            return items + add_ons, {
                "plan_id": plan.id,
                "plan_version": version.number,
                "interval": version.interval,
                "interval_count": version.interval_count,
            }
        if request.get("quantity") is not None:
            seat = self._seat_item(scope, sub)
            quantity = _quantity(request["quantity"], "/quantity")
            return tuple(replace(i, quantity=quantity) if i.id == seat.id else i for i in sub.items), {}
        changed: list[SubscriptionItem] = [*sub.items]
        for i, entry in enumerate(request.get("items") or ()):
            pointer = f"/items/{i}"
            if entry.get("id"):
                current = next((item for item in changed if item.id == entry["id"]), None)
                if current is None:
                    raise validation_failed(f"{pointer}/id", f"the subscription has no item {entry['id']}")
                if entry.get("deleted"):
                    changed.remove(current)
                    continue
                updated = current
                if entry.get("price_id") and entry["price_id"] != current.price_id:
                    fresh = self._new_item(scope, entry, pointer, current.kind, scheduled=scheduled)
                    updated = replace(current, price_id=fresh.price_id, product_id=fresh.product_id)
                if entry.get("quantity") is not None:
                    updated = replace(updated, quantity=_quantity(entry["quantity"], f"{pointer}/quantity"))
                changed[changed.index(current)] = updated
            elif entry.get("deleted"):
                raise validation_failed(f"{pointer}/deleted", "name the item to delete by its id")
            else:
                if not entry.get("price_id"):
                    raise validation_failed(f"{pointer}/price_id", "a new item needs a price_id")
                kind = entry.get("kind") or "item"
                changed.append(self._new_item(scope, entry, pointer, kind, scheduled=scheduled))
        return tuple(changed), {}

    def _apply_change(
        self,
        scope: Scope,
        sub: Subscription,
        request: Mapping[str, Any],
        at: datetime,
        now: str,
        *,
        prorate: bool,
        scheduled: bool = False,
    ) -> StepOutcome:
        items, fields = self._changed_items(scope, sub, request, scheduled)
        if not scheduled:  # checked when it was scheduled; a price archived since still applies
            self._check_items(scope, items, sub.currency)
        cycle_changes = (
            fields.get("interval") != sub.interval or fields.get("interval_count") != sub.interval_count
        )
        if fields and cycle_changes and sub.status in BILLING_STATUSES and prorate:
            raise validation_failed(
                "/plan_id", "a plan with another billing interval can only take over at the next period"
            )
        after = replace(sub, items=items, **fields).touched(now)
        behavior = request.get("proration_behavior") or "create_prorations"
        if sub.status not in BILLING_STATUSES or not prorate or behavior == "none":
            return StepOutcome(after, "subscription.updated")
        fraction = self._remaining(sub, at)
        prorations = change_prorations(
            self.priced(scope, sub),
            self.priced(scope, after),
            sub.currency,
            fraction=fraction,
            period_start=format_time(at),
            period_end=sub.current_period_end or "",
            created_at=now,
            new_id=self.new_id,
        )
        if behavior == "always_invoice":
            lines = pending_lines(prorations)
            return self._with_invoice(
                after,
                "subscription.updated",
                "proration",
                "subscription_update",
                format_time(at),
                sub.current_period_end,
                lines,
                now,
            )
        if len(after.pending_items) + len(prorations) > MAX_PENDING_ITEMS:
            raise validation_failed("/items", "too many pending prorations; invoice them first")
        return StepOutcome(
            replace(after, pending_items=after.pending_items + tuple(prorations)), "subscription.updated"
        )

    def _cancel_now(
        self, scope: Scope, sub: Subscription, at: datetime, now: str, refund: str, preview: bool = False
    ) -> StepOutcome:
        lines = pending_lines(sub.pending_items)
        lines += self._usage_lines(scope, sub, format_time(at), now, preview)
        refunded: Money | None = None
        if sub.status in BILLING_STATUSES and refund != "none" and sub.current_period_start:
            if refund == "full":
                fraction = self._period_fraction(
                    sub,
                    sub.current_period_start,
                    sub.current_period_end or "",
                    sub.current_period_boundary or "",
                )
            else:
                fraction = self._remaining(sub, at)
            refunded = unused_time_credit(self.priced(scope, sub), sub.currency, fraction)
            if refunded.amount > 0:
                lines.append(
                    InvoiceLine(
                        id=self.new_id(),
                        kind="proration",
                        description="Refund of the unused period"
                        if refund == "prorate"
                        else "Refund of the period",
                        quantity=Decimal(1),
                        amount=-refunded,
                        period_start=format_time(at),
                        period_end=sub.current_period_end,
                    )
                )
        after = sub.cancel(format_time(at), now, refunded)
        return self._with_invoice(
            after,
            "subscription.canceled",
            "proration",
            "subscription_cancel",
            format_time(at),
            sub.current_period_end,
            lines,
            now,
        )

    def _resume(self, scope: Scope, sub: Subscription, at: datetime, now: str) -> StepOutcome:
        """A resumed subscription starts a new period at the resume date; with an anniversary
        anchor the anchor moves to that date (docs/subscriptions.md)."""
        anchor_day = sub.anchor_day if sub.day_of_month_anchor else local_date(at, sub.timezone).day
        sub = replace(sub, anchor_day=anchor_day, resume_at=None, paused_at=None)
        return self._open_period(
            scope, sub, first_period(sub, at), now, "subscription.resumed", "subscription_resume"
        )

    # --- the API's actions -------------------------------------------------------------------

    def _act(
        self,
        scope: Scope,
        subscription_id: str,
        if_match: int | None,
        decide: Callable[[Subscription, datetime, str], StepOutcome],
    ) -> Subscription:
        """Catch up on due steps, then decide and write under the read version."""
        current = self.get(scope, subscription_id)
        now = self._now(scope, current.test_clock_id)
        # Steps already due come first: a change just after a boundary sees the new period.
        self.catch_up(scope, subscription_id, now)
        for _ in range(MAX_ATTEMPTS):
            before = self.get(scope, subscription_id)
            require_version(if_match, before.version)
            outcome = decide(before, now, rfc3339(now))
            if outcome.after is before:
                return before
            try:
                self._save(scope, before, outcome)
            except ConcurrentModification:
                if if_match is not None:
                    raise PreconditionFailed(
                        detail="the subscription changed since the version in If-Match"
                    ) from None
                continue
            self._finalize_now(scope, outcome, rfc3339(now))
            return outcome.after
        raise ConcurrentModification(
            detail="the subscription is being changed by many requests at once; retry"
        )

    def cancel_at(self, scope: Scope, subscription_id: str, at: str) -> Subscription:
        """Cancel now, at a billing-cycle step's time (a dunning step; a test clock may be
        mid-advance), without a refund. An ended subscription is left as it is."""
        moment = parse_time(at)
        for _ in range(MAX_ATTEMPTS):
            before = self.get(scope, subscription_id)
            if before.is_ended:
                return before
            outcome = self._cancel_now(scope, before, moment, at, "none")
            try:
                self._save(scope, before, outcome)
            except ConcurrentModification:
                continue
            return outcome.after
        raise ConcurrentModification(
            detail="the subscription is being changed by many requests at once; retry"
        )

    def payment_standing(self, scope: Scope, subscription_id: str, *, past_due: bool) -> Subscription:
        """Past due on a failed payment, active again when paid (dunning, docs/dunning.md).
        Repeating it changes nothing; it runs no due steps, so it is safe inside any step."""
        for _ in range(MAX_ATTEMPTS):
            before = self.get(scope, subscription_id)
            # Called from the billing cycle's steps while a test clock advances, too.
            stamp = rfc3339(self._now(scope, before.test_clock_id, for_reading=True))
            after = before.payment_standing(past_due, stamp)
            if after is before:
                return before
            event = "subscription.past_due" if past_due else "subscription.activated"
            try:
                self._save(scope, before, StepOutcome(after, event))
            except ConcurrentModification:
                continue
            return after
        raise ConcurrentModification(
            detail="the subscription is being changed by many requests at once; retry"
        )

    def change(
        self, scope: Scope, subscription_id: str, raw: dict[str, Any], if_match: int | None
    ) -> Subscription:
        given = [k for k in ("items", "plan_id", "quantity") if raw.get(k) is not None]
        if not given:
            raise validation_failed("/items", "give items, plan_id or quantity")
        if len(given) > 1 and not (set(given) == {"plan_id", "quantity"}):
            raise validation_failed(
                f"/{given[1]}", f"give one of items, plan_id or quantity, not {' and '.join(given)}"
            )
        when = raw.get("when") or "immediately"

        def decide(sub: Subscription, now: datetime, stamp: str) -> StepOutcome:
            sub.require_changeable()
            request = {k: v for k, v in raw.items() if k not in ("when", "at")}
            # Before its start nothing is billed yet: "next period" is the first one, so the
            # change applies now (and is not prorated).
            if when == "immediately" or (when == "next_period" and sub.status == "pending"):
                return self._apply_change(scope, sub, request, now, stamp, prorate=True)
            # Validate now what will run later, so a scheduled change cannot fail then.
            self._apply_change(scope, sub, request, now, stamp, prorate=when == "at")
            effective, at_period_end = self._schedule_time(sub, raw, now, when)
            return self._schedule(sub, "change", effective, request, at_period_end, stamp)

        return self._act(scope, subscription_id, if_match, decide)

    def _schedule_time(
        self, sub: Subscription, raw: Mapping[str, Any], now: datetime, when: str
    ) -> tuple[str, bool]:
        if when == "at":
            if raw.get("at") is None:
                raise validation_failed("/at", "when is 'at': give the time")
            moment = _parse_moment(raw["at"], "/at")
            if moment <= now:
                raise validation_failed("/at", f"{raw['at']} is not in the future (now is {rfc3339(now)})")
            return format_time(moment), False
        boundary = {
            "pending": sub.start_at,
            "trialing": sub.trial_end,
        }.get(sub.status, sub.current_period_end)
        if boundary is None:
            raise InvalidStateTransition(
                detail=f"subscription {sub.id} is {sub.status} and has no period end"
            )
        return boundary, True

    def _schedule(
        self,
        sub: Subscription,
        action: str,
        effective: str,
        request: Mapping[str, Any],
        at_period_end: bool,
        now: str,
    ) -> StepOutcome:
        if len(sub.scheduled_changes) >= MAX_SCHEDULED_CHANGES:
            raise validation_failed("/when", f"at most {MAX_SCHEDULED_CHANGES} scheduled changes")
        if action == "cancel" and sub.scheduled_cancellation is not None:
            raise InvalidStateTransition(
                detail=f"subscription {sub.id} is already set to cancel at "
                f"{sub.scheduled_cancellation.effective_at}"
            )
        change = ScheduledChange(
            id=self.new_id(),
            action=action,  # type: ignore[arg-type]
            effective_at=effective,
            request=dict(request),
            created_at=now,
            at_period_end=at_period_end,
        )
        return StepOutcome(
            sub.touched(now, scheduled_changes=(*sub.scheduled_changes, change)), "subscription.updated"
        )

    def cancel(
        self, scope: Scope, subscription_id: str, raw: dict[str, Any], if_match: int | None
    ) -> Subscription:
        when = raw.get("when") or "immediately"
        refund = raw.get("refund") or "none"

        def decide(sub: Subscription, now: datetime, stamp: str) -> StepOutcome:
            if sub.is_ended:
                raise InvalidStateTransition(detail=f"subscription {sub.id} is already {sub.status}")
            if when == "immediately" or (when == "period_end" and sub.status == "pending"):
                return self._cancel_now(scope, sub, now, stamp, refund)
            effective, at_period_end = self._schedule_time(
                sub, raw, now, "at" if when == "at" else "next_period"
            )
            return self._schedule(sub, "cancel", effective, {"refund": refund}, at_period_end, stamp)

        return self._act(scope, subscription_id, if_match, decide)

    def pause(
        self, scope: Scope, subscription_id: str, raw: dict[str, Any], if_match: int | None
    ) -> Subscription:
        def decide(sub: Subscription, now: datetime, stamp: str) -> StepOutcome:
            resume_at = None
            if raw.get("resume_at") is not None:
                moment = _parse_moment(raw["resume_at"], "/resume_at")
                if moment <= now:
                    raise validation_failed("/resume_at", "must be in the future")
                resume_at = format_time(moment)
            if any(c.at_period_end for c in sub.scheduled_changes):
                raise InvalidStateTransition(
                    detail="a change is scheduled for the period end; cancel it before pausing"
                )
            credit: list[PendingItem] = []
            if (
                sub.status in BILLING_STATUSES
                and (raw.get("proration_behavior") or "create_prorations") != "none"
            ):
                amount = unused_time_credit(self.priced(scope, sub), sub.currency, self._remaining(sub, now))
                if amount.amount > 0:
                    credit.append(
                        PendingItem(
                            id=self.new_id(),
                            kind="proration",
                            description="Unused time while paused",
                            amount=-amount,
                            created_at=stamp,
                            period_start=format_time(now),
                            period_end=sub.current_period_end,
                        )
                    )
            # Usage up to the pause is billed on the next invoice (the resume or the end).
            usage = [
                _pending_usage(line, stamp)
                for line in self._usage_lines(scope, sub, format_time(now), stamp, False)
            ]
            after = sub.pause(format_time(now), resume_at, stamp)
            return StepOutcome(
                replace(after, pending_items=after.pending_items + tuple(credit) + tuple(usage)),
                "subscription.paused",
            )

        return self._act(scope, subscription_id, if_match, decide)

    def resume(self, scope: Scope, subscription_id: str, if_match: int | None) -> Subscription:
        def decide(sub: Subscription, now: datetime, stamp: str) -> StepOutcome:
            sub.require_paused()
            return self._resume(scope, sub, now, stamp)

        return self._act(scope, subscription_id, if_match, decide)

    def add_add_on(
        self, scope: Scope, subscription_id: str, raw: dict[str, Any], if_match: int | None
    ) -> Subscription:
        """A recurring add-on becomes an item (prorated like any change); a one-off is charged
        once, on the next invoice or on an invoice now."""

        def decide(sub: Subscription, now: datetime, stamp: str) -> StepOutcome:
            sub.require_changeable()
            # Checked here first, so problems point at the add-on's own fields.
            add_on = self._new_item(scope, raw, "", "add_on")
            price = self.prices.get(scope, add_on.price_id)
            if price is not None and price.currency != sub.currency:
                raise validation_failed(
                    "/price_id", f"the price is in {price.currency}; the subscription is in {sub.currency}"
                )
            if (raw.get("type") or "recurring") == "recurring":
                request = {
                    "items": [
                        {"price_id": raw["price_id"], "quantity": raw.get("quantity", "1"), "kind": "add_on"}
                    ],
                    "proration_behavior": raw.get("proration_behavior"),
                }
                return self._apply_change(scope, sub, request, now, stamp, prorate=True)
            item = self._new_item(scope, raw, "", "add_on")
            self._check_items(scope, (*sub.items, item), sub.currency)
            priced = self._priced_items(scope, sub.customer_id, sub.currency, [item])[0]
            computation = priced.full_period(sub.currency)
            pending = PendingItem(
                id=self.new_id(),
                kind="one_off",
                description=priced.product_name,
                amount=computation.total,
                created_at=stamp,
                product_id=item.product_id,
                price_id=item.price_id,
                quantity=item.quantity,
            )
            after = sub.touched(stamp)
            if raw.get("proration_behavior") == "always_invoice":
                return self._with_invoice(
                    after,
                    "subscription.updated",
                    "one_off",
                    "subscription_update",
                    None,
                    None,
                    pending_lines([pending]),
                    stamp,
                )
            return StepOutcome(
                replace(after, pending_items=(*after.pending_items, pending)), "subscription.updated"
            )

        return self._act(scope, subscription_id, if_match, decide)

    def cancel_scheduled_change(
        self, scope: Scope, subscription_id: str, change_id: str, if_match: int | None
    ) -> Subscription:
        def decide(sub: Subscription, now: datetime, stamp: str) -> StepOutcome:
            if not any(c.id == change_id for c in sub.scheduled_changes):
                raise NotFound(detail=f"subscription {sub.id} has no scheduled change {change_id}")
            remaining = tuple(c for c in sub.scheduled_changes if c.id != change_id)
            return StepOutcome(sub.touched(stamp, scheduled_changes=remaining), "subscription.updated")

        return self._act(scope, subscription_id, if_match, decide)

    def update(
        self, scope: Scope, subscription_id: str, changes: dict[str, Any], if_match: int | None
    ) -> Subscription:
        def decide(sub: Subscription, now: datetime, stamp: str) -> StepOutcome:
            fields = dict(changes)
            if "metadata" in fields:
                fields["metadata"] = merge_metadata(sub.metadata, fields["metadata"] or {})
            if all(getattr(sub, k) == v for k, v in fields.items()):
                return StepOutcome(sub, "subscription.updated")
            return StepOutcome(sub.touched(stamp, **fields), "subscription.updated")

        return self._act(scope, subscription_id, if_match, decide)

    # --- plan migration ---------------------------------------------------------------------

    def migrate_plan(
        self, scope: Scope, plan_id: str, from_version: int, to_version: int, when: str, behavior: str
    ) -> Sequence[dict[str, Any]]:
        """Move every subscription on one version of a plan to another, one by one, and say
        what happened to each. Repeating a migration skips what it already did."""
        results: list[dict[str, Any]] = []
        filters = SubscriptionFilter(plan_id=plan_id, plan_version=from_version)
        subscriptions: Sequence[Subscription] = ()
        page = Page(limit=100)
        while True:
            found = self.subscriptions.list(scope, filters, page)
            subscriptions = (*subscriptions, *found.items)
            if found.next_position is None:
                break
            page = Page(limit=100, after=found.next_position)
        for sub in sorted(subscriptions, key=lambda s: s.id):
            result: dict[str, Any] = {"subscription_id": sub.id, "customer_id": sub.customer_id}
            if sub.is_ended:
                results.append({**result, "result": "skipped", "reason": f"the subscription is {sub.status}"})
                continue
            if any(self._migrates_to(c, plan_id, to_version) for c in sub.scheduled_changes):
                results.append(
                    {**result, "result": "skipped", "reason": "the migration is already scheduled"}
                )
                continue
            request = {
                "plan_id": plan_id,
                "plan_version": to_version,
                "when": "immediately" if when == "immediately" else "next_period",
                "proration_behavior": behavior,
            }
            try:
                after = self.change(scope, sub.id, request, None)
            except BillowError as error:
                results.append({**result, "result": "failed", "code": error.code, "reason": error.detail})
                continue
            scheduled = when != "immediately" and after.plan_version == from_version
            outcome = "scheduled" if scheduled else "migrated"
            effective = next(
                (
                    c.effective_at
                    for c in after.scheduled_changes
                    if self._migrates_to(c, plan_id, to_version)
                ),
                None,
            )
            results.append({**result, "result": outcome, "effective_at": effective, "version": after.version})
        return results

    @staticmethod
    def _migrates_to(change: ScheduledChange, plan_id: str, version: int) -> bool:
        return change.request.get("plan_id") == plan_id and change.request.get("plan_version") == version

    # --- preview --------------------------------------------------------------------------------

    def upcoming_invoice(self, scope: Scope, subscription_id: str) -> Invoice:
        """The next invoice the subscription will produce, found by deciding its coming steps
        in memory: the same code as the real run, nothing stored."""
        sub = self.get(scope, subscription_id)
        for _ in range(64):
            step = sub.next_due()
            if step is None:
                break
            outcome = self.decide(scope, sub, step, step.at, preview=True)
            if outcome.invoices:
                invoice = outcome.invoices[0]
                # In the customer's currency, at the provisional rate, as its draft will be.
                return self.invoicing.in_billing_currency(scope, invoice) if self.invoicing else invoice
            sub = outcome.after
        raise NotFound(detail=f"subscription {subscription_id} has no upcoming invoice")

    def current_usage(self, scope: Scope, subscription_id: str) -> dict[str, Any]:
        """The open period's usage as the real-time view shows it (never writes)."""
        sub = self.get(scope, subscription_id)
        if self.usage is None:  # pragma: no cover - wired in every container
            raise NotFound(detail="usage metering is not available")
        now = self._now(scope, sub.test_clock_id, for_reading=True)
        return self.usage.current(scope, sub, self.priced(scope, sub), now)

    def _event(self, scope: Scope, type_: str, sub: Subscription) -> EventEnvelope:
        return change_event(scope, type_, "subscription", subscription_to_dict(sub), new_id=self.new_id)


def _pending_usage(line: InvoiceLine, stamp: str) -> PendingItem:
    return PendingItem(
        id=line.id,
        kind="usage",
        description=line.description,
        amount=line.amount,
        created_at=stamp,
        product_id=line.product_id,
        price_id=line.price_id,
        quantity=line.quantity,
        period_start=line.period_start,
        period_end=line.period_end,
    )


def _quantity(value: Any, pointer: str) -> Decimal:
    quantity = parse_decimal(value, pointer)
    if quantity < 0:
        raise validation_failed(pointer, "must not be negative")
    return quantity


def _parse_moment(value: str, pointer: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise validation_failed(pointer, f"'{value}' is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise validation_failed(pointer, "needs a time zone offset, e.g. 2026-01-31T00:00:00Z")
    return moment
