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
from billow.services.scheduled_refresh import run_scheduled_refresh

logger = Logger(service="billow")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_scheduled_refresh(
        event,
        lambda force: container().eu_vat_rates.refresh_if_due(force=force),
        logger=logger,
        what="EU VAT rates",
        kept="the table in use is kept",
    )
