"""/v1/custom-fields"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from billow.adapters.dynamodb.custom_fields import definition_to_dict
from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.custom_fields import CustomFieldCreate, CustomFieldUpdate
from billow.api.request import current_request
from billow.api.responses import listing, parse_if_match, single
from billow.api.routers._paging import next_cursor, page_from

router = Router()
TAGS = ["Custom fields"]
FieldId = Annotated[str, Path(max_length=64)]
EntityType = Literal["customer", "subscription", "invoice", "product", "plan"]


@router.post("/custom-fields", middlewares=[idempotency_required], tags=TAGS, summary="Define a custom field")
def create_custom_field(field: Annotated[CustomFieldCreate, Body(embed=False)]) -> Response[str]:
    created = container().custom_fields.define(current_request().require_scope(), field.model_dump())
    return single(
        definition_to_dict(created), status=201, headers={"Location": f"/v1/custom-fields/{created.id}"}
    )


@router.get("/custom-fields", tags=TAGS, summary="List custom fields, newest first")
def list_custom_fields(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    entity_type: Annotated[EntityType | None, Query()] = None,
) -> Response[str]:
    page, fingerprint = page_from(limit, cursor)
    # A tenant has tens of definitions, read in one query; paging happens here.
    definitions = container().custom_fields.list(current_request().require_scope(), entity_type)
    after_id = (page.after or {}).get("id")
    if after_id is not None:
        definitions = [d for d in definitions if d.id < after_id]
    shown = definitions[: page.limit]
    position = {"id": shown[-1].id} if len(definitions) > page.limit else None
    return listing([definition_to_dict(d) for d in shown], next_cursor(fingerprint, position))


@router.get("/custom-fields/<field_id>", tags=TAGS, summary="Get a custom field")
def get_custom_field(field_id: FieldId) -> Response[str]:
    return single(
        definition_to_dict(container().custom_fields.get(current_request().require_scope(), field_id))
    )


@router.patch("/custom-fields/<field_id>", tags=TAGS, summary="Rename, describe, require or add options")
def update_custom_field(
    field_id: FieldId, field: Annotated[CustomFieldUpdate, Body(embed=False)]
) -> Response[str]:
    if_match = parse_if_match(current_request().header("if-match"))
    updated = container().custom_fields.update(
        current_request().require_scope(), field_id, field.model_dump(exclude_unset=True), if_match
    )
    return single(definition_to_dict(updated))


@router.post(
    "/custom-fields/<field_id>/archive", middlewares=[idempotency_optional], tags=TAGS, summary="Archive"
)
def archive_custom_field(field_id: FieldId) -> Response[str]:
    return single(
        definition_to_dict(container().custom_fields.archive(current_request().require_scope(), field_id))
    )
