"""/v1/fx/rates, /v1/fx/policies, /v1/fx/overrides (docs/fx.md)."""

from __future__ import annotations

from datetime import date as calendar_date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import AfterValidator, StringConstraints

from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.fx import POLICY_NOT_NULLABLE, FxOverrideCreate, FxPolicyCreate, FxPolicyUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match, sent_fields
from billow.api.routers._paging import next_cursor, page_from

if TYPE_CHECKING:
    from billow.domain.fx import FxOverride, FxPolicy

router = Router()


# The FX domain loads on an FX route's first use, not at the API's cold start.
def _policy_dict(policy: FxPolicy) -> dict[str, Any]:
    from billow.domain.fx import fx_policy_to_dict

    return fx_policy_to_dict(policy)


def _override_dict(override: FxOverride) -> dict[str, Any]:
    from billow.domain.fx import fx_override_to_dict

    return fx_override_to_dict(override)


RATE_TAGS = ["FX rates"]
POLICY_TAGS = ["FX policies"]
OVERRIDE_TAGS = ["FX overrides"]
PolicyId = Annotated[str, Path(description="The FX policy's id", max_length=64)]
OverrideId = Annotated[str, Path(description="The FX override's id", max_length=64)]


def _calendar_date(value: str) -> str:
    calendar_date.fromisoformat(value)  # a ValueError is the parameter's validation error
    return value


CalendarDate = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_calendar_date)
]
DateQuery = Annotated[CalendarDate | None, Query(description="YYYY-MM-DD; default: the newest rates held")]


@router.get(
    "/fx/rates",
    tags=RATE_TAGS,
    summary="The reference rates that apply on a date (a weekend or holiday takes the previous publication)",
)
def get_rates(
    date: DateQuery = None,
    base: Annotated[str, Query(pattern=r"^[A-Z]{3}$", description="ISO 4217; default EUR")] = "EUR",
    quote: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="only this currency")] = None,
) -> Response[str]:
    current_request().require_scope()
    on = calendar_date.fromisoformat(date) if date else None
    return single(container().fx.rates(on, base, quote))


# --- policies ----------------------------------------------------------------------------------


@router.post(
    "/fx/policies", middlewares=[idempotency_required], tags=POLICY_TAGS, summary="Create an FX policy"
)
def create_policy(policy: Annotated[FxPolicyCreate, Body(embed=False)]) -> Response[str]:
    created = container().fx.create_policy(current_request().require_scope(), policy.model_dump())
    return single(_policy_dict(created), status=201, headers={"Location": f"/v1/fx/policies/{created.id}"})


@router.get("/fx/policies", tags=POLICY_TAGS, summary="List FX policies, newest first")
def list_policies(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[Literal["active", "archived"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().fx.list_policies(current_request().require_scope(), page, status)
    return listing([_policy_dict(p) for p in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/fx/policies/<policy_id>", tags=POLICY_TAGS, summary="Get an FX policy")
def get_policy(policy_id: PolicyId) -> Response[str]:
    return single(_policy_dict(container().fx.get_policy(current_request().require_scope(), policy_id)))


@router.patch(
    "/fx/policies/<policy_id>",
    tags=POLICY_TAGS,
    summary="Update an FX policy: name, markup, rate date, currency pairs, default (If-Match honoured)",
)
def update_policy(policy_id: PolicyId, policy: Annotated[FxPolicyUpdate, Body(embed=False)]) -> Response[str]:
    changes = sent_fields(policy, POLICY_NOT_NULLABLE)
    updated = container().fx.update_policy(current_request().require_scope(), policy_id, changes, if_match())
    return single(_policy_dict(updated))


@router.post(
    "/fx/policies/<policy_id>/archive",
    middlewares=[idempotency_optional],
    tags=POLICY_TAGS,
    summary="Archive an FX policy: it stops being the default and releases its currency pairs",
)
def archive_policy(policy_id: PolicyId) -> Response[str]:
    archived = container().fx.archive_policy(current_request().require_scope(), policy_id, if_match())
    return single(_policy_dict(archived))


# --- overrides ---------------------------------------------------------------------------------


@router.post(
    "/fx/overrides",
    middlewares=[idempotency_required],
    tags=OVERRIDE_TAGS,
    summary="Set a pair's rate for a range of dates (no two overrides of a pair share a day)",
)
def create_override(override: Annotated[FxOverrideCreate, Body(embed=False)]) -> Response[str]:
    created = container().fx.create_override(current_request().require_scope(), override.model_dump())
    return single(_override_dict(created), status=201, headers={"Location": f"/v1/fx/overrides/{created.id}"})


@router.get("/fx/overrides", tags=OVERRIDE_TAGS, summary="List FX overrides, newest first")
def list_overrides(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    base_currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    quote_currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    result = container().fx.list_overrides(
        current_request().require_scope(), page, base_currency, quote_currency
    )
    return listing([_override_dict(o) for o in result.items], next_cursor(fingerprint, result.next_position))


@router.get("/fx/overrides/<override_id>", tags=OVERRIDE_TAGS, summary="Get an FX override")
def get_override(override_id: OverrideId) -> Response[str]:
    return single(_override_dict(container().fx.get_override(current_request().require_scope(), override_id)))


@router.delete(
    "/fx/overrides/<override_id>",
    tags=OVERRIDE_TAGS,
    summary="Delete an FX override (invoices that pinned its rate keep it; If-Match honoured)",
)
def delete_override(override_id: OverrideId) -> Response[str]:
    deleted = container().fx.delete_override(current_request().require_scope(), override_id, if_match())
    return single(deleted)
