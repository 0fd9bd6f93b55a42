"""The billing-cycle function: each Task of statemachines/billing_cycle.asl.json calls it with
an ``action`` and the execution's state, and gets the next state back. Errors propagate, so
the state machine's Retry and Catch see them by class name."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.api.container import container

logger = Logger(service="billow")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    cycle = container().billing_cycle
    action = event.get("action")
    if action == "list_due":
        return cycle.list_due(event)
    if action == "close_period":
        return cycle.close_period(event)
    if action == "finalize_due":
        return cycle.finalize_due(event)
    if action == "collect":
        return cycle.collect(event)
    if action == "continue_run":
        return cycle.continue_run(event)
    if action == "finish":
        return cycle.finish(event)
    raise ValueError(f"unknown billing cycle action {action!r}")
