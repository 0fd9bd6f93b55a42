"""Products: what a company sells. Prices say how much; plans bundle products with prices."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from billow.domain.errors import FieldError, InvalidStateTransition, ValidationFailed

ProductType = Literal["recurring", "usage", "one_time", "seat"]
PRODUCT_TYPES: tuple[ProductType, ...] = ("recurring", "usage", "one_time", "seat")
TAX_CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,39}")
MUTABLE_FIELDS = frozenset(
    {"name", "description", "external_id", "tax_category", "requires_product_ids", "unit_label", "metadata"}
)


@dataclass(frozen=True)
class Product:
    id: str
    livemode: bool
    name: str
    type: ProductType
    created_at: str
    updated_at: str
    external_id: str | None = None
    description: str | None = None
    # Tax rules match on this; "standard" is the standard rate of the buyer's jurisdiction.
    tax_category: str = "standard"
    requires_product_ids: tuple[str, ...] = ()
    unit_label: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: Literal["active", "archived"] = "active"
    version: int = 1

    def with_changes(self, changes: Mapping[str, Any], now: str) -> Product:
        unknown = set(changes) - MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable: {sorted(unknown)}")
        return replace(self, **changes, updated_at=now, version=self.version + 1)

    def archive(self, now: str) -> Product:
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"product {self.id} is already archived")
        return replace(self, status="archived", updated_at=now, version=self.version + 1)

    def unarchive(self, now: str) -> Product:
        if self.status == "active":
            raise InvalidStateTransition(detail=f"product {self.id} is not archived")
        return replace(self, status="active", updated_at=now, version=self.version + 1)


def check_product_fields(product_id: str | None, fields: Mapping[str, Any]) -> None:
    errors = []
    category = fields.get("tax_category")
    if category is not None and not TAX_CATEGORY.fullmatch(category):
        errors.append(
            FieldError("/tax_category", "must match ^[a-z][a-z0-9_]{0,39}$, e.g. standard or reduced")
        )
    required = fields.get("requires_product_ids") or ()
    if product_id is not None and product_id in required:
        errors.append(FieldError("/requires_product_ids", "a product cannot require itself"))
    if len(set(required)) != len(tuple(required)):
        errors.append(FieldError("/requires_product_ids", "lists the same product twice"))
    if errors:
        raise ValidationFailed(detail="the product is invalid", errors=errors)


def missing_requirements(products: Iterable[Product]) -> list[tuple[Product, str]]:
    """Products combined (in a plan version or a subscription) whose required products are
    not combined with them: (product, the id it requires)."""
    chosen = list(products)
    present = {p.id for p in chosen}
    return [(p, required) for p in chosen for required in p.requires_product_ids if required not in present]


def product_to_dict(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "object": "product",
        "livemode": product.livemode,
        "external_id": product.external_id,
        "name": product.name,
        "description": product.description,
        "type": product.type,
        "tax_category": product.tax_category,
        "requires_product_ids": list(product.requires_product_ids),
        "unit_label": product.unit_label,
        "metadata": dict(product.metadata),
        "status": product.status,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "version": product.version,
    }


def product_from_dict(data: Mapping[str, Any]) -> Product:
    return Product(
        id=data["id"],
        livemode=bool(data["livemode"]),
        external_id=data.get("external_id"),
        name=data["name"],
        description=data.get("description"),
        type=data["type"],
        tax_category=data.get("tax_category") or "standard",
        requires_product_ids=tuple(data.get("requires_product_ids") or ()),
        unit_label=data.get("unit_label"),
        metadata=dict(data.get("metadata") or {}),
        status=data.get("status", "active"),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=int(data.get("version", 1)),
    )
