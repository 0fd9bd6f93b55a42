"""Domain events: what happened to which aggregate. The outbox stores them with the change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DomainEvent:
    type: str
    aggregate_type: str
    aggregate_id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class EventEnvelope:
    """The wire form of API.md's webhook envelope, fixed when the change commits."""

    id: str
    type: str
    created_at: str
    livemode: bool
    aggregate_type: str
    aggregate_id: str
    sequence: int
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "event",
            "type": self.type,
            "created_at": self.created_at,
            "livemode": self.livemode,
            "data": {"object": self.data},
            "aggregate": {"type": self.aggregate_type, "id": self.aggregate_id, "sequence": self.sequence},
        }
