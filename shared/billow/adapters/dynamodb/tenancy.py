"""Tenants and API keys.

Items: tenant pk = TENANT#{id}, sk = TENANT; API key pk = APIKEY#{sha256}, sk = APIKEY with
gsi1 = TENANT#{tenant}#APIKEYS / {key id} to list a tenant's keys.
"""

from __future__ import annotations

from typing import Any

from billow.adapters.dynamodb.table import DynamoTable, Transaction, TransactionCancelled, without_keys
from billow.domain.errors import ConcurrentModification, Conflict
from billow.domain.tenancy import ApiKey, InvoiceSettings, Tenant


class DynamoTenantRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def get(self, tenant_id: str) -> Tenant | None:
        item = self.table.get(f"TENANT#{tenant_id}", "TENANT")
        if item is None:
            return None
        data = without_keys(item)
        return Tenant(
            id=data["id"],
            name=data["name"],
            timezone=data["timezone"],
            default_currency=data.get("default_currency"),
            created_at=data["created_at"],
            version=int(data["version"]),
            invoicing=InvoiceSettings.from_dict(data.get("invoicing")),
            updated_at=data.get("updated_at"),
        )

    @staticmethod
    def _item(tenant: Tenant) -> dict[str, Any]:
        return {
            "pk": f"TENANT#{tenant.id}",
            "sk": "TENANT",
            "kind": "tenant",
            "id": tenant.id,
            "name": tenant.name,
            "timezone": tenant.timezone,
            "default_currency": tenant.default_currency,
            "created_at": tenant.created_at,
            "updated_at": tenant.updated_at,
            "version": tenant.version,
            "invoicing": tenant.invoicing.to_dict(),
        }

    def add(self, tenant: Tenant) -> None:
        tx = Transaction()
        tx.put("tenant", self.table.name, self._item(tenant), "attribute_not_exists(pk)")
        try:
            self.table.write(tx)
        except TransactionCancelled:
            raise Conflict(detail=f"tenant {tenant.id} already exists") from None

    def save(self, before: Tenant, after: Tenant) -> None:
        """Settings changes, under the read version."""
        tx = Transaction()
        tx.put(
            "tenant",
            self.table.name,
            self._item(after),
            "#version = :expected",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":expected": {"N": str(before.version)}},
        )
        try:
            self.table.write(tx)
        except TransactionCancelled:
            raise ConcurrentModification(detail="the settings were changed concurrently") from None


def _key_from(data: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=data["id"],
        tenant_id=data["tenant_id"],
        livemode=bool(data["livemode"]),
        prefix=data["prefix"],
        key_hash=data["key_hash"],
        name=data.get("name"),
        status=data["status"],
        created_at=data["created_at"],
        revoked_at=data.get("revoked_at"),
    )


class DynamoApiKeyRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def _item(self, key: ApiKey) -> dict[str, Any]:
        return {
            "pk": f"APIKEY#{key.key_hash}",
            "sk": "APIKEY",
            "kind": "api_key",
            "gsi1pk": f"TENANT#{key.tenant_id}#APIKEYS",
            "gsi1sk": key.id,
            "id": key.id,
            "tenant_id": key.tenant_id,
            "livemode": key.livemode,
            "prefix": key.prefix,
            "key_hash": key.key_hash,
            "name": key.name,
            "status": key.status,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
        }

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        item = self.table.get(f"APIKEY#{key_hash}", "APIKEY")
        return _key_from(without_keys(item)) if item else None

    def list_for_tenant(self, tenant_id: str) -> list[ApiKey]:
        items = self.table.query(index="gsi1", partition=f"TENANT#{tenant_id}#APIKEYS")
        return [_key_from(without_keys(item)) for item in items]

    def add(self, key: ApiKey) -> None:
        tx = Transaction()
        tx.put("key", self.table.name, self._item(key), "attribute_not_exists(pk)")
        try:
            self.table.write(tx)
        except TransactionCancelled:
            raise Conflict(detail="an API key with this value already exists") from None

    def save(self, key: ApiKey) -> None:
        tx = Transaction()
        tx.put("key", self.table.name, self._item(key), "attribute_exists(pk)")
        self.table.write(tx)
