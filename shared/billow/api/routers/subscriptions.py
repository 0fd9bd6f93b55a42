"""/v1/subscriptions and their actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.subscriptions import (
    AddOn,
    SubscriptionCancel,
    SubscriptionChange,
    SubscriptionCreate,
    SubscriptionPause,
    SubscriptionUpdate,
)
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.tenancy import Scope

if TYPE_CHECKING:
    from billow.domain.subscription import Subscription

router = Router()
TAGS = ["Subscriptions"]
SubscriptionId = Annotated[str, Path(description="The subscription's id", max_length=64)]
Status = Literal["pending", "trialing", "active", "past_due", "paused", "canceled", "expired"]


def _scope() -> Scope:
    return current_request().require_scope()


def subscription_to_dict(sub: Subscription) -> dict[str, Any]:
    # The subscription domain (periods, zoneinfo) loads on first use, not at cold start.
    from billow.domain.subscription import subscription_to_dict as to_dict

    return to_dict(sub)


@router.post("/subscriptions", middlewares=[idempotency_required], tags=TAGS, summary="Subscribe a customer")
def create_subscription(subscription: Annotated[SubscriptionCreate, Body(embed=False)]) -> Response[str]:
    raw = subscription.model_dump(exclude_unset=True)
    created = container().subscriptions.create(_scope(), raw)
    return single(
        subscription_to_dict(created), status=201, headers={"Location": f"/v1/subscriptions/{created.id}"}
    )


@router.get("/subscriptions", tags=TAGS, summary="List subscriptions, newest first")
def list_subscriptions(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Status | None, Query()] = None,
    plan_id: Annotated[str | None, Query(max_length=64)] = None,
    test_clock_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    from billow.ports.queries import SubscriptionFilter

    page, fingerprint = page_from(limit, cursor)
    filters = SubscriptionFilter(
        customer_id=customer_id, status=status, plan_id=plan_id, test_clock_id=test_clock_id
    )
    result = container().subscriptions.list(_scope(), filters, page)
    return listing(
        [subscription_to_dict(s) for s in result.items], next_cursor(fingerprint, result.next_position)
    )


@router.get("/subscriptions/<subscription_id>", tags=TAGS, summary="Get a subscription")
def get_subscription(subscription_id: SubscriptionId) -> Response[str]:
    return single(subscription_to_dict(container().subscriptions.get(_scope(), subscription_id)))


@router.patch("/subscriptions/<subscription_id>", tags=TAGS, summary="Change metadata and collection")
def update_subscription(
    subscription_id: SubscriptionId, subscription: Annotated[SubscriptionUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(subscription, ("collection_method", "payment_terms_days", "metadata"))
    updated = container().subscriptions.update(_scope(), subscription_id, changes, if_match())
    return single(subscription_to_dict(updated))


@router.post(
    "/subscriptions/<subscription_id>/change",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Change quantity, items or plan — now, at the next period or at a time",
)
def change_subscription(
    subscription_id: SubscriptionId, change: Annotated[SubscriptionChange, Body(embed=False)]
) -> Response[str]:
    raw = change.model_dump(exclude_unset=True)
    if change.items is not None:
        raw["items"] = [i.model_dump(exclude_unset=True) for i in change.items]
    changed = container().subscriptions.change(_scope(), subscription_id, raw, if_match())
    return single(subscription_to_dict(changed))


@router.post(
    "/subscriptions/<subscription_id>/cancel",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Cancel now, at period end or at a time",
)
def cancel_subscription(
    subscription_id: SubscriptionId, cancel: Annotated[SubscriptionCancel, Body(embed=False)]
) -> Response[str]:
    canceled = container().subscriptions.cancel(_scope(), subscription_id, cancel.model_dump(), if_match())
    return single(subscription_to_dict(canceled))


@router.post(
    "/subscriptions/<subscription_id>/pause",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Pause: no charges until resumed",
)
def pause_subscription(
    subscription_id: SubscriptionId, pause: Annotated[SubscriptionPause, Body(embed=False)]
) -> Response[str]:
    paused = container().subscriptions.pause(_scope(), subscription_id, pause.model_dump(), if_match())
    return single(subscription_to_dict(paused))


@router.post(
    "/subscriptions/<subscription_id>/resume",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Resume a paused subscription with a new period",
)
def resume_subscription(subscription_id: SubscriptionId) -> Response[str]:
    resumed = container().subscriptions.resume(_scope(), subscription_id, if_match())
    return single(subscription_to_dict(resumed))


@router.post(
    "/subscriptions/<subscription_id>/add-ons",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Add a recurring or one-off add-on",
)
def add_subscription_add_on(
    subscription_id: SubscriptionId, add_on: Annotated[AddOn, Body(embed=False)]
) -> Response[str]:
    updated = container().subscriptions.add_add_on(_scope(), subscription_id, add_on.model_dump(), if_match())
    return single(subscription_to_dict(updated), status=201)


@router.get("/subscriptions/<subscription_id>/scheduled-changes", tags=TAGS, summary="Changes waiting to run")
def list_scheduled_changes(subscription_id: SubscriptionId) -> Response[str]:
    sub = container().subscriptions.get(_scope(), subscription_id)
    changes = sorted(sub.scheduled_changes, key=lambda c: (c.effective_at, c.id))
    return listing([c.to_dict() for c in changes], None)


@router.post(
    "/subscriptions/<subscription_id>/scheduled-changes/<change_id>/cancel",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Cancel a scheduled change before it runs",
)
def cancel_scheduled_change(
    subscription_id: SubscriptionId, change_id: Annotated[str, Path(max_length=64)]
) -> Response[str]:
    updated = container().subscriptions.cancel_scheduled_change(
        _scope(), subscription_id, change_id, if_match()
    )
    return single(subscription_to_dict(updated))


@router.get(
    "/subscriptions/<subscription_id>/upcoming-invoice",
    tags=TAGS,
    summary="Preview the next invoice (computed, never stored)",
)
def upcoming_invoice(subscription_id: SubscriptionId) -> Response[str]:
    from billow.domain.invoice import invoice_to_dict

    invoice = container().subscriptions.upcoming_invoice(_scope(), subscription_id)
    data = invoice_to_dict(invoice)
    data.update({"id": None, "object": "upcoming_invoice"})
    return single(data)


@router.get(
    "/subscriptions/<subscription_id>/usage",
    tags=TAGS,
    summary="Usage of the current period: per meter and group, billed now and projected",
)
def subscription_usage(subscription_id: SubscriptionId) -> Response[str]:
    return single(container().subscriptions.current_usage(_scope(), subscription_id))
