"""Stamping domain events into envelopes when a change is about to commit."""

from __future__ import annotations

from typing import Any

from billow.domain.events import DomainEvent, EventEnvelope
from billow.domain.tenancy import Scope
from billow.ports.ids import IdGenerator


def envelope(
    scope: Scope, event: DomainEvent, *, sequence: int, created_at: str, new_id: IdGenerator
) -> EventEnvelope:
    return EventEnvelope(
        id=new_id(),
        type=event.type,
        created_at=created_at,
        livemode=scope.livemode,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        sequence=sequence,
        data=event.data,
    )


def change_event(
    scope: Scope, type_: str, aggregate_type: str, data: dict[str, Any], *, new_id: IdGenerator
) -> EventEnvelope:
    """The event for a change of a versioned object, given its public representation after
    the change: one event per version, so the aggregate's sequence is its version."""
    return envelope(
        scope,
        DomainEvent(type_, aggregate_type, data["id"], data),
        sequence=int(data["version"]),
        created_at=data["updated_at"],
        new_id=new_id,
    )
