"""POST /v1/tax/validate-vat-id: a tax id's format (python-stdnum) and, for an EU VAT ID,
VIES's answer through the tenant's cache (services/vat_ids.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import Field, StringConstraints

from billow.api.container import container
from billow.api.models.common import StrictModel
from billow.api.request import current_request
from billow.api.responses import single

router = Router()


class VatIdCheck(StrictModel):
    value: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    type: Annotated[str, StringConstraints(max_length=32)] = Field(
        default="eu_vat", description="eu_vat (checked with VIES), gb_vat, ch_vat, … (format only)"
    )


@router.post(
    "/tax/validate-vat-id",
    tags=["Tax"],
    summary="Check a VAT ID: its format, then VIES for an EU VAT ID (valid, invalid or unavailable)",
)
def validate_vat_id(body: Annotated[VatIdCheck, Body(embed=False)]) -> Response[str]:
    validation = container().vat_ids.validate(current_request().require_scope(), body.type, body.value, "")
    return single(validation.to_dict())
