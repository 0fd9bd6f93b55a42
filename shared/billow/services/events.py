"""Stamping domain events into envelopes when a change is about to commit."""

from __future__ import annotations

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
