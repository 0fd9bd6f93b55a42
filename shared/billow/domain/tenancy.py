"""Tenants, their API keys, and the scope every read and write runs in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Literal

from billow.domain.errors import InvalidStateTransition

SANDBOX_PREFIX = "bk_test_"
LIVE_PREFIX = "bk_live_"


@dataclass(frozen=True)
class Scope:
    """A tenant in one mode. Sandbox and live data never mix, so the mode is part of the scope."""

    tenant_id: str
    livemode: bool

    @property
    def key_prefix(self) -> str:
        return f"T#{self.tenant_id}#{'live' if self.livemode else 'test'}"


@dataclass(frozen=True)
class InvoiceSettings:
    """How a tenant's invoices are numbered, when they are due and how long drafts wait."""

    invoice_number_format: str = "INV-{YYYY}-{SEQ:06}"
    credit_note_number_format: str = "CN-{YYYY}-{SEQ:06}"
    # Default payment terms of invoices whose subscription or request names none.
    payment_terms_days: int = 0
    # Days an automatic draft waits before it is finalized (edits and refreshes meanwhile).
    invoice_grace_period_days: int = 0
    # How invoice and credit-note PDFs look (docs/documents.md): colours as #RRGGBB, a PNG
    # logo (base64, at most 100 KB), a footer line, and whether invoice PDFs are PDF/A-3b with
    # their CII XML inside (ZUGFeRD / Factur-X).
    branding: DocumentBranding = field(default_factory=lambda: DocumentBranding())
    embed_einvoice_in_pdf: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "invoice_number_format": self.invoice_number_format,
            "credit_note_number_format": self.credit_note_number_format,
            "payment_terms_days": self.payment_terms_days,
            "invoice_grace_period_days": self.invoice_grace_period_days,
            "branding": self.branding.to_dict(),
            "embed_einvoice_in_pdf": self.embed_einvoice_in_pdf,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> InvoiceSettings:
        data = data or {}
        default = cls()
        return cls(
            invoice_number_format=str(data.get("invoice_number_format") or default.invoice_number_format),
            credit_note_number_format=str(
                data.get("credit_note_number_format") or default.credit_note_number_format
            ),
            payment_terms_days=int(str(data.get("payment_terms_days") or 0)),
            invoice_grace_period_days=int(str(data.get("invoice_grace_period_days") or 0)),
            branding=DocumentBranding.from_dict(data.get("branding")),
            embed_einvoice_in_pdf=bool(data.get("embed_einvoice_in_pdf", False)),
        )


@dataclass(frozen=True)
class DocumentBranding:
    primary_color: str = "#1F2937"
    accent_color: str = "#2563EB"
    footer_text: str | None = None
    logo_png: str | None = None  # base64

    def to_dict(self) -> dict[str, object]:
        return {
            "primary_color": self.primary_color,
            "accent_color": self.accent_color,
            "footer_text": self.footer_text,
            "logo_png": self.logo_png,
        }

    @classmethod
    def from_dict(cls, data: object) -> DocumentBranding:
        if not isinstance(data, dict):
            return cls()
        default = cls()
        return cls(
            primary_color=str(data.get("primary_color") or default.primary_color),
            accent_color=str(data.get("accent_color") or default.accent_color),
            footer_text=str(data["footer_text"]) if data.get("footer_text") else None,
            logo_png=str(data["logo_png"]) if data.get("logo_png") else None,
        )


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    timezone: str
    default_currency: str | None
    created_at: str
    version: int = 1
    invoicing: InvoiceSettings = InvoiceSettings()
    updated_at: str | None = None


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant_id: str
    livemode: bool
    prefix: str
    key_hash: str
    name: str | None
    status: Literal["active", "revoked"]
    created_at: str
    revoked_at: str | None = None

    @property
    def scope(self) -> Scope:
        return Scope(self.tenant_id, self.livemode)

    def revoke(self, now: str) -> ApiKey:
        if self.status == "revoked":
            raise InvalidStateTransition(detail=f"API key {self.id} is already revoked")
        return replace(self, status="revoked", revoked_at=now)


def hash_api_key(secret: str) -> str:
    """Keys are stored as SHA-256 digests: a leaked table does not leak usable keys."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_api_key_format(secret: str) -> bool:
    return secret.startswith((SANDBOX_PREFIX, LIVE_PREFIX)) and 24 <= len(secret) <= 128


def display_prefix(secret: str) -> str:
    """What a key list shows: the mode prefix and the first few characters."""
    return secret[: len(SANDBOX_PREFIX) + 6]
