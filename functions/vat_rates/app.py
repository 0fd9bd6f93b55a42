"""Daily, early in the morning (UTC): fetch the EU member states' VAT rates in force today from the
Commission's TEDB and make them the table in use (services/eu_vat_rates.py, docs/fx.md).

Fired by the ``DailyVatRates`` schedule. Once a day at most (and once per 45 s while failing),
so the local stack's ticker does not hammer TEDB; ``{"force": true}`` asks regardless. An
answer lacking a member state, or a failure, is logged and raised, and the table in use stays
as it was.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.api.container import container

logger = Logger(service="billow")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    force = isinstance(event, dict) and event.get("force") is True
    try:
        result = container().eu_vat_rates.refresh_if_due(force=force)
    except Exception:
        logger.exception("EU VAT rates refresh failed; the table in use is kept")
        raise
    summary = result.to_dict()
    if result.skipped is None:
        logger.info("EU VAT rates refreshed", extra=summary)
    return summary
