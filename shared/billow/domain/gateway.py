"""Payment gateway configurations: which provider collects a tenant's payments, with which
credentials, for which currencies and payment methods.

Credentials are write-only. They are checked here for shape (a Stripe secret key's mode must
be the gateway's mode), sealed by the credential vault before anything is stored, and never
part of the API form, an event or a log line: the object only says which of them are set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from billow.domain.errors import FieldError, ValidationFailed
from billow.domain.money import is_currency

Provider = Literal["stripe", "gocardless", "sandbox"]
GatewayMode = Literal["test", "live"]
PROVIDERS: tuple[Provider, ...] = ("stripe", "gocardless", "sandbox")

# What each provider can do; a configuration may narrow it, never widen it. GoCardless
# collects bank debits in the currency of each debit scheme (Bacs GBP, SEPA EUR, ACH USD, ...).
PROVIDER_METHODS: dict[Provider, tuple[str, ...]] = {
    "stripe": ("card", "sepa_debit"),
    "gocardless": (
        "sepa_debit",
        "bacs_debit",
        "ach_debit",
        "becs_debit",
        "autogiro",
        "betalingsservice",
        "pad",
    ),
    "sandbox": ("card", "sepa_debit"),
}
PROVIDER_CURRENCIES: dict[Provider, tuple[str, ...] | None] = {
    "stripe": None,  # any currency Stripe settles; the gateway refuses the rest at charge time
    "gocardless": ("AUD", "CAD", "DKK", "EUR", "GBP", "NZD", "SEK", "USD"),
    "sandbox": None,
}

_STRIPE_KEY = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9]{8,247}")
_STRIPE_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{8,247}")
_GOCARDLESS_TOKEN = re.compile(r"(sandbox|live)_[A-Za-z0-9_-]{8,247}")
_WEBHOOK_SECRET = re.compile(r"[\x21-\x7e]{8,256}")

# The credentials each provider takes: name → required.
CREDENTIAL_FIELDS: dict[Provider, dict[str, bool]] = {
    "stripe": {"secret_key": True, "webhook_secret": False},
    "gocardless": {"access_token": True, "webhook_secret": False},
    "sandbox": {},
}


def check_credentials(provider: Provider, mode: GatewayMode, credentials: Mapping[str, str]) -> None:
    """Refuse credentials of the wrong shape or mode. Messages never repeat a value."""
    fields = CREDENTIAL_FIELDS[provider]
    errors = [
        FieldError(
            f"/credentials/{name}", f"is not a {provider} credential; it takes {sorted(fields) or 'none'}"
        )
        for name in credentials
        if name not in fields
    ]
    errors += [
        FieldError(f"/credentials/{name}", "is required")
        for name, required in fields.items()
        if required and not credentials.get(name)
    ]
    secret_key = credentials.get("secret_key")
    if provider == "stripe" and secret_key:
        match = _STRIPE_KEY.fullmatch(secret_key)
        if match is None:
            errors.append(FieldError("/credentials/secret_key", "is not a Stripe secret or restricted key"))
        elif match.group(2) != mode:
            errors.append(
                FieldError("/credentials/secret_key", f"is a {match.group(2)} key; this gateway is {mode}")
            )
    token = credentials.get("access_token")
    if provider == "gocardless" and token:
        found = _GOCARDLESS_TOKEN.fullmatch(token)
        if found is None:
            errors.append(FieldError("/credentials/access_token", "is not a GoCardless access token"))
        elif (found.group(1) == "sandbox") != (mode == "test"):
            expected = "sandbox_" if mode == "test" else "live_"
            errors.append(
                FieldError("/credentials/access_token", f"a {mode} gateway takes a {expected}… token")
            )
    webhook_secret = credentials.get("webhook_secret")
    if webhook_secret:
        pattern = _STRIPE_WEBHOOK_SECRET if provider == "stripe" else _WEBHOOK_SECRET
        if not pattern.fullmatch(webhook_secret):
            errors.append(
                FieldError("/credentials/webhook_secret", f"is not a {provider} webhook signing secret")
            )
    if errors:
        raise ValidationFailed(detail="the gateway's credentials are invalid", errors=errors)


def check_capabilities(provider: Provider, currencies: tuple[str, ...], methods: tuple[str, ...]) -> None:
    errors = [
        FieldError(f"/supported_currencies/{i}", f"{currency} is not an ISO 4217 currency")
        for i, currency in enumerate(currencies)
        if not is_currency(currency)
    ]
    allowed_currencies = PROVIDER_CURRENCIES[provider]
    if allowed_currencies is not None:
        errors += [
            FieldError(f"/supported_currencies/{i}", f"{provider} does not collect {currency}")
            for i, currency in enumerate(currencies)
            if currency not in allowed_currencies
        ]
    errors += [
        FieldError(f"/supported_methods/{i}", f"{provider} offers {', '.join(PROVIDER_METHODS[provider])}")
        for i, method in enumerate(methods)
        if method not in PROVIDER_METHODS[provider]
    ]
    if len(set(currencies)) != len(currencies):
        errors.append(FieldError("/supported_currencies", "lists a currency twice"))
    if len(set(methods)) != len(methods):
        errors.append(FieldError("/supported_methods", "lists a method twice"))
    if errors:
        raise ValidationFailed(detail="the gateway cannot do what was asked", errors=errors)


@dataclass(frozen=True)
class GatewayConfig:
    id: str
    livemode: bool
    provider: Provider
    name: str
    supported_currencies: tuple[str, ...]
    supported_methods: tuple[str, ...]
    created_at: str
    updated_at: str
    is_default: bool = False
    status: Literal["active", "disabled"] = "active"
    # The vault's sealed form of the credentials (never leaves storage), and their names.
    sealed_credentials: str | None = None
    credential_names: tuple[str, ...] = ()
    credentials_updated_at: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def mode(self) -> GatewayMode:
        return "live" if self.livemode else "test"

    def accepts(self, currency: str, method: str | None = None) -> bool:
        if self.status != "active":
            return False
        if self.supported_currencies and currency not in self.supported_currencies:
            return False
        return method is None or method in self.supported_methods

    def touched(self, now: str, **changes: Any) -> GatewayConfig:
        return replace(self, updated_at=now, version=self.version + 1, **changes)


def gateway_to_dict(gateway: GatewayConfig) -> dict[str, Any]:
    return {
        "id": gateway.id,
        "object": "payment_gateway",
        "livemode": gateway.livemode,
        "provider": gateway.provider,
        "mode": gateway.mode,
        "name": gateway.name,
        "supported_currencies": list(gateway.supported_currencies),
        "supported_methods": list(gateway.supported_methods),
        "is_default": gateway.is_default,
        "status": gateway.status,
        "credentials": {"set": list(gateway.credential_names), "updated_at": gateway.credentials_updated_at},
        "metadata": dict(gateway.metadata),
        "created_at": gateway.created_at,
        "updated_at": gateway.updated_at,
        "version": gateway.version,
    }


def gateway_to_record(gateway: GatewayConfig) -> dict[str, Any]:
    return {**gateway_to_dict(gateway), "sealed_credentials": gateway.sealed_credentials}


def gateway_from_dict(data: Mapping[str, Any]) -> GatewayConfig:
    credentials = data.get("credentials") or {}
    return GatewayConfig(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        provider=data["provider"],
        name=str(data["name"]),
        supported_currencies=tuple(data.get("supported_currencies") or ()),
        supported_methods=tuple(data.get("supported_methods") or ()),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        is_default=bool(data.get("is_default")),
        status=data.get("status", "active"),
        sealed_credentials=data.get("sealed_credentials"),
        credential_names=tuple(credentials.get("set") or ()),
        credentials_updated_at=credentials.get("updated_at"),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version", 1)),
    )
