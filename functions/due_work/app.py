"""The scheduler's entry: every minute, run every step that has fallen due.

Renewals, trial ends, scheduled changes and expiries are stored as due times; this handler
calls the one ``run_due_work(now)`` that a test clock's advance and the local ticker also use,
then finishes any usage batch whose ingest stopped half-way (services/usage_ingest.py).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.api.container import container

logger = Logger(service="billow")
# At most this many steps per run (well inside the timeout); the next run picks up the rest.
STEPS_PER_RUN = 5_000
RECOVERIES_PER_RUN = 200


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wiring = container()
    report = wiring.due_work.run_due_work(wiring.clock.now(), max_steps=STEPS_PER_RUN)
    if report.steps or report.failed:
        logger.info("due work", extra=report.as_dict())
    # Real time only: a test clock's advance must never touch batches still being ingested.
    recovered = wiring.usage_ingest.recover_stale_batches(wiring.clock.now(), limit=RECOVERIES_PER_RUN)
    if recovered:
        logger.warning("finished abandoned usage batches", extra={"usage_batches": recovered})
    return {**report.as_dict(), "usage_batches_recovered": recovered}
