"""/v1/meters"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.meters import NOT_NULLABLE, MeterCreate, MeterUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.ports.queries import MeterFilter

router = Router()


def meter_to_dict(obj: Any) -> dict[str, Any]:
    # The domain module loads on first use, not at the API function's cold start.
    from billow.domain.meter import meter_to_dict as to_dict

    return to_dict(obj)


TAGS = ["Meters"]
MeterId = Annotated[str, Path(description="The meter's id", max_length=64)]
AggregationQuery = Literal["sum", "count", "unique_count", "max", "latest", "weighted_sum"]


@router.post("/meters", middlewares=[idempotency_required], tags=TAGS, summary="Create a meter")
def create_meter(meter: Annotated[MeterCreate, Body(embed=False)]) -> Response[str]:
    created = container().meters.create(current_request().require_scope(), meter.model_dump())
    return single(meter_to_dict(created), status=201, headers={"Location": f"/v1/meters/{created.id}"})


@router.get("/meters", tags=TAGS, summary="List meters, newest first")
def list_meters(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    aggregation: Annotated[AggregationQuery | None, Query()] = None,
    status: Annotated[Literal["active", "archived"] | None, Query()] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().meters.list(
        current_request().require_scope(), MeterFilter(aggregation=aggregation, status=status), page, code
    )
    return listing([meter_to_dict(m) for m in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/meters/<meter_id>", tags=TAGS, summary="Get a meter")
def get_meter(meter_id: MeterId) -> Response[str]:
    return single(meter_to_dict(container().meters.get(current_request().require_scope(), meter_id)))


@router.patch("/meters/<meter_id>", tags=TAGS, summary="Update a meter (If-Match honoured)")
def update_meter(meter_id: MeterId, meter: Annotated[MeterUpdate, Body(embed=False)]) -> Response[str]:
    changes = sent_fields(meter, NOT_NULLABLE)
    updated = container().meters.update(current_request().require_scope(), meter_id, changes, if_match())
    return single(meter_to_dict(updated))


@router.post("/meters/<meter_id>/archive", middlewares=[idempotency_optional], tags=TAGS, summary="Archive")
def archive_meter(meter_id: MeterId) -> Response[str]:
    archived = container().meters.archive(current_request().require_scope(), meter_id, if_match())
    return single(meter_to_dict(archived))


@router.post(
    "/meters/<meter_id>/unarchive", middlewares=[idempotency_optional], tags=TAGS, summary="Unarchive"
)
def unarchive_meter(meter_id: MeterId) -> Response[str]:
    restored = container().meters.unarchive(current_request().require_scope(), meter_id, if_match())
    return single(meter_to_dict(restored))
