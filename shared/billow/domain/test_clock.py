"""Test clocks: a sandbox time that only moves when asked, for simulating months in seconds.

Customers and subscriptions bound to a clock live in its time; advancing the clock runs every
step that falls due on the way, in time order, through the same due-work path as real time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from billow.domain.errors import InvalidStateTransition, validation_failed

# The furthest one advance may move a clock: enough for multi-year plans, bounded work.
MAX_ADVANCE_DAYS = 5 * 366


@dataclass(frozen=True)
class TestClock:
    __test__ = False  # not a pytest test class

    id: str
    name: str | None
    frozen_time: str
    created_at: str
    updated_at: str
    status: Literal["ready", "advancing"] = "ready"
    advancing_to: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    def begin_advance(self, to: str, now: str) -> TestClock:
        """Mark the clock as moving to ``to``; repeating the same advance resumes it."""
        if self.status == "advancing":
            if self.advancing_to == to:
                return self
            raise InvalidStateTransition(
                detail=f"test clock {self.id} is already advancing to {self.advancing_to}"
            )
        if to <= self.frozen_time:
            raise validation_failed("/to", f"must be after the clock's time {self.frozen_time}")
        return replace(self, status="advancing", advancing_to=to, updated_at=now, version=self.version + 1)

    def finish_advance(self, now: str) -> TestClock:
        if self.status != "advancing" or self.advancing_to is None:
            raise InvalidStateTransition(detail=f"test clock {self.id} is not advancing")
        return replace(
            self,
            status="ready",
            frozen_time=self.advancing_to,
            advancing_to=None,
            updated_at=now,
            version=self.version + 1,
        )


def clock_to_dict(clock: TestClock) -> dict[str, Any]:
    return {
        "id": clock.id,
        "object": "test_clock",
        "livemode": False,
        "name": clock.name,
        "frozen_time": clock.frozen_time,
        "status": clock.status,
        "advancing_to": clock.advancing_to,
        "metadata": dict(clock.metadata),
        "created_at": clock.created_at,
        "updated_at": clock.updated_at,
        "version": clock.version,
    }


def clock_from_dict(data: Mapping[str, Any]) -> TestClock:
    return TestClock(
        id=data["id"],
        name=data.get("name"),
        frozen_time=data["frozen_time"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        status=data.get("status", "ready"),
        advancing_to=data.get("advancing_to"),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version", 1)),
    )
