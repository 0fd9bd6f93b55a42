"""Custom field definitions.

Items: pk = {scope}#CUSTOM_FIELDS, sk = FIELD#{id} (one partition: a tenant has tens, not
millions, and customer writes read them all at once); key guard pk =
{scope}#CUSTOM_FIELD_KEY#{entity_type}#{key}, sk = KEY.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billow.adapters.dynamodb.table import DynamoTable, Transaction, TransactionCancelled, without_keys
from billow.domain.custom_fields import CustomFieldDefinition
from billow.domain.errors import ConcurrentModification, Conflict
from billow.domain.tenancy import Scope


def definition_to_dict(definition: CustomFieldDefinition) -> dict[str, Any]:
    return {
        "id": definition.id,
        "object": "custom_field",
        "livemode": definition.livemode,
        "entity_type": definition.entity_type,
        "key": definition.key,
        "name": definition.name,
        "type": definition.type,
        "required": definition.required,
        "options": list(definition.options),
        "ref_entity_type": definition.ref_entity_type,
        "min_value": None if definition.min_value is None else str(definition.min_value),
        "max_value": None if definition.max_value is None else str(definition.max_value),
        "max_length": definition.max_length,
        "description": definition.description,
        "status": definition.status,
        "created_at": definition.created_at,
        "updated_at": definition.updated_at,
        "version": definition.version,
    }


def definition_from_dict(data: dict[str, Any]) -> CustomFieldDefinition:
    def decimal_or_none(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    return CustomFieldDefinition(
        id=data["id"],
        livemode=bool(data["livemode"]),
        entity_type=data["entity_type"],
        key=data["key"],
        name=data["name"],
        type=data["type"],
        required=bool(data["required"]),
        options=tuple(data.get("options") or ()),
        ref_entity_type=data.get("ref_entity_type"),
        min_value=decimal_or_none(data.get("min_value")),
        max_value=decimal_or_none(data.get("max_value")),
        max_length=None if data.get("max_length") is None else int(data["max_length"]),
        description=data.get("description"),
        status=data.get("status", "active"),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=int(data["version"]),
    )


class DynamoCustomFieldRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def get(self, scope: Scope, field_id: str) -> CustomFieldDefinition | None:
        item = self.table.get(f"{scope.key_prefix}#CUSTOM_FIELDS", f"FIELD#{field_id}")
        return definition_from_dict(without_keys(item)) if item else None

    def list(self, scope: Scope, entity_type: str | None = None) -> list[CustomFieldDefinition]:
        items = self.table.query(index=None, partition=f"{scope.key_prefix}#CUSTOM_FIELDS", newest_first=True)
        definitions = [definition_from_dict(without_keys(item)) for item in items]
        return [d for d in definitions if entity_type is None or d.entity_type == entity_type]

    def _item(self, scope: Scope, definition: CustomFieldDefinition) -> dict[str, Any]:
        return {
            "pk": f"{scope.key_prefix}#CUSTOM_FIELDS",
            "sk": f"FIELD#{definition.id}",
            "kind": "custom_field",
            **definition_to_dict(definition),
        }

    def add(self, scope: Scope, definition: CustomFieldDefinition) -> None:
        tx = Transaction()
        tx.put("field", self.table.name, self._item(scope, definition), "attribute_not_exists(pk)")
        tx.put(
            "key",
            self.table.name,
            {
                "pk": f"{scope.key_prefix}#CUSTOM_FIELD_KEY#{definition.entity_type}#{definition.key}",
                "sk": "KEY",
                "kind": "custom_field_key",
                "field_id": definition.id,
            },
            "attribute_not_exists(pk)",
        )
        try:
            self.table.write(tx)
        except TransactionCancelled as cancelled:
            if "key" in tx.failed_labels(cancelled):
                raise Conflict(
                    detail=f"a custom field '{definition.key}' already exists for {definition.entity_type}"
                ) from None
            raise ConcurrentModification(detail="the custom field could not be created; retry") from None

    def update(self, scope: Scope, before: CustomFieldDefinition, after: CustomFieldDefinition) -> None:
        tx = Transaction()
        tx.put(
            "field",
            self.table.name,
            self._item(scope, after),
            "#version = :expected",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":expected": {"N": str(before.version)}},
        )
        try:
            self.table.write(tx)
        except TransactionCancelled:
            raise ConcurrentModification(detail="the custom field was changed concurrently") from None
