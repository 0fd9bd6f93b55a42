"""Starting a billing-cycle run: the state machine in AWS and in the local stack, the same
rounds in this process where no state machine exists (services/billing_cycle.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from billow.domain.tenancy import Scope

RunStatus = Literal["running", "succeeded", "failed"]


class BillingCycleRunner(Protocol):
    def start(
        self,
        now: str,
        clock: tuple[Scope, str] | None,
        name: str,
        *,
        carry: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a run that does everything due by ``now`` (in real time, or within one test
        clock, which the run marks ready at its end). ``name`` makes the start idempotent: a
        second start under the same name joins the first. ``carry`` is the state a run hands
        to its continuation (services/billing_cycle.py). Returns the run's id."""
        ...

    def wait(self, run_id: str, timeout_seconds: float) -> RunStatus:
        """The run's status once it has ended, following its continuations, or "running"
        after the timeout."""
        ...
