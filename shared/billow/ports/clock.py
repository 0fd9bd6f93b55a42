"""Time is an input: services ask a Clock, never the wall clock directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as API.md writes timestamps: 2026-01-31T00:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
