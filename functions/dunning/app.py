"""The dunning function: the Tasks of statemachines/dunning.asl.json call it with an
``action`` (``plan`` the due step, ``run_step`` to carry it out) and the execution's state.
Errors propagate, so the state machine's Retry sees them by class name."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.api.container import container

logger = Logger(service="billow")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dunning = container().dunning
    action = event.get("action")
    if action == "plan":
        return dunning.plan(event)
    if action == "run_step":
        return dunning.run_step(event)
    raise ValueError(f"unknown dunning action {action!r}")
