"""/v1/tax/eu-vat-rates: the EU member states' VAT rates Billow uses (docs/fx.md)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from billow.api.container import container
from billow.api.request import current_request
from billow.api.responses import single

router = Router()
TAGS = ["Tax"]


@router.get(
    "/tax/eu-vat-rates",
    tags=TAGS,
    summary="The member states' VAT rates in use, with their source and date (fetched daily from TEDB)",
)
def get_eu_vat_rates(
    country: Annotated[
        str | None,
        Query(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 of a member state (EL for Greece too)"),
    ] = None,
) -> Response[str]:
    current_request().require_scope()
    return single(container().eu_vat_rates.table(country))
