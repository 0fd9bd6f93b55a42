"""Daily, after the ECB's publication (~16:00 CET): fetch the euro reference rates of the last 90
days and store the publications not yet held (services/fx.py, docs/fx.md).

Fired by the ``DailyReferenceRates`` schedule. The refresh only asks the ECB when a publication
newer than the newest held should be out, and at most once per 45 s, so the local stack's
ticker (every schedule every 2 s) does not hammer the source. ``{"force": true}`` (an
operator's direct invocation) asks regardless. A failure is logged and raised: the invocation
fails (and Lambda retries it), and the rates held stay as they were.
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
        lambda force: container().fx.refresh_if_due(force=force),
        logger=logger,
        what="reference rates",
        kept="the rates held are kept",
    )
