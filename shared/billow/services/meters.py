"""Meter use cases: create, read, list, change, archive and unarchive (docs/usage.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from billow.domain.errors import FieldError, NotFound, ValidationFailed
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.meter import MUTABLE_FIELDS, Meter, check_meter_fields, meter_to_dict
from billow.domain.meter import MeterFilter as EventFilter
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import MeterFilter, MeterRepository, Page, PageResult
from billow.services.concurrency import read_decide_write
from billow.services.events import change_event


def _matches(filters: MeterFilter, meter: Meter) -> bool:
    """The listing filter's rules, for one meter in hand."""
    return (filters.aggregation is None or meter.aggregation == filters.aggregation) and (
        filters.status is None or meter.status == filters.status
    )


@dataclass
class MeterService:
    meters: MeterRepository
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, type_: str, meter: Meter) -> EventEnvelope:
        return change_event(scope, type_, "meter", meter_to_dict(meter), new_id=self.new_id)

    def create(self, scope: Scope, raw: dict[str, Any]) -> Meter:
        fields = {
            **raw,
            "filters": tuple(EventFilter.from_dict(f) for f in raw.get("filters") or ()),
            "group_by": tuple(raw.get("group_by") or ()),
        }
        check_meter_fields(fields)
        now = rfc3339(self.clock.now())
        meter = Meter(id=self.new_id(), livemode=scope.livemode, created_at=now, updated_at=now, **fields)
        self.meters.save(scope, None, meter, [self._event(scope, "meter.created", meter)])
        return meter

    def get(self, scope: Scope, meter_id: str) -> Meter:
        meter = self.meters.get(scope, meter_id)
        if meter is None:
            raise NotFound(detail=f"no meter with id {meter_id}")
        return meter

    def get_by_code(self, scope: Scope, code: str) -> Meter:
        meter = self.meters.get_by_code(scope, code)
        if meter is None:
            raise NotFound(detail=f"no meter with code {code}")
        return meter

    def list(self, scope: Scope, filters: MeterFilter, page: Page, code: str | None) -> PageResult[Meter]:
        if code is not None:
            found = self.meters.get_by_code(scope, code)
            if found is None or page.after is not None or not _matches(filters, found):
                return PageResult(items=[], next_position=None)
            return PageResult(items=[found], next_position=None)
        return self.meters.list(scope, filters, page)

    def _change(
        self, scope: Scope, meter_id: str, if_match: int | None, decide: Callable[[Meter], Meter | None]
    ) -> Meter:
        def write(before: Meter, after: Meter) -> None:
            self.meters.save(scope, before, after, [self._event(scope, "meter.updated", after)])

        return read_decide_write(
            partial(self.get, scope, meter_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda meter: meter.version,
            what="meter",
        )

    def update(self, scope: Scope, meter_id: str, raw: dict[str, Any], if_match: int | None) -> Meter:
        """Only the name, description, late-event policy and metadata change; the aggregation
        is fixed once created."""
        changes = dict(raw)
        fixed = sorted(set(changes) - MUTABLE_FIELDS)
        if fixed:
            errors = [FieldError(f"/{name}", "cannot be changed once the meter exists") for name in fixed]
            raise ValidationFailed(detail="some fields are fixed once created", errors=errors)
        check_meter_fields(changes)

        def decide(before: Meter) -> Meter | None:
            applied = dict(changes)
            if "metadata" in applied:
                applied["metadata"] = merge_metadata(before.metadata, applied["metadata"])
            after = before.with_changes(applied, rfc3339(self.clock.now()))
            unchanged = meter_to_dict(after) | {"version": before.version, "updated_at": before.updated_at}
            return None if unchanged == meter_to_dict(before) else after

        return self._change(scope, meter_id, if_match, decide)

    def archive(self, scope: Scope, meter_id: str, if_match: int | None) -> Meter:
        return self._change(scope, meter_id, if_match, lambda m: m.archive(rfc3339(self.clock.now())))

    def unarchive(self, scope: Scope, meter_id: str, if_match: int | None) -> Meter:
        return self._change(scope, meter_id, if_match, lambda m: m.unarchive(rfc3339(self.clock.now())))
