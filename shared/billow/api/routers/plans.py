"""/v1/plans and their versions."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.plans import PlanCreate, PlanMigration, PlanPreview, PlanUpdate, VersionFields
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.plan import plan_to_dict
from billow.domain.tenancy import Scope

router = Router()
TAGS = ["Plans"]
PlanId = Annotated[str, Path(description="The plan's id", max_length=64)]
VersionNumber = Annotated[int, Path(ge=1, description="The version's number")]


def _scope() -> Scope:
    return current_request().require_scope()


@router.post(
    "/plans", middlewares=[idempotency_required], tags=TAGS, summary="Create a plan and its draft version 1"
)
def create_plan(plan: Annotated[PlanCreate, Body(embed=False)]) -> Response[str]:
    raw = plan.model_dump(exclude_unset=True)
    raw["components"] = [c.model_dump(exclude_unset=True) for c in plan.components or []]
    created = container().plans.create(_scope(), raw)
    return single(plan_to_dict(created), status=201, headers={"Location": f"/v1/plans/{created.id}"})


@router.get("/plans", tags=TAGS, summary="List plans, newest first")
def list_plans(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[Literal["active", "archived"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().plans.list(_scope(), status, page)
    return listing([plan_to_dict(p) for p in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/plans/<plan_id>", tags=TAGS, summary="Get a plan with its versions")
def get_plan(plan_id: PlanId) -> Response[str]:
    return single(plan_to_dict(container().plans.get(_scope(), plan_id)))


@router.patch("/plans/<plan_id>", tags=TAGS, summary="Rename or describe a plan")
def update_plan(plan_id: PlanId, plan: Annotated[PlanUpdate, Body(embed=False)]) -> Response[str]:
    changes = sent_fields(plan, ("name", "metadata"))
    return single(plan_to_dict(container().plans.update(_scope(), plan_id, changes, if_match())))


@router.post(
    "/plans/<plan_id>/archive", middlewares=[idempotency_optional], tags=TAGS, summary="Archive a plan"
)
def archive_plan(plan_id: PlanId) -> Response[str]:
    return single(plan_to_dict(container().plans.archive(_scope(), plan_id, if_match())))


@router.post(
    "/plans/<plan_id>/versions",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Start a new draft version",
)
def create_plan_version(
    plan_id: PlanId, version: Annotated[VersionFields, Body(embed=False)]
) -> Response[str]:
    raw = version.model_dump(exclude_unset=True)
    if version.components is not None:
        raw["components"] = [c.model_dump(exclude_unset=True) for c in version.components]
    created = container().plans.create_version(_scope(), plan_id, raw, if_match())
    return single(plan_to_dict(created), status=201)


@router.get("/plans/<plan_id>/versions/<number>", tags=TAGS, summary="Get one version")
def get_plan_version(plan_id: PlanId, number: VersionNumber) -> Response[str]:
    plan = container().plans.get(_scope(), plan_id)
    return single({"object": "plan_version", "plan_id": plan.id, **plan.version_number(number).to_dict()})


@router.patch("/plans/<plan_id>/versions/<number>", tags=TAGS, summary="Edit a draft version")
def update_plan_version(
    plan_id: PlanId, number: VersionNumber, version: Annotated[VersionFields, Body(embed=False)]
) -> Response[str]:
    raw = sent_fields(version, ("currency", "interval", "interval_count", "trial_days", "components"))
    if version.components is not None:
        raw["components"] = [c.model_dump(exclude_unset=True) for c in version.components]
    return single(plan_to_dict(container().plans.update_version(_scope(), plan_id, number, raw, if_match())))


@router.post(
    "/plans/<plan_id>/versions/<number>/publish",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Publish a draft version (then it never changes)",
)
def publish_plan_version(plan_id: PlanId, number: VersionNumber) -> Response[str]:
    return single(plan_to_dict(container().plans.publish(_scope(), plan_id, number, if_match())))


@router.post("/plans/<plan_id>/preview", tags=TAGS, summary="One period's charges for given quantities")
def preview_plan(plan_id: PlanId, preview: Annotated[PlanPreview, Body(embed=False)]) -> Response[str]:
    return single(container().plans.preview(_scope(), plan_id, preview.model_dump(exclude_unset=True)))


@router.post(
    "/plans/<plan_id>/migrate",
    middlewares=[idempotency_required],
    tags=TAGS,
    summary="Move subscribers between versions",
)
def migrate_plan(plan_id: PlanId, migration: Annotated[PlanMigration, Body(embed=False)]) -> Response[str]:
    return single(container().plans.migrate(_scope(), plan_id, migration.model_dump()))
