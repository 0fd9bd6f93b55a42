"""Moving committed events from the outbox to the event bus (at least once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from billow.ports.clock import Clock, rfc3339


class EventPublisher(Protocol):
    def publish(self, envelopes: Sequence[dict[str, Any]]) -> set[str]: ...


class Outbox(Protocol):
    def pending(self, limit_per_shard: int = 100) -> list[dict[str, Any]]: ...

    def mark_published(self, pk: str, published_at: str) -> None: ...


@dataclass(frozen=True)
class RelayResult:
    published: int
    failed: list[str]


@dataclass
class OutboxRelay:
    outbox: Outbox
    publisher: EventPublisher
    clock: Clock
    # The stream publishes within seconds; the sweep leaves it that long to avoid duplicates.
    sweep_min_age: timedelta = timedelta(seconds=30)

    def publish_items(self, items: Sequence[dict[str, Any]]) -> RelayResult:
        # The bus carries the envelope and, for Billow's own consumers (webhook fan-out), the
        # tenant it belongs to; webhooks send the envelope alone.
        envelopes = [{**item["envelope"], "tenant_id": item["tenant_id"]} for item in items]
        failed = self.publisher.publish(envelopes)
        now = rfc3339(self.clock.now())
        for item in items:
            if item["envelope"]["id"] not in failed:
                self.outbox.mark_published(item["pk"], now)
        return RelayResult(published=len(items) - len(failed), failed=sorted(failed))

    def sweep(self) -> RelayResult:
        """Publish what the stream path has not (a safety net, and the only path locally)."""
        cutoff = rfc3339(self.clock.now() - self.sweep_min_age)
        due = [item for item in self.outbox.pending() if item["envelope"]["created_at"] <= cutoff]
        return self.publish_items(due) if due else RelayResult(published=0, failed=[])
