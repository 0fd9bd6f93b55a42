"""Dunning of one invoice: where it stands in the policy it follows (docs/dunning.md).

When an invoice's payment fails, it takes a copy of the steps of the policy that applies to
it (so editing the policy later does not change a dunning already under way) and the time of
that first failure. Each step falls due ``after_days`` after that time; the invoice work index
carries the next one's due time, and the dunning state machine runs it. A payment that covers
the invoice ends the run (``recovered``); running out of steps ends it as ``exhausted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from billow.domain.subscription import format_time, parse_time

DunningRunStatus = Literal["active", "recovered", "exhausted", "stopped"]
DUNNING_ACTIONS = ("retry_payment", "notify", "cancel_subscription", "mark_uncollectible")


@dataclass(frozen=True)
class PlannedStep:
    after_days: int
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {"after_days": self.after_days, "action": self.action}


@dataclass(frozen=True)
class DunningRun:
    id: str  # names the run's events' aggregate and its state machine executions
    policy_id: str | None  # None: the built-in default policy
    steps: tuple[PlannedStep, ...]
    started_at: str  # the first failed payment
    next_step: int = 0  # index of the step to run next
    status: DunningRunStatus = "active"
    last_step_at: str | None = None
    ended_at: str | None = None

    @classmethod
    def start(
        cls, policy_id: str | None, steps: Sequence[tuple[int, str]], failed_at: str, *, run_id: str
    ) -> DunningRun:
        planned = tuple(PlannedStep(days, action) for days, action in steps)
        run = cls(run_id, policy_id, planned, failed_at)
        return run if planned else replace(run, status="exhausted", ended_at=failed_at)

    @property
    def step(self) -> PlannedStep | None:
        if self.status != "active" or self.next_step >= len(self.steps):
            return None
        return self.steps[self.next_step]

    @property
    def next_at(self) -> str | None:
        step = self.step
        if step is None:
            return None
        return format_time(parse_time(self.started_at) + timedelta(days=step.after_days))

    def is_due(self, step_index: int, now: str) -> bool:
        """Whether step ``step_index`` is the next one and its time has come: a repeated or
        late request for a step already run is answered with no change."""
        at = self.next_at
        return step_index == self.next_step and at is not None and at <= now

    def advanced(self, now: str) -> DunningRun:
        """The run after its next step was carried out."""
        after = replace(self, next_step=self.next_step + 1, last_step_at=now)
        return after if after.step is not None else replace(after, status="exhausted", ended_at=now)

    def ended(self, status: DunningRunStatus, now: str) -> DunningRun:
        return replace(self, status=status, ended_at=now) if self.status == "active" else self

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "policy_id": self.policy_id,
            "status": self.status,
            "steps": [step.to_dict() for step in self.steps],
            "next_step": self.next_step if self.step is not None else None,
            "next_step_at": self.next_at,
            "started_at": self.started_at,
            "last_step_at": self.last_step_at,
            "ended_at": self.ended_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DunningRun:
        steps = tuple(PlannedStep(int(s["after_days"]), str(s["action"])) for s in data.get("steps") or ())
        next_step = data.get("next_step")
        return cls(
            id=str(data["id"]),
            policy_id=data.get("policy_id"),
            steps=steps,
            started_at=str(data["started_at"]),
            next_step=int(next_step) if next_step is not None else len(steps),
            status=data.get("status", "active"),
            last_step_at=data.get("last_step_at"),
            ended_at=data.get("ended_at"),
        )
