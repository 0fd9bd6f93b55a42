"""Payment methods: a customer's card or bank mandate, held by a gateway. Billow keeps the
gateway's token and what a person needs to recognise the method (brand, last four digits,
expiry), never a card or account number: anything that looks like one is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from billow.domain.errors import FieldError, InvalidStateTransition, ValidationFailed
from billow.domain.gateway import Provider

PaymentMethodStatus = Literal["active", "detached"]

# The gateway's own ids: a Stripe PaymentMethod (or a legacy card or source), a GoCardless
# mandate, a sandbox method (any name after the prefix).
TOKEN_FORMATS: dict[Provider, re.Pattern[str]] = {
    "stripe": re.compile(r"(pm|card|src|ba)_[A-Za-z0-9_]{6,250}"),
    "gocardless": re.compile(r"MD[0-9A-Z]{6,30}"),
    "sandbox": re.compile(r"pm_sandbox_[a-z0-9_]{1,64}"),
}
# The gateway's customer the method is saved to (Stripe charges a saved method off-session
# only together with its customer).
CUSTOMER_TOKEN_FORMATS: dict[Provider, re.Pattern[str]] = {
    "stripe": re.compile(r"cus_[A-Za-z0-9]{6,250}"),
    "gocardless": re.compile(r"CU[0-9A-Z]{6,30}"),
    "sandbox": re.compile(r"cus_sandbox_[a-z0-9_]{1,64}"),
}
_DIGITS = re.compile(r"[0-9][0-9 -]{10,}[0-9]")
_LAST4 = re.compile(r"[0-9]{4}")
DETAIL_FIELDS = frozenset({"brand", "last4", "exp_month", "exp_year", "bank_name", "country"})


def _looks_like_account_data(value: str) -> bool:
    """A card number (13 to 19 digits passing Luhn) or an IBAN, anywhere in the text."""
    # Imported here: stdnum.iban loads its country registry (about 50 ms), which only a
    # request with text to check should pay, not every cold start of the API.
    from stdnum import iban, luhn

    for candidate in _DIGITS.findall(value):
        digits = re.sub(r"[ -]", "", candidate)
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            return True
    compact = re.sub(r"\s", "", value).upper()
    return any(iban.is_valid(compact[i : i + n]) for i in range(len(compact)) for n in (15, 18, 22, 24, 27))


# Ids of Billow's own objects: a UUID's digit groups can pass the Luhn check by chance
# (about one id in 650), and they are checked against stored objects anyway.
ID_FIELDS = frozenset({"customer_id", "gateway_id"})


def refuse_account_data(fields: Mapping[str, Any], prefix: str = "") -> None:
    """Refuse any text field that carries a card or bank account number."""
    errors = []
    for name, value in fields.items():
        if not prefix and name in ID_FIELDS:
            continue
        pointer = f"{prefix}/{name}"
        if isinstance(value, Mapping):
            try:
                refuse_account_data(value, pointer)
            except ValidationFailed as failed:
                errors += failed.errors
        elif isinstance(value, str) and _looks_like_account_data(value):
            errors.append(
                FieldError(
                    pointer, "looks like a card or bank account number: send the gateway's token instead"
                )
            )
    if errors:
        raise ValidationFailed(
            detail="Billow never takes card or bank account numbers; tokenize them with the gateway",
            errors=errors,
        )


def check_token(provider: Provider, token: str) -> None:
    if not TOKEN_FORMATS[provider].fullmatch(token):
        raise ValidationFailed(
            detail="the payment method is invalid",
            errors=[FieldError("/gateway_token", f"is not a {provider} payment method token")],
        )


def check_customer_token(provider: Provider, token: str | None) -> None:
    if token is not None and not CUSTOMER_TOKEN_FORMATS[provider].fullmatch(token):
        raise ValidationFailed(
            detail="the payment method is invalid",
            errors=[FieldError("/gateway_customer_token", f"is not a {provider} customer id")],
        )


def check_details(details: Mapping[str, Any]) -> None:
    """What identifies the method to a person: never more than the last four digits."""
    errors = []
    last4 = details.get("last4")
    if last4 is not None and not _LAST4.fullmatch(str(last4)):
        errors.append(FieldError("/details/last4", "must be exactly four digits"))
    month = details.get("exp_month")
    if month is not None and not (isinstance(month, int) and 1 <= month <= 12):
        errors.append(FieldError("/details/exp_month", "must be 1 to 12"))
    year = details.get("exp_year")
    if year is not None and not (isinstance(year, int) and 2000 <= year <= 2100):
        errors.append(FieldError("/details/exp_year", "must be a four-digit year"))
    if errors:
        raise ValidationFailed(detail="the payment method's details are invalid", errors=errors)


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    livemode: bool
    customer_id: str
    gateway_id: str
    type: str
    gateway_token: str
    created_at: str
    updated_at: str
    details: dict[str, Any] = field(default_factory=dict)
    is_default: bool = False
    status: PaymentMethodStatus = "active"
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1
    gateway_customer_token: str | None = None

    def touched(self, now: str, **changes: Any) -> PaymentMethod:
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    def detach(self, now: str) -> PaymentMethod:
        if self.status == "detached":
            raise InvalidStateTransition(detail=f"payment method {self.id} is already detached")
        return self.touched(now, status="detached", is_default=False)


def payment_method_to_dict(method: PaymentMethod) -> dict[str, Any]:
    return {
        "id": method.id,
        "object": "payment_method",
        "livemode": method.livemode,
        "customer_id": method.customer_id,
        "gateway_id": method.gateway_id,
        "type": method.type,
        "gateway_token": method.gateway_token,
        "gateway_customer_token": method.gateway_customer_token,
        "details": dict(method.details),
        "is_default": method.is_default,
        "status": method.status,
        "metadata": dict(method.metadata),
        "created_at": method.created_at,
        "updated_at": method.updated_at,
        "version": method.version,
    }


def payment_method_from_dict(data: Mapping[str, Any]) -> PaymentMethod:
    return PaymentMethod(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        customer_id=str(data["customer_id"]),
        gateway_id=str(data["gateway_id"]),
        type=str(data["type"]),
        gateway_token=str(data["gateway_token"]),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        details={
            k: int(v) if k in ("exp_month", "exp_year") else v for k, v in (data.get("details") or {}).items()
        },
        is_default=bool(data.get("is_default")),
        status=data.get("status", "active"),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version", 1)),
        gateway_customer_token=data.get("gateway_customer_token"),
    )
