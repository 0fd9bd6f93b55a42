"""Query value objects of the persistence ports: a page to read and the filters of each list.

Apart from ``ports.repositories`` so that the routers, which build these on every list
request, do not load the repository protocols at the API function's cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """One page of a list. ``after`` is the storage position to continue from (None: first)."""

    limit: int
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class PageResult(Generic[T]):
    items: list[T]
    next_position: dict[str, Any] | None


@dataclass(frozen=True)
class CustomerFilter:
    status: str | None = None
    email: str | None = None
    tag: str | None = None
    type: str | None = None
    currency: str | None = None
    created_after: str | None = None
    created_before: str | None = None

    def matches(self, customer: dict[str, Any]) -> bool:
        """The same rules the storage filter applies, for one customer in hand."""
        status = customer.get("status")
        return (
            (status == self.status if self.status is not None else status != "archived")
            and (self.email is None or customer.get("email") == self.email)
            and (self.type is None or customer.get("type") == self.type)
            and (self.currency is None or customer.get("currency") == self.currency)
            and (self.tag is None or self.tag in (customer.get("tags") or ()))
            and (self.created_after is None or customer["created_at"] >= self.created_after)
            and (self.created_before is None or customer["created_at"] < self.created_before)
        )


@dataclass(frozen=True)
class ProductFilter:
    type: str | None = None
    status: str | None = None

    def matches(self, product: dict[str, Any]) -> bool:
        return (self.type is None or product["type"] == self.type) and (
            self.status is None or product["status"] == self.status
        )


@dataclass(frozen=True)
class MeterFilter:
    aggregation: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class UsageAlertFilter:
    subscription_id: str | None = None
    meter_id: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class PriceFilter:
    product_id: str | None = None
    currency: str | None = None
    model: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class SubscriptionFilter:
    customer_id: str | None = None
    status: str | None = None
    plan_id: str | None = None
    plan_version: int | None = None
    test_clock_id: str | None = None


@dataclass(frozen=True)
class InvoiceFilter:
    customer_id: str | None = None
    subscription_id: str | None = None
    status: str | None = None
    type: str | None = None
