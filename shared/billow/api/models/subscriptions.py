"""Request bodies of /v1/subscriptions and /v1/test-clocks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

Interval = Literal["day", "week", "month", "quarter", "year"]
ProrationBehavior = Literal["create_prorations", "always_invoice", "none"]
Timestamp = Annotated[str, StringConstraints(min_length=10, max_length=40)]
Quantities = Annotated[dict[str, Any], Field(max_length=50)]


class ItemIn(StrictModel):
    price_id: Id
    quantity: Any = Field(default="1", description="a decimal string, at least 0")


class BillingAnchor(StrictModel):
    type: Literal["anniversary", "day_of_month"] = "day_of_month"
    day_of_month: Annotated[int, Field(ge=1, le=31)] | None = None


class SubscriptionCreate(StrictModel):
    customer_id: Id
    plan_id: Id | None = None
    plan_version: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="default: the plan's latest published version"
    )
    quantity: Any = Field(default=None, description="seats: the quantity of the plan's seat component")
    quantities: Quantities | None = Field(default=None, description="component or product id -> quantity")
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=50)] | None = None
    interval: Interval | None = Field(default=None, description="with items: default month")
    interval_count: Annotated[int, Field(ge=1, le=36)] | None = None
    start_at: Timestamp | None = None
    trial_days: Annotated[int, Field(ge=0, le=730)] | None = None
    billing_anchor: BillingAnchor | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    test_clock_id: Id | None = None
    auto_renew: bool = True
    end_at: Timestamp | None = None
    metadata: Metadata = Field(default_factory=dict)


class SubscriptionUpdate(StrictModel):
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    metadata: Metadata | None = None


class ItemChange(StrictModel):
    id: Id | None = Field(default=None, description="an existing item to change or delete")
    price_id: Id | None = None
    quantity: Any = None
    deleted: bool = False


class SubscriptionChange(StrictModel):
    items: Annotated[list[ItemChange], Field(min_length=1, max_length=50)] | None = None
    plan_id: Id | None = None
    plan_version: Annotated[int, Field(ge=1)] | None = None
    quantity: Any = None
    quantities: Quantities | None = None
    when: Literal["immediately", "next_period", "at"] = "immediately"
    at: Timestamp | None = None
    proration_behavior: ProrationBehavior = "create_prorations"


class SubscriptionCancel(StrictModel):
    when: Literal["immediately", "period_end", "at"] = "immediately"
    at: Timestamp | None = None
    refund: Literal["none", "prorate", "full"] = "none"


class SubscriptionPause(StrictModel):
    resume_at: Timestamp | None = None
    proration_behavior: Literal["create_prorations", "none"] = "create_prorations"


class AddOn(StrictModel):
    price_id: Id
    quantity: Any = "1"
    type: Literal["recurring", "one_off"] = "recurring"
    proration_behavior: ProrationBehavior = "create_prorations"


class TestClockCreate(StrictModel):
    __test__ = False

    frozen_time: Timestamp
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    metadata: Metadata = Field(default_factory=dict)


class TestClockAdvance(StrictModel):
    __test__ = False

    to: Timestamp
