"""The real clock and id generator."""

from __future__ import annotations

from datetime import UTC, datetime

from uuid6 import uuid7


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def new_id() -> str:
    return str(uuid7())
