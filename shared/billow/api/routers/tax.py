"""/v1/tax-rules and /v1/tax/profile."""

from __future__ import annotations

from datetime import date as calendar_date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import AfterValidator, StringConstraints

from billow.api.container import container
from billow.api.idempotency import idempotency_required
from billow.api.models.tax import TaxProfileBody, TaxRuleCreate, TaxRuleUpdate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.api.routers._common import if_match
from billow.api.routers._paging import next_cursor, page_from

if TYPE_CHECKING:
    from billow.domain.tax_profile import SellerTaxProfile
    from billow.domain.tax_rules import TaxRule

router = Router()


# The domain modules load on a tax route's first use, not at the API's cold start.
def _rule_dict(rule: TaxRule) -> dict[str, Any]:
    from billow.domain.tax_rules import tax_rule_to_dict

    return tax_rule_to_dict(rule)


def _profile_dict(profile: SellerTaxProfile) -> dict[str, Any]:
    from billow.domain.tax_profile import tax_profile_to_dict

    return tax_profile_to_dict(profile)


RULE_TAGS = ["Tax rules"]
PROFILE_TAGS = ["Tax"]
RuleId = Annotated[str, Path(description="The tax rule's id", max_length=64)]


def _calendar_date(value: str) -> str:
    calendar_date.fromisoformat(value)  # a ValueError is the parameter's validation error
    return value


CalendarDate = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_calendar_date)
]
Country = Annotated[str, Query(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Region = Annotated[
    str | None, Query(pattern=r"^[A-Z0-9]{1,3}$", description="the ISO 3166-2 subdivision part: CA of US-CA")
]
Category = Annotated[str | None, Query(pattern=r"^(\*|[a-z][a-z0-9_]{0,39})$")]


# --- rules ---------------------------------------------------------------------------------------


@router.post(
    "/tax-rules",
    middlewares=[idempotency_required],
    tags=RULE_TAGS,
    summary="Create a tax rule, or a new version of one (same jurisdiction, tax type, category, apply order)",
)
def create_rule(rule: Annotated[TaxRuleCreate, Body(embed=False)]) -> Response[str]:
    created = container().tax_rules.create(
        current_request().require_scope(), rule.model_dump(exclude_unset=True)
    )
    return single(_rule_dict(created), status=201, headers={"Location": f"/v1/tax-rules/{created.id}"})


@router.get("/tax-rules", tags=RULE_TAGS, summary="List tax rules (every version), newest first")
def list_rules(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    country: Annotated[
        str | None, Query(pattern=r"^[A-Z]{2}$", description="the jurisdiction's country")
    ] = None,
    region: Region = None,
    tax_type: Annotated[Literal["vat", "sales_tax", "gst", "hst"] | None, Query()] = None,
    category: Category = None,
    active: Annotated[Literal["true", "false"] | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    from billow.services.tax_rules import TaxRuleFilter

    filters = TaxRuleFilter(
        country=country,
        region=region,
        tax_type=tax_type,
        category=category,
        active=None if active is None else active == "true",
    )
    result = container().tax_rules.list(current_request().require_scope(), page, filters)
    return listing([_rule_dict(r) for r in result.items], next_cursor(fingerprint, result.next_position))


@router.get(
    "/tax-rules/in-force",
    tags=RULE_TAGS,
    summary="The tax rules that apply on a date to a product category sold into a jurisdiction",
)
def rules_in_force(
    country: Country,
    region: Region = None,
    category: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z][a-z0-9_]{0,39}$",
            description="the product's tax category; default standard (a product's default)",
        ),
    ] = None,
    date: Annotated[
        CalendarDate | None, Query(description="YYYY-MM-DD; default today in the tenant's zone")
    ] = None,
) -> Response[str]:
    on = calendar_date.fromisoformat(date) if date else None
    day, rules = container().tax_rules.in_force(
        current_request().require_scope(), country, region, category, on
    )
    return single(
        {
            "object": "tax_rules_in_force",
            "jurisdiction": {"country": country, "region": region},
            "category": category or "standard",
            "date": day.isoformat(),
            "rules": [_rule_dict(rule) for rule in rules],
        }
    )


@router.get("/tax-rules/<rule_id>", tags=RULE_TAGS, summary="Get a tax rule")
def get_rule(rule_id: RuleId) -> Response[str]:
    return single(_rule_dict(container().tax_rules.get(current_request().require_scope(), rule_id)))


@router.patch(
    "/tax-rules/<rule_id>",
    tags=RULE_TAGS,
    summary="Update a tax rule's name, description or metadata (If-Match honoured); "
    "a new rate is a new version",
)
def update_rule(rule_id: RuleId, rule: Annotated[TaxRuleUpdate, Body(embed=False)]) -> Response[str]:
    updated = container().tax_rules.update(
        current_request().require_scope(), rule_id, rule.model_dump(exclude_unset=True), if_match()
    )
    return single(_rule_dict(updated))


@router.delete(
    "/tax-rules/<rule_id>",
    tags=RULE_TAGS,
    summary="Delete a version that has not taken effect yet (If-Match honoured); "
    'end one in force with a new version, "active": false',
)
def delete_rule(rule_id: RuleId) -> Response[str]:
    return single(container().tax_rules.delete(current_request().require_scope(), rule_id, if_match()))


# --- the seller's profile ----------------------------------------------------------------------


@router.get("/tax/profile", tags=PROFILE_TAGS, summary="The seller's tax profile")
def get_profile() -> Response[str]:
    return single(_profile_dict(container().tax_profiles.get(current_request().require_scope())))


@router.put(
    "/tax/profile",
    tags=PROFILE_TAGS,
    summary="Set the seller's tax profile whole (201 when created; If-Match honoured)",
)
def put_profile(profile: Annotated[TaxProfileBody, Body(embed=False)]) -> Response[str]:
    saved, created = container().tax_profiles.put(
        current_request().require_scope(), profile.model_dump(exclude_unset=True), if_match()
    )
    return single(_profile_dict(saved), status=201 if created else 200)


@router.patch(
    "/tax/profile",
    tags=PROFILE_TAGS,
    summary="Change the seller's tax profile with a JSON merge patch (null removes; If-Match honoured)",
)
def patch_profile(profile: Annotated[TaxProfileBody, Body(embed=False)]) -> Response[str]:
    changed = container().tax_profiles.patch(
        current_request().require_scope(), profile.model_dump(exclude_unset=True), if_match()
    )
    return single(_profile_dict(changed))
