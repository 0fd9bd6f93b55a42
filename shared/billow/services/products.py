"""Product use cases: create, read, list, change, archive and unarchive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from billow.domain.errors import FieldError, NotFound, ValidationFailed
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.product import Product, check_product_fields, product_to_dict
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import Page, PageResult, ProductFilter, ProductRepository
from billow.services.concurrency import read_decide_write
from billow.services.events import change_event


@dataclass
class ProductService:
    products: ProductRepository
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, type_: str, product: Product) -> EventEnvelope:
        return change_event(scope, type_, "product", product_to_dict(product), new_id=self.new_id)

    def _check_required_exist(self, scope: Scope, required: tuple[str, ...]) -> None:
        missing = [
            FieldError(f"/requires_product_ids/{i}", f"no product with id {product_id}")
            for i, product_id in enumerate(required)
            if self.products.get(scope, product_id) is None
        ]
        if missing:
            raise ValidationFailed(detail="required products must exist", errors=missing)

    def create(self, scope: Scope, raw: dict[str, Any]) -> Product:
        fields = {**raw, "requires_product_ids": tuple(raw.get("requires_product_ids") or ())}
        check_product_fields(None, fields)
        self._check_required_exist(scope, fields["requires_product_ids"])
        now = rfc3339(self.clock.now())
        product = Product(id=self.new_id(), livemode=scope.livemode, created_at=now, updated_at=now, **fields)
        self.products.save(scope, None, product, [self._event(scope, "product.created", product)])
        return product

    def get(self, scope: Scope, product_id: str) -> Product:
        product = self.products.get(scope, product_id)
        if product is None:
            raise NotFound(detail=f"no product with id {product_id}")
        return product

    def list(
        self, scope: Scope, filters: ProductFilter, page: Page, external_id: str | None
    ) -> PageResult[Product]:
        if external_id is not None:
            found = self.products.get_by_external_id(scope, external_id)
            if found is None or page.after is not None or not filters.matches(product_to_dict(found)):
                return PageResult(items=[], next_position=None)
            return PageResult(items=[found], next_position=None)
        return self.products.list(scope, filters, page)

    def _change(
        self, scope: Scope, product_id: str, if_match: int | None, decide: Callable[[Product], Product | None]
    ) -> Product:
        def write(before: Product, after: Product) -> None:
            self.products.save(scope, before, after, [self._event(scope, "product.updated", after)])

        return read_decide_write(
            partial(self.get, scope, product_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda product: product.version,
            what="product",
        )

    def update(self, scope: Scope, product_id: str, raw: dict[str, Any], if_match: int | None) -> Product:
        changes = dict(raw)
        if "requires_product_ids" in changes:
            changes["requires_product_ids"] = tuple(changes["requires_product_ids"] or ())
        check_product_fields(product_id, changes)
        self._check_required_exist(scope, changes.get("requires_product_ids", ()))

        def decide(before: Product) -> Product | None:
            applied = dict(changes)
            if "metadata" in applied:
                applied["metadata"] = merge_metadata(before.metadata, applied["metadata"])
            after = before.with_changes(applied, rfc3339(self.clock.now()))
            unchanged = product_to_dict(after) | {"version": before.version, "updated_at": before.updated_at}
            return None if unchanged == product_to_dict(before) else after

        return self._change(scope, product_id, if_match, decide)

    def archive(self, scope: Scope, product_id: str, if_match: int | None) -> Product:
        return self._change(scope, product_id, if_match, lambda p: p.archive(rfc3339(self.clock.now())))

    def unarchive(self, scope: Scope, product_id: str, if_match: int | None) -> Product:
        return self._change(scope, product_id, if_match, lambda p: p.unarchive(rfc3339(self.clock.now())))
