"""``run_due_work(now)``: the one entry point for everything time brings (DESIGN.md).

An EventBridge schedule calls it with the real time, the local ticker does the same, and a
test clock's advance calls it with the clock's target time. It takes subscriptions from the
due-time index earliest first and runs their steps one by one, each at its own due time, so
a clock moved by fourteen months sees fourteen renewals in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from billow.domain.errors import BillowError
from billow.domain.tenancy import Scope
from billow.ports.clock import rfc3339
from billow.ports.repositories import SubscriptionRepository
from billow.services.subscriptions import SubscriptionService

logger = Logger(service="billow")
BATCH = 25


@dataclass(frozen=True)
class DueWorkReport:
    steps: int
    failed: int
    complete: bool

    def as_dict(self) -> dict[str, int | bool]:
        return {"steps": self.steps, "failed": self.failed, "complete": self.complete}


@dataclass
class DueWorkService:
    subscriptions: SubscriptionRepository
    subscription_steps: SubscriptionService

    def run_due_work(
        self, now: datetime, *, clock: tuple[Scope, str] | None = None, max_steps: int = 10_000
    ) -> DueWorkReport:
        """Run every step due by ``now`` (in real time, or within one test clock).

        With a test clock the steps of all its subscriptions interleave strictly by due time;
        in real time each subscription catches up in order and subscriptions run side by side.
        A step that fails is logged and skipped for this run, so one broken subscription never
        holds back the others; it is retried on the next run.
        """
        bound = rfc3339(now)
        steps = failed = 0
        skipped: set[str] = set()
        while steps < max_steps:
            # Ask for enough entries to see past the subscriptions skipped in this run.
            limit = len(skipped) + (1 if clock else BATCH)
            entries = [
                e
                for e in self.subscriptions.due(bound, clock=clock, limit=limit)
                if e.subscription_id not in skipped
            ]
            if clock:
                entries = entries[:1]  # strictly in due-time order across the clock's subscriptions
            if not entries:
                return DueWorkReport(steps, failed, complete=True)
            for entry in entries:
                try:
                    self.subscription_steps.run_step(entry.scope, entry.subscription_id, bound, None)
                except Exception as error:
                    failed += 1
                    skipped.add(entry.subscription_id)
                    logger.exception(
                        "a due step failed",
                        extra={
                            "subscription_id": entry.subscription_id,
                            "tenant_id": entry.scope.tenant_id,
                            "due_at": entry.due_at,
                            "code": error.code if isinstance(error, BillowError) else "internal_error",
                            "detail": error.detail
                            if isinstance(error, BillowError)
                            else type(error).__name__,
                        },
                    )
                steps += 1
        return DueWorkReport(steps, failed, complete=False)
