"""Custom field definitions: define, read, list, rename, archive."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from billow.domain.custom_fields import CustomFieldDefinition, check_definition
from billow.domain.errors import ConcurrentModification, NotFound, PreconditionFailed
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import CustomFieldRepository
from billow.services.concurrency import require_version

# Only what does not change the meaning of stored values may be edited after creation.
EDITABLE = frozenset({"name", "description", "required", "options"})


@dataclass
class CustomFieldService:
    fields: CustomFieldRepository
    clock: Clock
    new_id: IdGenerator

    def define(self, scope: Scope, raw: dict[str, Any]) -> CustomFieldDefinition:
        now = rfc3339(self.clock.now())
        definition = CustomFieldDefinition(
            id=self.new_id(),
            livemode=scope.livemode,
            entity_type=raw["entity_type"],
            key=raw["key"],
            name=raw["name"],
            type=raw["type"],
            required=bool(raw.get("required", False)),
            options=tuple(raw.get("options") or ()),
            ref_entity_type=raw.get("ref_entity_type"),
            min_value=None if raw.get("min_value") is None else Decimal(raw["min_value"]),
            max_value=None if raw.get("max_value") is None else Decimal(raw["max_value"]),
            max_length=raw.get("max_length"),
            description=raw.get("description"),
            status="active",
            created_at=now,
            updated_at=now,
            version=1,
        )
        check_definition(definition)
        self.fields.add(scope, definition)
        return definition

    def get(self, scope: Scope, field_id: str) -> CustomFieldDefinition:
        definition = self.fields.get(scope, field_id)
        if definition is None:
            raise NotFound(detail=f"no custom field with id {field_id}")
        return definition

    def list(self, scope: Scope, entity_type: str | None) -> list[CustomFieldDefinition]:
        return self.fields.list(scope, entity_type)

    def update(
        self, scope: Scope, field_id: str, raw: dict[str, Any], if_match: int | None
    ) -> CustomFieldDefinition:
        before = self.get(scope, field_id)
        require_version(if_match, before.version)
        changes = {k: v for k, v in raw.items() if k in EDITABLE}
        if "options" in changes:
            changes["options"] = tuple(changes["options"] or ())
            removed = set(before.options) - set(changes["options"])
            if removed:
                # Stored values must stay valid: options can be added, never taken away.
                from billow.domain.errors import validation_failed

                raise validation_failed(
                    "/options", f"options cannot be removed: {', '.join(sorted(removed))}"
                )
        after = replace(before, **changes, updated_at=rfc3339(self.clock.now()), version=before.version + 1)
        check_definition(after)
        try:
            self.fields.update(scope, before, after)
        except ConcurrentModification:
            raise PreconditionFailed(
                detail="the custom field changed concurrently; read it and retry"
            ) from None
        return after

    def archive(self, scope: Scope, field_id: str) -> CustomFieldDefinition:
        before = self.get(scope, field_id)
        after = before.archive(rfc3339(self.clock.now()))
        self.fields.update(scope, before, after)
        return after
