"""Price override use cases: a customer-specific price for a product, and ending it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from billow.domain.errors import FieldError, NotFound, ValidationFailed
from billow.domain.events import EventEnvelope
from billow.domain.money import parse_currency
from billow.domain.price_override import PriceOverride, override_to_dict
from billow.domain.pricing import MODEL_FIELDS, PriceComputation, parse_price_terms
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import (
    CustomerRepository,
    Page,
    PageResult,
    PriceOverrideRepository,
    ProductRepository,
)
from billow.services.concurrency import read_decide_write
from billow.services.events import change_event
from billow.services.prices import compute_request

TERM_FIELDS = frozenset(field for fields in MODEL_FIELDS.values() for field in fields)


@dataclass
class PriceOverrideService:
    overrides: PriceOverrideRepository
    customers: CustomerRepository
    products: ProductRepository
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, type_: str, override: PriceOverride) -> EventEnvelope:
        return change_event(scope, type_, "price_override", override_to_dict(override), new_id=self.new_id)

    def create(self, scope: Scope, raw: dict[str, Any]) -> PriceOverride:
        errors: list[FieldError] = []
        customer = self.customers.get(scope, raw["customer_id"])
        if customer is None or customer.status == "archived":
            errors.append(FieldError("/customer_id", f"no customer with id {raw['customer_id']}"))
        product = self.products.get(scope, raw["product_id"])
        if product is None:
            errors.append(FieldError("/product_id", f"no product with id {raw['product_id']}"))
        elif product.status != "active":
            errors.append(FieldError("/product_id", "the product is archived"))
        try:
            currency = parse_currency(raw["currency"])
        except ValidationFailed as failure:
            errors.extend(failure.errors)
        try:
            terms = parse_price_terms(
                raw["model"], {k: v for k, v in raw.items() if k in TERM_FIELDS}, raw["currency"]
            )
        except ValidationFailed as failure:
            errors.extend(e for e in failure.errors if e.pointer != "/currency")
        if errors:
            raise ValidationFailed(detail="the price override is invalid", errors=errors)
        now = rfc3339(self.clock.now())
        override = PriceOverride(
            id=self.new_id(),
            livemode=scope.livemode,
            customer_id=raw["customer_id"],
            product_id=raw["product_id"],
            currency=currency,
            terms=terms,
            metadata=dict(raw.get("metadata") or {}),
            created_at=now,
            updated_at=now,
        )
        self.overrides.save(scope, None, override, [self._event(scope, "price_override.created", override)])
        return override

    def get(self, scope: Scope, override_id: str) -> PriceOverride:
        override = self.overrides.get(scope, override_id)
        if override is None:
            raise NotFound(detail=f"no price override with id {override_id}")
        return override

    def list(
        self, scope: Scope, customer_id: str | None, product_id: str | None, status: str | None, page: Page
    ) -> PageResult[PriceOverride]:
        return self.overrides.list(scope, customer_id, product_id, status, page)

    def archive(self, scope: Scope, override_id: str, if_match: int | None) -> PriceOverride:
        def write(before: PriceOverride, after: PriceOverride) -> None:
            self.overrides.save(scope, before, after, [self._event(scope, "price_override.updated", after)])

        archived: PriceOverride = read_decide_write(
            partial(self.get, scope, override_id),
            lambda o: o.archive(rfc3339(self.clock.now())),
            write,
            if_match=if_match,
            version_of=lambda o: o.version,
            what="price override",
        )
        return archived

    def compute(self, scope: Scope, override_id: str, raw: dict[str, Any]) -> PriceComputation:
        override = self.get(scope, override_id)
        return compute_request(override.terms, override.currency, raw)
