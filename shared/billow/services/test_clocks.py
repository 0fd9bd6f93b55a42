"""Test clock use cases: create a frozen sandbox time, and advance it through due work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from billow.domain.errors import Forbidden, NotFound, validation_failed
from billow.domain.subscription import format_time, parse_time
from billow.domain.tenancy import Scope
from billow.domain.test_clock import MAX_ADVANCE_DAYS, TestClock, clock_to_dict
from billow.ports.billing_cycle import BillingCycleRunner
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import Page, PageResult, TestClockRepository
from billow.services.concurrency import read_decide_write
from billow.services.events import change_event


def _sandbox_only(scope: Scope) -> None:
    if scope.livemode:
        raise Forbidden(detail="test clocks exist only for sandbox keys (bk_test_…)")


def _moment(value: str, pointer: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise validation_failed(pointer, f"'{value}' is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise validation_failed(pointer, "needs a time zone offset, e.g. 2026-01-31T00:00:00Z")
    return moment


@dataclass
class TestClockService:
    __test__ = False

    clocks: TestClockRepository
    billing_cycle: BillingCycleRunner
    clock: Clock
    new_id: IdGenerator
    # How long an advance waits for its run before answering "advancing" (the client polls).
    wait_seconds: float = 20.0

    def create(self, scope: Scope, raw: dict[str, Any]) -> TestClock:
        _sandbox_only(scope)
        frozen = format_time(_moment(raw["frozen_time"], "/frozen_time"))
        now = rfc3339(self.clock.now())
        clock = TestClock(
            id=self.new_id(),
            name=raw.get("name"),
            frozen_time=frozen,
            created_at=now,
            updated_at=now,
            metadata=dict(raw.get("metadata") or {}),
        )
        self.clocks.save(scope, None, clock, [self._event(scope, "test_clock.created", clock)])
        return clock

    def get(self, scope: Scope, clock_id: str) -> TestClock:
        _sandbox_only(scope)
        clock = self.clocks.get(scope, clock_id)
        if clock is None:
            raise NotFound(detail=f"no test clock with id {clock_id}")
        return clock

    def list(self, scope: Scope, page: Page) -> PageResult[TestClock]:
        _sandbox_only(scope)
        return self.clocks.list(scope, page)

    def advance(self, scope: Scope, clock_id: str, raw: dict[str, Any], if_match: int | None) -> TestClock:
        """Move the clock to ``to``, running every step that falls due on the way, in order.

        The clock is marked ``advancing`` first, so a second advance cannot interleave; if a
        run stops half-way (a crash, the step limit), repeating the same advance resumes it.
        """
        to = _moment(raw["to"], "/to")
        current = self.get(scope, clock_id)
        if (to - parse_time(current.frozen_time)).days > MAX_ADVANCE_DAYS:
            raise validation_failed("/to", f"a clock moves at most {MAX_ADVANCE_DAYS} days per advance")
        target = format_time(to)

        def write(before: TestClock, after: TestClock, event: str | None) -> None:
            self.clocks.save(scope, before, after, [self._event(scope, event, after)] if event else [])

        read = partial(self.get, scope, clock_id)
        advancing: TestClock = read_decide_write(
            read,
            lambda c: (
                None
                if c.status == "advancing" and c.advancing_to == target
                else c.begin_advance(target, rfc3339(self.clock.now()))
            ),
            lambda before, after: write(before, after, "test_clock.advancing"),
            if_match=if_match,
            version_of=lambda c: c.version,
            what="test clock",
        )
        # Everything due on the way runs through the billing cycle; its last step marks the
        # clock ready. A repeated advance to the same time joins the same run.
        run = self.billing_cycle.start(
            target, (scope, clock_id), name=f"clock-{clock_id}-v{advancing.version}"
        )
        self.billing_cycle.wait(run, self.wait_seconds)
        return self.get(scope, clock_id)

    def finish_advance(self, scope: Scope, clock_id: str, target: str) -> TestClock:
        """The billing cycle's last step for a clock: it stands at ``target`` and is ready."""

        def finish(clock: TestClock) -> TestClock | None:
            if clock.status != "advancing" or clock.advancing_to != target:
                return None  # finished already, or another advance took over
            return clock.finish_advance(rfc3339(self.clock.now()))

        return read_decide_write(
            partial(self.get, scope, clock_id),
            finish,
            lambda before, after: self.clocks.save(
                scope, before, after, [self._event(scope, "test_clock.advanced", after)]
            ),
            if_match=None,
            version_of=lambda c: c.version,
            what="test clock",
        )

    def _event(self, scope: Scope, type_: str, clock: TestClock) -> Any:
        return change_event(scope, type_, "test_clock", clock_to_dict(clock), new_id=self.new_id)
