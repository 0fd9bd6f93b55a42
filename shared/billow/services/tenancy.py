"""Tenants and API keys: create a tenant, issue and revoke keys, authenticate a request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from billow.domain.errors import NotFound, Unauthenticated, validation_failed
from billow.domain.money import parse_currency
from billow.domain.tenancy import (
    LIVE_PREFIX,
    SANDBOX_PREFIX,
    ApiKey,
    Tenant,
    display_prefix,
    hash_api_key,
    is_api_key_format,
)
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator

if TYPE_CHECKING:
    from billow.ports.repositories import ApiKeyRepository, TenantRepository


@dataclass(frozen=True)
class IssuedKey:
    """A newly issued key: the secret is shown once and never stored."""

    key: ApiKey
    secret: str


@dataclass
class TenancyService:
    tenants: TenantRepository
    api_keys: ApiKeyRepository
    clock: Clock
    new_id: IdGenerator

    def create_tenant(
        self,
        name: str,
        timezone: str = "UTC",
        default_currency: str | None = None,
        tenant_id: str | None = None,
    ) -> Tenant:
        from zoneinfo import available_timezones

        if not name.strip():
            raise validation_failed("/name", "must not be empty")
        if timezone not in available_timezones():
            raise validation_failed("/timezone", f"'{timezone}' is not an IANA time zone")
        tenant = Tenant(
            id=tenant_id or self.new_id(),
            name=name.strip(),
            timezone=timezone,
            default_currency=parse_currency(default_currency) if default_currency else None,
            created_at=rfc3339(self.clock.now()),
        )
        self.tenants.add(tenant)
        return tenant

    def issue_api_key(
        self, tenant_id: str, *, livemode: bool, name: str | None = None, secret: str | None = None
    ) -> IssuedKey:
        """Issue a key. ``secret`` fixes its value (the local stack's BILLOW_DEV_API_KEY)."""
        if self.tenants.get(tenant_id) is None:
            raise NotFound(detail=f"no tenant with id {tenant_id}")
        prefix = LIVE_PREFIX if livemode else SANDBOX_PREFIX
        if secret is None:
            secret = prefix + secrets.token_urlsafe(32)
        elif not secret.startswith(prefix) or not is_api_key_format(secret):
            raise validation_failed(
                "/secret", f"a {'live' if livemode else 'sandbox'} key must start with {prefix}"
            )
        key = ApiKey(
            id=self.new_id(),
            tenant_id=tenant_id,
            livemode=livemode,
            prefix=display_prefix(secret),
            key_hash=hash_api_key(secret),
            name=name,
            status="active",
            created_at=rfc3339(self.clock.now()),
        )
        self.api_keys.add(key)
        return IssuedKey(key=key, secret=secret)

    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        return self.api_keys.list_for_tenant(tenant_id)

    def revoke_api_key(self, tenant_id: str, key_id: str) -> ApiKey:
        for key in self.api_keys.list_for_tenant(tenant_id):
            if key.id == key_id:
                revoked = key.revoke(rfc3339(self.clock.now()))
                self.api_keys.save(revoked)
                return revoked
        raise NotFound(detail=f"no API key with id {key_id}")

    def authenticate(self, secret: str) -> ApiKey:
        if not is_api_key_format(secret):
            raise Unauthenticated(detail="the API key is missing or malformed")
        key = self.api_keys.get_by_hash(hash_api_key(secret))
        if key is None or key.status != "active":
            raise Unauthenticated(detail="the API key is unknown or revoked")
        return key
