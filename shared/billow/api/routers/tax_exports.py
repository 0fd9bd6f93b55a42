"""/v1/tax/exports: the tax report of a period as CSV (default) or JSON (docs/tax.md
"Tax report"; services/tax_exports.py).

The query parameters are checked by the domain (domain/tax_report.py) rather than by the
route's signature, so every problem comes back at once as a 422 with a pointer per parameter
(``/period_start``, ``/period_end``, ``/currency``, ``/format``).
"""

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
CSV = "text/csv; charset=utf-8"


@router.get(
    "/tax/exports",
    tags=TAGS,
    summary="The tax report of a period by currency, jurisdiction, tax type, category and rate "
    "(CSV by default, or JSON)",
    responses={
        200: {
            "description": "The report: a CSV attachment, or with format=json a tax_report object",
            "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {}},
        }
    },
)
def tax_export(
    period_start: Annotated[
        str | None,
        Query(description="YYYY-MM-DD, the first day (in the tenant's time zone), included; required"),
    ] = None,
    period_end: Annotated[
        str | None,
        Query(description="YYYY-MM-DD, the last day, included; the period spans at most 366 days; required"),
    ] = None,
    currency: Annotated[str | None, Query(description="only documents in this ISO 4217 currency")] = None,
    format: Annotated[str | None, Query(description="csv (default) or json")] = None,
) -> Response[str]:
    from billow.domain.tax_report import parse_report_query

    query = parse_report_query(period_start, period_end, currency, format)
    report = container().tax_exports.report(current_request().require_scope(), query)
    if query.format == "json":
        return single(report.to_dict())
    return Response(
        status_code=200,
        content_type=CSV,
        body=report.to_csv(),
        headers={"Content-Disposition": f'attachment; filename="{report.filename}"'},
    )
