"""/v1/usage-alerts"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.usage_alerts import NOT_NULLABLE, UsageAlertCreate, UsageAlertUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.ports.queries import UsageAlertFilter

router = Router()


def usage_alert_to_dict(obj: Any) -> dict[str, Any]:
    # The domain module loads on first use, not at the API function's cold start.
    from billow.domain.usage_alert import usage_alert_to_dict as to_dict

    return to_dict(obj)


TAGS = ["Usage alerts"]
AlertId = Annotated[str, Path(description="The usage alert's id", max_length=64)]


@router.post("/usage-alerts", middlewares=[idempotency_required], tags=TAGS, summary="Create a usage alert")
def create_usage_alert(alert: Annotated[UsageAlertCreate, Body(embed=False)]) -> Response[str]:
    created = container().usage_alerts.create(current_request().require_scope(), alert.model_dump())
    return single(
        usage_alert_to_dict(created), status=201, headers={"Location": f"/v1/usage-alerts/{created.id}"}
    )


@router.get("/usage-alerts", tags=TAGS, summary="List usage alerts, newest first")
def list_usage_alerts(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    subscription_id: Annotated[str | None, Query(max_length=64)] = None,
    meter_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Literal["active", "archived"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    filters = UsageAlertFilter(subscription_id=subscription_id, meter_id=meter_id, status=status)
    result = container().usage_alerts.list(current_request().require_scope(), filters, page)
    return listing(
        [usage_alert_to_dict(a) for a in result.items], next_cursor(fingerprint, result.next_position)
    )


@router.get("/usage-alerts/<alert_id>", tags=TAGS, summary="Get a usage alert")
def get_usage_alert(alert_id: AlertId) -> Response[str]:
    return single(
        usage_alert_to_dict(container().usage_alerts.get(current_request().require_scope(), alert_id))
    )


@router.patch("/usage-alerts/<alert_id>", tags=TAGS, summary="Rename a usage alert (If-Match honoured)")
def update_usage_alert(
    alert_id: AlertId, alert: Annotated[UsageAlertUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(alert, NOT_NULLABLE)
    updated = container().usage_alerts.update(
        current_request().require_scope(), alert_id, changes, if_match()
    )
    return single(usage_alert_to_dict(updated))


@router.post(
    "/usage-alerts/<alert_id>/archive",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Archive (stops it)",
)
def archive_usage_alert(alert_id: AlertId) -> Response[str]:
    archived = container().usage_alerts.archive(current_request().require_scope(), alert_id, if_match())
    return single(usage_alert_to_dict(archived))


@router.post(
    "/usage-alerts/<alert_id>/lift",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Lift a block for the rest of the billing period",
)
def lift_usage_alert(alert_id: AlertId) -> Response[str]:
    lifted = container().usage_alerts.lift(current_request().require_scope(), alert_id, if_match())
    return single(usage_alert_to_dict(lifted))
