"""/v1/test-clocks (sandbox keys only)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.subscriptions import TestClockAdvance, TestClockCreate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.tenancy import Scope
from billow.domain.test_clock import clock_to_dict

router = Router()
TAGS = ["Test clocks"]
ClockId = Annotated[str, Path(description="The test clock's id", max_length=64)]


def _scope() -> Scope:
    return current_request().require_scope()


@router.post(
    "/test-clocks", middlewares=[idempotency_required], tags=TAGS, summary="Create a frozen sandbox time"
)
def create_test_clock(clock: Annotated[TestClockCreate, Body(embed=False)]) -> Response[str]:
    created = container().test_clocks.create(_scope(), clock.model_dump(exclude_unset=True))
    return single(clock_to_dict(created), status=201, headers={"Location": f"/v1/test-clocks/{created.id}"})


@router.get("/test-clocks", tags=TAGS, summary="List test clocks, newest first")
def list_test_clocks(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().test_clocks.list(_scope(), page)
    return listing([clock_to_dict(c) for c in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/test-clocks/<clock_id>", tags=TAGS, summary="Get a test clock")
def get_test_clock(clock_id: ClockId) -> Response[str]:
    return single(clock_to_dict(container().test_clocks.get(_scope(), clock_id)))


@router.post(
    "/test-clocks/<clock_id>/advance",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Move the clock forward; everything due on the way happens, in order",
)
def advance_test_clock(
    clock_id: ClockId, advance: Annotated[TestClockAdvance, Body(embed=False)]
) -> Response[str]:
    advanced = container().test_clocks.advance(_scope(), clock_id, advance.model_dump(), if_match())
    return single(clock_to_dict(advanced))
