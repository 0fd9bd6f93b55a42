"""Payment gateway configuration use cases: create, read, list, change (including new
credentials and the default), per tenant and mode (docs/payments.md).

A tenant has at most one default gateway per mode; the first active gateway becomes it, and
making another the default clears the old one in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from billow.domain.errors import FieldError, InvalidStateTransition, NotFound, ValidationFailed
from billow.domain.events import EventEnvelope
from billow.domain.gateway import (
    PROVIDER_CURRENCIES,
    PROVIDER_METHODS,
    GatewayConfig,
    GatewayMode,
    Provider,
    check_capabilities,
    check_credentials,
    gateway_to_dict,
)
from billow.domain.metadata import merge_metadata
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.credentials import CredentialVault
from billow.ports.ids import IdGenerator
from billow.ports.queries import Page, PageResult
from billow.ports.repositories import GatewayRepository
from billow.services.concurrency import read_decide_write
from billow.services.defaults import default_moved
from billow.services.events import change_event

MUTABLE = frozenset(
    {"name", "supported_currencies", "supported_methods", "credentials", "is_default", "status", "metadata"}
)


@dataclass
class GatewayService:
    gateways: GatewayRepository
    vault: CredentialVault
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, type_: str, gateway: GatewayConfig) -> EventEnvelope:
        return change_event(scope, type_, "payment_gateway", gateway_to_dict(gateway), new_id=self.new_id)

    def _all(self, scope: Scope) -> Iterator[GatewayConfig]:
        page = Page(limit=100)
        while True:
            result = self.gateways.list(scope, page)
            yield from result.items
            if result.next_position is None:
                return
            page = Page(limit=100, after=result.next_position)

    def default(self, scope: Scope) -> GatewayConfig | None:
        return next((g for g in self._all(scope) if g.is_default), None)

    def create(self, scope: Scope, raw: Mapping[str, Any]) -> GatewayConfig:
        provider: Provider = raw["provider"]
        mode: GatewayMode = "live" if scope.livemode else "test"
        if raw.get("mode") not in (None, mode):
            raise ValidationFailed(
                detail=f"a {mode} API key manages {mode} gateways",
                errors=[FieldError("/mode", f"must be {mode} with this API key")],
            )
        if provider == "sandbox" and scope.livemode:
            raise ValidationFailed(
                detail="the sandbox gateway moves no money: it exists in test mode only",
                errors=[FieldError("/provider", "sandbox is for test mode; use stripe or gocardless")],
            )
        credentials: dict[str, str] = dict(raw.get("credentials") or {})
        check_credentials(provider, mode, credentials)
        currencies = tuple(raw.get("supported_currencies") or PROVIDER_CURRENCIES[provider] or ())
        methods = tuple(raw.get("supported_methods") or PROVIDER_METHODS[provider])
        check_capabilities(provider, currencies, methods)
        now = rfc3339(self.clock.now())
        gateway_id = self.new_id()
        current_default = self.default(scope)
        gateway = GatewayConfig(
            id=gateway_id,
            livemode=scope.livemode,
            provider=provider,
            name=raw.get("name") or provider.capitalize(),
            supported_currencies=currencies,
            supported_methods=methods,
            created_at=now,
            updated_at=now,
            is_default=bool(raw.get("is_default")) or current_default is None,
            sealed_credentials=self.vault.seal(scope, gateway_id, credentials) if credentials else None,
            credential_names=tuple(sorted(credentials)),
            credentials_updated_at=now if credentials else None,
            metadata=dict(raw.get("metadata") or {}),
        )
        changes = [(None, gateway), *default_moved(current_default, gateway, now)]
        events = [self._event(scope, "payment_gateway.created", gateway)]
        events += [self._event(scope, "payment_gateway.updated", after) for before, after in changes[1:]]
        self.gateways.save(scope, changes, events)
        return gateway

    def get(self, scope: Scope, gateway_id: str) -> GatewayConfig:
        gateway = self.gateways.get(scope, gateway_id)
        if gateway is None:
            raise NotFound(detail=f"no payment gateway with id {gateway_id}")
        return gateway

    def list(self, scope: Scope, page: Page, provider: str | None) -> PageResult[GatewayConfig]:
        return self.gateways.list(scope, page, provider)

    def credentials(self, scope: Scope, gateway: GatewayConfig) -> dict[str, str]:
        """The opened credentials, for the adapter that calls the gateway (never the API)."""
        if gateway.sealed_credentials is None:
            return {}
        return self.vault.open(scope, gateway.id, gateway.sealed_credentials)

    def update(
        self, scope: Scope, gateway_id: str, raw: Mapping[str, Any], if_match: int | None
    ) -> GatewayConfig:
        unknown = set(raw) - MUTABLE
        if unknown:  # pragma: no cover - the request model allows only MUTABLE
            raise ValueError(f"not mutable: {sorted(unknown)}")
        if raw.get("is_default") is False:
            raise ValidationFailed(
                detail="a tenant always has a default gateway once it has one",
                errors=[FieldError("/is_default", "make another gateway the default instead")],
            )
        now = rfc3339(self.clock.now())

        def decide(before: GatewayConfig) -> GatewayConfig | None:
            changes: dict[str, Any] = {}
            if "name" in raw:
                changes["name"] = raw["name"]
            currencies = tuple(raw.get("supported_currencies") or before.supported_currencies)
            methods = tuple(raw.get("supported_methods") or before.supported_methods)
            check_capabilities(before.provider, currencies, methods)
            changes |= {"supported_currencies": currencies, "supported_methods": methods}
            if "credentials" in raw:
                credentials = dict(raw["credentials"] or {})
                check_credentials(before.provider, before.mode, credentials)
                changes |= {
                    "sealed_credentials": self.vault.seal(scope, before.id, credentials)
                    if credentials
                    else None,
                    "credential_names": tuple(sorted(credentials)),
                    "credentials_updated_at": now,
                }
            if "status" in raw:
                changes["status"] = raw["status"]
                if raw["status"] == "disabled":
                    changes["is_default"] = False
            if raw.get("is_default"):
                if raw.get("status", before.status) == "disabled":
                    raise InvalidStateTransition(
                        detail=f"gateway {before.id} is disabled and cannot be the default"
                    )
                changes["is_default"] = True
            if "metadata" in raw:
                changes["metadata"] = merge_metadata(before.metadata, raw["metadata"])
            if all(getattr(before, name) == value for name, value in changes.items()):
                return None
            return before.touched(now, **changes)

        def write(before: GatewayConfig, after: GatewayConfig) -> None:
            pairs: list[tuple[GatewayConfig | None, GatewayConfig]] = [(before, after)]
            if after.is_default and not before.is_default:
                pairs += default_moved(self.default(scope), after, now)
            events = [self._event(scope, "payment_gateway.updated", changed) for _, changed in pairs]
            self.gateways.save(scope, pairs, events)

        return read_decide_write(
            partial(self.get, scope, gateway_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda gateway: gateway.version,
            what="payment gateway",
        )
