"""The scheduler's entry: every minute, start a billing-cycle run for everything due.

Renewals, trial ends, scheduled changes, expiries and invoice finalizations are stored as due
times; this handler starts the billing-cycle state machine (statemachines/billing_cycle.asl.json)
for the current minute, the same run a test clock's advance starts for its own time. The
execution is named after the scheduled event, so a duplicated delivery joins the run already
started. It
also finishes any usage batch whose ingest stopped half-way (services/usage_ingest.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.api.container import container
from billow.ports.clock import rfc3339

logger = Logger(service="billow")
RECOVERIES_PER_RUN = 200


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wiring = container()
    now = wiring.clock.now()
    # Named after the scheduled event: a duplicated delivery of one tick joins its run.
    tick = hashlib.sha256(str(event.get("id") or rfc3339(now)).encode()).hexdigest()[:16]
    run = wiring.billing_cycle_runner.start(rfc3339(now), None, name=f"tick-{now:%Y%m%dT%H%M%S}-{tick}")
    # Real time only: a test clock's advance must never touch batches still being ingested.
    recovered = wiring.usage_ingest.recover_stale_batches(now, limit=RECOVERIES_PER_RUN)
    if recovered:
        logger.warning("finished abandoned usage batches", extra={"usage_batches": recovered})
    return {"billing_cycle_run": run, "usage_batches_recovered": recovered}
