"""/v1/settings: the tenant's invoicing settings (number formats, payment terms, grace period)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from billow.domain.errors import FieldError, NotFound, ValidationFailed
from billow.domain.money import is_currency
from billow.domain.numbering import format_problem
from billow.domain.tenancy import Scope, Tenant
from billow.ports.clock import Clock, rfc3339
from billow.ports.repositories import TenantRepository
from billow.services.concurrency import read_decide_write


def settings_to_dict(tenant: Tenant) -> dict[str, Any]:
    return {
        "object": "settings",
        "tenant_id": tenant.id,
        "name": tenant.name,
        "timezone": tenant.timezone,
        "default_currency": tenant.default_currency,
        **tenant.invoicing.to_dict(),
        "updated_at": tenant.updated_at or tenant.created_at,
        "version": tenant.version,
    }


MAX_LOGO_BYTES = 100 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def logo_problem(encoded: str) -> str | None:
    """Why a logo cannot go on documents, or None: base64 of a PNG of at most 100 KB."""
    import base64
    import binascii

    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return "must be base64"
    if not data.startswith(PNG_SIGNATURE):
        return "must be a PNG image"
    if len(data) > MAX_LOGO_BYTES:
        return f"must be at most {MAX_LOGO_BYTES // 1024} KB"
    return None


@dataclass
class SettingsService:
    tenants: TenantRepository
    clock: Clock

    def get(self, scope: Scope) -> Tenant:
        tenant = self.tenants.get(scope.tenant_id)
        if tenant is None:  # pragma: no cover - a scope always has its tenant
            raise NotFound(detail="unknown tenant")
        return tenant

    def update(self, scope: Scope, raw: Mapping[str, Any], if_match: int | None) -> Tenant:
        from zoneinfo import available_timezones

        errors = [
            FieldError(f"/{name}", problem)
            for name in ("invoice_number_format", "credit_note_number_format")
            if name in raw and (problem := format_problem(str(raw[name]))) is not None
        ]
        # As when the tenant is created: an unknown zone would fail every later billing date.
        if "timezone" in raw and raw["timezone"] not in available_timezones():
            errors.append(FieldError("/timezone", f"'{raw['timezone']}' is not an IANA time zone"))
        if raw.get("default_currency") is not None and not is_currency(str(raw["default_currency"])):
            errors.append(
                FieldError(
                    "/default_currency", f"'{raw['default_currency']}' is not an ISO 4217 currency code"
                )
            )
        branding_changes = dict(raw.get("branding") or {})
        if branding_changes.get("logo_png") is not None:
            problem = logo_problem(str(branding_changes["logo_png"]))
            if problem:
                errors.append(FieldError("/branding/logo_png", problem))
        if errors:
            raise ValidationFailed(detail="the settings are invalid", errors=errors)
        invoicing: dict[str, Any] = {
            k: v
            for k, v in raw.items()
            if k
            in (
                "invoice_number_format",
                "credit_note_number_format",
                "payment_terms_days",
                "invoice_grace_period_days",
                "embed_einvoice_in_pdf",
            )
        }

        def decide(tenant: Tenant) -> Tenant | None:
            changes = dict(invoicing)
            if branding_changes:
                changes["branding"] = replace(tenant.invoicing.branding, **branding_changes)
            settings = replace(tenant.invoicing, **changes)
            fields = {k: raw[k] for k in ("timezone", "default_currency") if k in raw}
            if settings == tenant.invoicing and all(getattr(tenant, k) == v for k, v in fields.items()):
                return None
            now = rfc3339(self.clock.now())
            return replace(tenant, invoicing=settings, updated_at=now, version=tenant.version + 1, **fields)

        return read_decide_write(
            lambda: self.get(scope),
            decide,
            self.tenants.save,
            if_match=if_match,
            version_of=lambda t: t.version,
            what="settings",
        )
