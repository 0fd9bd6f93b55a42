"""Plan use cases: define a plan and its draft, edit drafts, publish versions, preview a
period's charges, and migrate subscribers between versions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from billow.domain.errors import FieldError, NotFound, ValidationFailed, validation_failed
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.money import Money, parse_currency, parse_decimal
from billow.domain.plan import Plan, PlanComponent, PlanVersion, plan_to_dict
from billow.domain.pricing import compute_price
from billow.domain.product import Product, missing_requirements
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import (
    CustomerRepository,
    Page,
    PageResult,
    PlanRepository,
    PriceOverrideRepository,
    PriceRepository,
    ProductRepository,
)
from billow.services.concurrency import read_decide_write
from billow.services.events import change_event

if TYPE_CHECKING:
    from billow.services.subscriptions import SubscriptionService


@dataclass
class PlanService:
    plans: PlanRepository
    prices: PriceRepository
    products: ProductRepository
    clock: Clock
    new_id: IdGenerator
    # For previews priced for one customer (their overrides replace the plan's prices).
    overrides: PriceOverrideRepository | None = None
    customers: CustomerRepository | None = None
    # Moves subscribers between versions (the subscription use cases own that change).
    subscriptions: SubscriptionService | None = None

    def _now(self) -> str:
        return rfc3339(self.clock.now())

    def _event(self, scope: Scope, type_: str, plan: Plan) -> EventEnvelope:
        return change_event(scope, type_, "plan", plan_to_dict(plan), new_id=self.new_id)

    # --- components ---------------------------------------------------------------------

    def _components(
        self, scope: Scope, raw: Sequence[dict[str, Any]], currency: str
    ) -> tuple[PlanComponent, ...]:
        """Check each component against its price and product; all problems at once."""
        errors: list[FieldError] = []
        components: list[PlanComponent] = []
        products: list[Product] = []
        for i, entry in enumerate(raw):
            at = f"/components/{i}"
            price = self.prices.get(scope, entry["price_id"])
            if price is None:
                errors.append(FieldError(f"{at}/price_id", f"no price with id {entry['price_id']}"))
                continue
            if entry.get("product_id") not in (None, price.product_id):
                errors.append(FieldError(f"{at}/product_id", "is not the product of this price"))
            if price.currency != currency:
                errors.append(
                    FieldError(
                        f"{at}/price_id", f"the price is in {price.currency}; this version is in {currency}"
                    )
                )
            if price.status != "active":
                errors.append(FieldError(f"{at}/price_id", "the price is archived"))
            product = self.products.get(scope, price.product_id)
            if product is None or product.status != "active":
                errors.append(FieldError(f"{at}/price_id", "the price's product is archived"))
            elif product.id not in {p.id for p in products}:
                products.append(product)
            try:
                included = parse_decimal(entry.get("included_quantity", "0"), f"{at}/included_quantity")
            except ValidationFailed as failure:
                errors.extend(failure.errors)
                continue
            components.append(PlanComponent(self.new_id(), price.product_id, price.id, included))
        for product, required in missing_requirements(products):
            errors.append(
                FieldError("/components", f"product {product.id} requires product {required} in the plan")
            )
        if errors:
            raise ValidationFailed(detail="the plan's components are invalid", errors=errors)
        return tuple(components)

    def _version_from(
        self, scope: Scope, raw: dict[str, Any], number: int, base: PlanVersion | None
    ) -> PlanVersion:
        currency = parse_currency(raw.get("currency") or (base.currency if base else ""))
        if "components" in raw:
            components = self._components(scope, raw["components"] or [], currency)
        elif base is not None:
            if currency != base.currency:
                raise validation_failed("/components", "changing the currency needs components priced in it")
            components = tuple(replace(c, id=self.new_id()) for c in base.components)
        else:
            components = ()
        return PlanVersion(
            number=number,
            status="draft",
            currency=currency,
            interval=raw.get("interval") or (base.interval if base else "month"),
            interval_count=int(raw.get("interval_count") or (base.interval_count if base else 1)),
            trial_days=int(
                raw["trial_days"] if raw.get("trial_days") is not None else (base.trial_days if base else 0)
            ),
            components=components,
            created_at=self._now(),
        )

    # --- plans --------------------------------------------------------------------------

    def create(self, scope: Scope, raw: dict[str, Any]) -> Plan:
        now = self._now()
        plan = Plan(
            id=self.new_id(),
            livemode=scope.livemode,
            name=raw["name"],
            description=raw.get("description"),
            metadata=dict(raw.get("metadata") or {}),
            versions=(),
            created_at=now,
            updated_at=now,
        )
        plan = replace(plan.add_draft(self._version_from(scope, raw, 1, None), now), version=1)
        self.plans.save(scope, None, plan, [self._event(scope, "plan.created", plan)])
        return plan

    def get(self, scope: Scope, plan_id: str) -> Plan:
        plan = self.plans.get(scope, plan_id)
        if plan is None:
            raise NotFound(detail=f"no plan with id {plan_id}")
        return plan

    def list(self, scope: Scope, status: str | None, page: Page) -> PageResult[Plan]:
        return self.plans.list(scope, status, page)

    def _change(
        self,
        scope: Scope,
        plan_id: str,
        if_match: int | None,
        decide: Callable[[Plan], Plan | None],
        event_type: str = "plan.updated",
    ) -> Plan:
        def write(before: Plan, after: Plan) -> None:
            self.plans.save(scope, before, after, [self._event(scope, event_type, after)])

        changed: Plan = read_decide_write(
            partial(self.get, scope, plan_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda p: p.version,
            what="plan",
        )
        return changed

    def update(self, scope: Scope, plan_id: str, raw: dict[str, Any], if_match: int | None) -> Plan:
        def decide(before: Plan) -> Plan | None:
            applied = dict(raw)
            if "metadata" in applied:
                applied["metadata"] = merge_metadata(before.metadata, applied["metadata"])
            after = before.with_changes(applied, self._now())
            same = plan_to_dict(after) | {"version": before.version, "updated_at": before.updated_at}
            return None if same == plan_to_dict(before) else after

        return self._change(scope, plan_id, if_match, decide)

    def archive(self, scope: Scope, plan_id: str, if_match: int | None) -> Plan:
        return self._change(scope, plan_id, if_match, lambda p: p.archive(self._now()))

    # --- versions -----------------------------------------------------------------------

    def create_version(self, scope: Scope, plan_id: str, raw: dict[str, Any], if_match: int | None) -> Plan:
        """A new draft, starting from the latest version unless the body says otherwise."""

        def decide(before: Plan) -> Plan:
            base = before.versions[-1] if before.versions else None
            draft = self._version_from(scope, raw, len(before.versions) + 1, base)
            return before.add_draft(draft, self._now())

        return self._change(scope, plan_id, if_match, decide)

    def update_version(
        self, scope: Scope, plan_id: str, number: int, raw: dict[str, Any], if_match: int | None
    ) -> Plan:
        def decide(before: Plan) -> Plan:
            current = before.version_number(number)
            changes = {k: v for k, v in raw.items() if k != "components"}
            currency = parse_currency(raw.get("currency") or current.currency)
            changes["currency"] = currency
            if "components" in raw:
                changes["components"] = self._components(scope, raw["components"] or [], currency)
            elif currency != current.currency:
                raise validation_failed("/components", "changing the currency needs components priced in it")
            return before.edit_version(number, changes, self._now())

        return self._change(scope, plan_id, if_match, decide)

    def publish(self, scope: Scope, plan_id: str, number: int, if_match: int | None) -> Plan:
        def decide(before: Plan) -> Plan:
            version = before.version_number(number)
            if version.status == "draft":
                # Prices and products may have been archived since the draft was edited.
                self._components(scope, [c.to_dict() for c in version.components], version.currency)
            return before.publish(number, self._now())

        return self._change(scope, plan_id, if_match, decide, event_type="plan.version_published")

    # --- preview and migration -----------------------------------------------------------

    def preview(self, scope: Scope, plan_id: str, raw: dict[str, Any]) -> dict[str, Any]:
        """One period's charges for given quantities; computed, never stored."""
        plan = self.get(scope, plan_id)
        if raw.get("version") is not None:
            version = plan.version_number(int(raw["version"]))
        else:
            chosen = plan.latest_published or plan.draft
            if chosen is None:  # pragma: no cover - a plan always has a version
                raise NotFound(detail=f"plan {plan_id} has no version")
            version = chosen
        quantities = dict(raw.get("quantities") or {})
        errors = [
            FieldError(f"/quantities/{key}", "is not a component or product of this version")
            for key in quantities
            if version.component(key) is None
        ]
        customer_id = raw.get("customer_id")
        if customer_id is not None and (
            self.customers is None or self.customers.get(scope, customer_id) is None
        ):
            errors.append(FieldError("/customer_id", f"no customer with id {customer_id}"))
        if errors:
            raise ValidationFailed(detail="the preview request is invalid", errors=errors)
        lines = []
        total = Money.zero(version.currency)
        for component in version.components:
            price = self.prices.get(scope, component.price_id)
            product = self.products.get(scope, component.product_id)
            if price is None or product is None:  # pragma: no cover - prices are never deleted
                raise NotFound(detail=f"the price {component.price_id} of the plan is missing")
            given = quantities.get(component.id, quantities.get(component.product_id))
            pointer = f"/quantities/{component.id if component.id in quantities else component.product_id}"
            # Without a quantity: one of a fee or a seat, none of a metered usage.
            default = "0" if product.type == "usage" else "1"
            quantity = parse_decimal(given if given is not None else default, pointer)
            billable = max(Decimal(0), quantity - component.included_quantity)
            terms, override_id = price.terms, None
            if customer_id is not None and self.overrides is not None:
                override = self.overrides.active_for(
                    scope, customer_id, component.product_id, version.currency
                )
                if override is not None:
                    terms, override_id = override.terms, override.id
            computation = compute_price(terms, price.currency, billable)
            total = total + computation.total
            lines.append(
                {
                    "component_id": component.id,
                    "product_id": component.product_id,
                    "price_id": component.price_id,
                    "description": product.name,
                    "quantity": str(quantity),
                    "included_quantity": str(component.included_quantity),
                    "billable_quantity": str(billable),
                    "billing_timing": price.billing_timing,
                    "price_override_id": override_id,
                    "amount": computation.total.as_dict(),
                    "breakdown": [line.to_dict() for line in computation.breakdown],
                }
            )
        return {
            "object": "plan_preview",
            "plan_id": plan.id,
            "version": version.number,
            "customer_id": customer_id,
            "currency": version.currency,
            "interval": version.interval,
            "interval_count": version.interval_count,
            "lines": lines,
            "total": total.as_dict(),
        }

    def migrate(self, scope: Scope, plan_id: str, raw: dict[str, Any]) -> dict[str, Any]:
        """Move the subscribers of one version to another and report it per subscription."""
        plan = self.get(scope, plan_id)
        source = plan.version_number(int(raw["from_version"]))
        target = plan.version_number(int(raw["to_version"]))
        errors = []
        if source.number == target.number:
            errors.append(FieldError("/to_version", "must differ from from_version"))
        if target.status != "published":
            errors.append(FieldError("/to_version", "only a published version can be migrated to"))
        if target.currency != source.currency:
            errors.append(
                FieldError("/to_version", "versions in different currencies cannot be migrated between")
            )
        if errors:
            raise ValidationFailed(detail="the migration is invalid", errors=errors)
        when = raw.get("when", "next_period")
        behavior = raw.get("proration_behavior", "create_prorations")
        results = (
            list(
                self.subscriptions.migrate_plan(scope, plan.id, source.number, target.number, when, behavior)
            )
            if self.subscriptions is not None
            else []
        )
        counts = {
            r: sum(1 for x in results if x["result"] == r)
            for r in ("migrated", "scheduled", "skipped", "failed")
        }
        return {
            "object": "plan_migration",
            "plan_id": plan.id,
            "from_version": source.number,
            "to_version": target.number,
            "when": when,
            "proration_behavior": behavior,
            "subscriptions": results,
            **counts,
        }
