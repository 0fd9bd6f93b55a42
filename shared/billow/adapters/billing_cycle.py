"""Billing-cycle runners (ports/billing_cycle.py).

``StepFunctionsBillingCycle`` starts an execution of statemachines/billing_cycle.asl.json with
a deterministic name: a duplicated tick or a repeated test-clock advance joins the execution
already under way instead of starting a second one; a name whose execution failed is retried
under a numbered suffix. ``InlineBillingCycle`` runs the same rounds in this process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from billow.domain.tenancy import Scope
from billow.ports.billing_cycle import RunStatus

if TYPE_CHECKING:
    from billow.services.billing_cycle import BillingCycleService

RETRIES_PER_NAME = 20


def run_input(
    now: str, clock: tuple[Scope, str] | None, carry: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The execution's input: the run's time and clock, and what a continued run carries."""
    return {
        "now": now,
        "clock": {"tenant_id": clock[0].tenant_id, "livemode": clock[0].livemode, "clock_id": clock[1]}
        if clock
        else None,
        "skip": [],
        "finalized": 0,
        "round": 0,
        "part": 0,
        # Dunning steps of the last round that failed: their invoices wait for the next run.
        "dunned": [],
        **(carry or {}),
    }


class StepFunctionsBillingCycle:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.arn = state_machine_arn

    def start(
        self,
        now: str,
        clock: tuple[Scope, str] | None,
        name: str,
        *,
        carry: Mapping[str, Any] | None = None,
    ) -> str:
        body = json.dumps(run_input(now, clock, carry))
        for attempt in range(RETRIES_PER_NAME):
            run_name = name if attempt == 0 else f"{name}-retry{attempt}"
            try:
                started = self.client.start_execution(stateMachineArn=self.arn, name=run_name, input=body)
                return str(started["executionArn"])
            except self.client.exceptions.ExecutionAlreadyExists:
                arn = self._execution_arn(run_name)
                status = self.client.describe_execution(executionArn=arn)["status"]
                if status in ("RUNNING", "SUCCEEDED"):
                    return arn  # the same run, started before: join it
        raise RuntimeError(f"billing cycle run {name} failed {RETRIES_PER_NAME} times")

    def _execution_arn(self, name: str) -> str:
        return self.arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def wait(self, run_id: str, timeout_seconds: float) -> RunStatus:
        deadline = time.monotonic() + timeout_seconds
        delay = 0.05
        while True:
            execution = self.client.describe_execution(executionArn=run_id)
            status = execution["status"]
            if status == "SUCCEEDED":
                continued = json.loads(execution.get("output") or "{}").get("continued_as")
                if not continued:
                    return "succeeded"
                run_id = str(continued)  # the run goes on in its next execution
                continue
            if status != "RUNNING":
                return "failed"
            if time.monotonic() >= deadline:
                return "running"
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)


class InlineBillingCycle:
    def __init__(self, cycle: Callable[[], BillingCycleService]) -> None:
        self.cycle = cycle

    def start(
        self,
        now: str,
        clock: tuple[Scope, str] | None,
        name: str,
        *,
        carry: Mapping[str, Any] | None = None,
    ) -> str:
        self.cycle().run_inline(now, clock)
        return name

    def wait(self, run_id: str, timeout_seconds: float) -> RunStatus:
        return "succeeded"  # start() returned only once the run was over
