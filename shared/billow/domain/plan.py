"""Plans: products with prices, bundled for a billing interval, in numbered versions.

A version is a draft until published; then it never changes, so every subscriber knows
exactly what it signed up for. New subscriptions take the latest published version and keep
it until they are migrated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from billow.domain.errors import Conflict, FieldError, InvalidStateTransition, NotFound, ValidationFailed

Interval = Literal["day", "week", "month", "quarter", "year"]
INTERVALS: tuple[Interval, ...] = ("day", "week", "month", "quarter", "year")
MAX_COMPONENTS = 50
PLAN_FIELDS = frozenset({"name", "description", "metadata"})
VERSION_FIELDS = frozenset({"currency", "interval", "interval_count", "trial_days", "components"})


@dataclass(frozen=True)
class PlanComponent:
    id: str
    product_id: str
    price_id: str
    included_quantity: Decimal = Decimal(0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "product_id": self.product_id,
            "price_id": self.price_id,
            "included_quantity": str(self.included_quantity),
        }


@dataclass(frozen=True)
class PlanVersion:
    number: int
    status: Literal["draft", "published"]
    currency: str
    interval: Interval
    interval_count: int
    trial_days: int
    components: tuple[PlanComponent, ...]
    created_at: str
    published_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "currency": self.currency,
            "interval": self.interval,
            "interval_count": self.interval_count,
            "trial_days": self.trial_days,
            "components": [c.to_dict() for c in self.components],
            "created_at": self.created_at,
            "published_at": self.published_at,
        }

    def component(self, key: str) -> PlanComponent | None:
        """A component by its id or, when unambiguous, by its product's id."""
        for component in self.components:
            if component.id == key:
                return component
        matches = [c for c in self.components if c.product_id == key]
        return matches[0] if len(matches) == 1 else None


def check_version_shape(version: PlanVersion) -> None:
    """Rules a version must meet on its own (prices and products are checked by the service)."""
    errors: list[FieldError] = []
    if version.interval not in INTERVALS:
        errors.append(FieldError("/interval", f"must be one of {', '.join(INTERVALS)}"))
    if not 1 <= version.interval_count <= 36:
        errors.append(FieldError("/interval_count", "must be between 1 and 36"))
    if not 0 <= version.trial_days <= 730:
        errors.append(FieldError("/trial_days", "must be between 0 and 730"))
    if len(version.components) > MAX_COMPONENTS:
        errors.append(FieldError("/components", f"at most {MAX_COMPONENTS} components"))
    seen: set[str] = set()
    for i, component in enumerate(version.components):
        if component.included_quantity < 0:
            errors.append(FieldError(f"/components/{i}/included_quantity", "must not be negative"))
        if component.price_id in seen:
            errors.append(FieldError(f"/components/{i}/price_id", "the same price is in the plan twice"))
        seen.add(component.price_id)
    if errors:
        raise ValidationFailed(detail="the plan version is invalid", errors=errors)


@dataclass(frozen=True)
class Plan:
    id: str
    livemode: bool
    name: str
    created_at: str
    updated_at: str
    versions: tuple[PlanVersion, ...]
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: Literal["active", "archived"] = "active"
    version: int = 1

    @property
    def latest_published(self) -> PlanVersion | None:
        published = [v for v in self.versions if v.status == "published"]
        return published[-1] if published else None

    @property
    def draft(self) -> PlanVersion | None:
        drafts = [v for v in self.versions if v.status == "draft"]
        return drafts[-1] if drafts else None

    def version_number(self, number: int) -> PlanVersion:
        for version in self.versions:
            if version.number == number:
                return version
        raise NotFound(detail=f"plan {self.id} has no version {number}")

    def _replace_version(self, updated: PlanVersion, now: str) -> Plan:
        versions = tuple(updated if v.number == updated.number else v for v in self.versions)
        return replace(self, versions=versions, updated_at=now, version=self.version + 1)

    def with_changes(self, changes: Mapping[str, Any], now: str) -> Plan:
        unknown = set(changes) - PLAN_FIELDS
        if unknown:
            raise ValueError(f"not mutable: {sorted(unknown)}")
        return replace(self, **changes, updated_at=now, version=self.version + 1)

    def add_draft(self, draft: PlanVersion, now: str) -> Plan:
        """One draft at a time: the next version is prepared, then published."""
        if self.draft is not None:
            raise Conflict(detail=f"version {self.draft.number} is still a draft; edit or publish it first")
        check_version_shape(draft)
        return replace(self, versions=(*self.versions, draft), updated_at=now, version=self.version + 1)

    def edit_version(self, number: int, changes: Mapping[str, Any], now: str) -> Plan:
        current = self.version_number(number)
        if current.status != "draft":
            raise InvalidStateTransition(detail=f"version {number} is published and can no longer change")
        unknown = set(changes) - VERSION_FIELDS
        if unknown:
            raise ValueError(f"not mutable: {sorted(unknown)}")
        updated = replace(current, **changes)
        check_version_shape(updated)
        return self._replace_version(updated, now)

    def publish(self, number: int, now: str) -> Plan:
        current = self.version_number(number)
        if current.status != "draft":
            raise InvalidStateTransition(detail=f"version {number} is already published")
        if not current.components:
            raise ValidationFailed(
                detail="an empty version cannot be published",
                errors=[FieldError("/components", "add at least one component before publishing")],
            )
        return self._replace_version(replace(current, status="published", published_at=now), now)

    def archive(self, now: str) -> Plan:
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"plan {self.id} is already archived")
        return replace(self, status="archived", updated_at=now, version=self.version + 1)


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    latest = plan.latest_published
    return {
        "id": plan.id,
        "object": "plan",
        "livemode": plan.livemode,
        "name": plan.name,
        "description": plan.description,
        "metadata": dict(plan.metadata),
        "status": plan.status,
        "latest_published_version": latest.number if latest else None,
        "versions": [v.to_dict() for v in plan.versions],
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
        "version": plan.version,
    }


def _version_from(data: Mapping[str, Any]) -> PlanVersion:
    return PlanVersion(
        number=int(data["number"]),
        status=data["status"],
        currency=data["currency"],
        interval=data["interval"],
        interval_count=int(data["interval_count"]),
        trial_days=int(data["trial_days"]),
        components=tuple(
            PlanComponent(
                id=c["id"],
                product_id=c["product_id"],
                price_id=c["price_id"],
                included_quantity=Decimal(str(c["included_quantity"])),
            )
            for c in data.get("components") or ()
        ),
        created_at=data["created_at"],
        published_at=data.get("published_at"),
    )


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    return Plan(
        id=data["id"],
        livemode=bool(data["livemode"]),
        name=data["name"],
        description=data.get("description"),
        metadata=dict(data.get("metadata") or {}),
        status=data.get("status", "active"),
        versions=tuple(_version_from(v) for v in data.get("versions") or ()),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=int(data.get("version", 1)),
    )
