"""/v1/dunning-policies"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.dunning_policies import NOT_NULLABLE, DunningPolicyCreate, DunningPolicyUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from
from billow.domain.dunning import dunning_policy_to_dict

router = Router()
TAGS = ["Dunning policies"]
PolicyId = Annotated[str, Path(description="The dunning policy's id", max_length=64)]


@router.post(
    "/dunning-policies", middlewares=[idempotency_required], tags=TAGS, summary="Create a dunning policy"
)
def create_policy(policy: Annotated[DunningPolicyCreate, Body(embed=False)]) -> Response[str]:
    created = container().dunning_policies.create(current_request().require_scope(), policy.model_dump())
    return single(
        dunning_policy_to_dict(created),
        status=201,
        headers={"Location": f"/v1/dunning-policies/{created.id}"},
    )


@router.get("/dunning-policies", tags=TAGS, summary="List dunning policies, newest first")
def list_policies(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[Literal["active", "archived"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().dunning_policies.list(current_request().require_scope(), page, status)
    return listing(
        [dunning_policy_to_dict(p) for p in result.items], next_cursor(fingerprint, result.next_position)
    )


@router.get("/dunning-policies/<policy_id>", tags=TAGS, summary="Get a dunning policy")
def get_policy(policy_id: PolicyId) -> Response[str]:
    policy = container().dunning_policies.get(current_request().require_scope(), policy_id)
    return single(dunning_policy_to_dict(policy))


@router.patch(
    "/dunning-policies/<policy_id>",
    tags=TAGS,
    summary="Update a dunning policy: name, description, steps, applies_to, default (If-Match honoured)",
)
def update_policy(
    policy_id: PolicyId, policy: Annotated[DunningPolicyUpdate, Body(embed=False)]
) -> Response[str]:
    changes = sent_fields(policy, NOT_NULLABLE)
    updated = container().dunning_policies.update(
        current_request().require_scope(), policy_id, changes, if_match()
    )
    return single(dunning_policy_to_dict(updated))


@router.post(
    "/dunning-policies/<policy_id>/archive",
    middlewares=[idempotency_optional],
    tags=TAGS,
    summary="Archive a dunning policy: it stops being the default and releases its customers and plans",
)
def archive_policy(policy_id: PolicyId) -> Response[str]:
    archived = container().dunning_policies.archive(current_request().require_scope(), policy_id, if_match())
    return single(dunning_policy_to_dict(archived))
