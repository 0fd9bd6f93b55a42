"""Price use cases: create (terms validated by the pricing engine), read, list, rename,
archive, and compute an amount."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from billow.domain.address import parse_country
from billow.domain.errors import FieldError, NotFound, ValidationFailed
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.money import parse_currency, parse_decimal
from billow.domain.price import Price, parse_effective_from, price_to_dict
from billow.domain.pricing import (
    MODEL_FIELDS,
    PriceComputation,
    PriceTerms,
    compute_price,
    parse_price_terms,
    parse_variable_values,
)
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import (
    MeterRepository,
    Page,
    PageResult,
    PriceFilter,
    PriceRepository,
    ProductRepository,
)
from billow.services.concurrency import read_decide_write
from billow.services.events import change_event

TERM_FIELDS = frozenset(field for fields in MODEL_FIELDS.values() for field in fields)


@dataclass
class PriceService:
    prices: PriceRepository
    products: ProductRepository
    clock: Clock
    new_id: IdGenerator
    meters: MeterRepository | None = None

    def _event(self, scope: Scope, type_: str, price: Price) -> EventEnvelope:
        return change_event(scope, type_, "price", price_to_dict(price), new_id=self.new_id)

    def create(self, scope: Scope, raw: dict[str, Any]) -> Price:
        errors: list[FieldError] = []
        product = self.products.get(scope, raw["product_id"])
        if product is None:
            errors.append(FieldError("/product_id", f"no product with id {raw['product_id']}"))
        elif product.status == "archived":
            errors.append(FieldError("/product_id", "the product is archived; unarchive it to price it"))
        timing = raw.get("billing_timing")
        if product is not None and product.type == "usage":
            if timing == "in_advance":
                errors.append(FieldError("/billing_timing", "usage is always billed in arrears"))
            timing = "in_arrears"
        elif raw.get("meter_id") is not None:
            errors.append(FieldError("/meter_id", "only prices of usage products are metered"))
        errors.extend(self._meter_errors(scope, raw))
        terms_raw = {k: v for k, v in raw.items() if k in TERM_FIELDS}
        parsed: dict[str, Any] = {}
        parsers: dict[str, Callable[[Any], str]] = {
            "currency": parse_currency,
            "country": partial(parse_country, pointer="/country"),
            "effective_from": parse_effective_from,
        }
        for name, parse in parsers.items():
            if raw.get(name) is None:
                continue
            try:
                parsed[name] = parse(raw[name])
            except ValidationFailed as failure:
                errors.extend(failure.errors)
        try:
            terms = parse_price_terms(raw["model"], terms_raw, raw["currency"])
        except ValidationFailed as failure:
            errors.extend(e for e in failure.errors if e.pointer != "/currency")
        if errors:
            raise ValidationFailed(detail="the price is invalid", errors=errors)
        now = rfc3339(self.clock.now())
        price = Price(
            id=self.new_id(),
            livemode=scope.livemode,
            product_id=raw["product_id"],
            currency=parsed["currency"],
            terms=terms,
            billing_timing=timing or "in_advance",
            effective_from=parsed.get("effective_from"),
            country=parsed.get("country"),
            meter_id=raw.get("meter_id"),
            meter_group=dict(raw["meter_group"]) if raw.get("meter_group") else None,
            nickname=raw.get("nickname"),
            metadata=dict(raw.get("metadata") or {}),
            created_at=now,
            updated_at=now,
        )
        self.prices.save(scope, None, price, [self._event(scope, "price.created", price)])
        return price

    def _meter_errors(self, scope: Scope, raw: dict[str, Any]) -> list[FieldError]:
        meter_id, group = raw.get("meter_id"), raw.get("meter_group")
        if meter_id is None:
            return [FieldError("/meter_group", "a group needs a meter_id")] if group else []
        if self.meters is None:  # pragma: no cover - wired in every container
            return []
        meter = self.meters.get(scope, meter_id)
        if meter is None:
            return [FieldError("/meter_id", f"no meter with id {meter_id}")]
        if meter.status != "active":
            return [FieldError("/meter_id", "the meter is archived")]
        return [
            FieldError(
                f"/meter_group/{name}",
                f"the meter does not group by {name} (group_by: {list(meter.group_by)})",
            )
            for name in group or {}
            if name not in meter.group_by
        ]

    def get(self, scope: Scope, price_id: str) -> Price:
        price = self.prices.get(scope, price_id)
        if price is None:
            raise NotFound(detail=f"no price with id {price_id}")
        return price

    def list(self, scope: Scope, filters: PriceFilter, page: Page) -> PageResult[Price]:
        return self.prices.list(scope, filters, page)

    def _change(self, scope: Scope, price_id: str, if_match: int | None, decide: Any) -> Price:
        def write(before: Price, after: Price) -> None:
            self.prices.save(scope, before, after, [self._event(scope, "price.updated", after)])

        changed: Price = read_decide_write(
            partial(self.get, scope, price_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda p: p.version,
            what="price",
        )
        return changed

    def update(self, scope: Scope, price_id: str, raw: dict[str, Any], if_match: int | None) -> Price:
        def decide(before: Price) -> Price | None:
            applied = dict(raw)
            if "metadata" in applied:
                applied["metadata"] = merge_metadata(before.metadata, applied["metadata"])
            after = before.with_changes(applied, rfc3339(self.clock.now()))
            same = price_to_dict(after) | {"version": before.version, "updated_at": before.updated_at}
            return None if same == price_to_dict(before) else after

        return self._change(scope, price_id, if_match, decide)

    def archive(self, scope: Scope, price_id: str, if_match: int | None) -> Price:
        return self._change(scope, price_id, if_match, lambda p: p.archive(rfc3339(self.clock.now())))

    def compute(self, scope: Scope, price_id: str, raw: dict[str, Any]) -> PriceComputation:
        price = self.get(scope, price_id)
        return compute_request(price.terms, price.currency, raw)


def compute_request(terms: PriceTerms, currency: str, raw: dict[str, Any]) -> PriceComputation:
    """Parse the body of a compute request ({quantity, event_values, variables}) and price it."""
    quantity = parse_decimal(raw.get("quantity", "0"), "/quantity")
    event_values: list[Decimal] = []
    errors: list[FieldError] = []
    for i, value in enumerate(raw.get("event_values") or []):
        try:
            event_values.append(parse_decimal(value, f"/event_values/{i}"))
        except ValidationFailed as failure:
            errors.extend(failure.errors)
    variables = None
    if raw.get("variables") is not None:
        try:
            variables = parse_variable_values(terms, raw["variables"])
        except ValidationFailed as failure:
            errors.extend(failure.errors)
    if errors:
        raise ValidationFailed(detail="the computation request is invalid", errors=errors)
    return compute_price(terms, currency, quantity, event_values=event_values, variables=variables)
