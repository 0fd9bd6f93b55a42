"""The customer: who is billed, where, in what currency, and whether they may be billed now."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from billow.domain.address import Address
from billow.domain.errors import Conflict, InvalidStateTransition
from billow.domain.tax_ids import TaxId

CustomerStatus = Literal["active", "disabled", "archived"]
CustomerType = Literal["individual", "company"]
BillingModel = Literal["prepaid", "postpaid", "hybrid"]
# none: taxed as the rules say; exempt: no tax (a charity, a diplomat); reverse: the buyer
# accounts for VAT itself (as Stripe's tax_exempt).
TaxExempt = Literal["none", "exempt", "reverse"]

# Fields a PATCH may change; everything else is owned by Billow.
MUTABLE_FIELDS = frozenset(
    {
        "external_id",
        "type",
        "name",
        "email",
        "phone",
        "billing_address",
        "tax_ids",
        "currency",
        "locale",
        "timezone",
        "billing_model",
        "tax_exempt",
        "custom_fields",
        "tags",
        "metadata",
    }
)


@dataclass(frozen=True)
class Customer:
    id: str
    livemode: bool
    name: str
    created_at: str
    updated_at: str
    external_id: str | None = None
    type: CustomerType = "company"
    email: str | None = None
    phone: str | None = None
    billing_address: Address | None = None
    tax_ids: tuple[TaxId, ...] = ()
    currency: str | None = None
    locale: str = "en"
    timezone: str | None = None
    billing_model: BillingModel = "postpaid"
    tax_exempt: TaxExempt = "none"
    custom_fields: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    status: CustomerStatus = "active"
    merged_into: str | None = None
    # Sandbox only: the customer lives in this test clock's time (set at creation, never changed).
    test_clock_id: str | None = None
    version: int = 1

    def with_changes(self, changes: dict[str, Any], now: str) -> Customer:
        """Apply already-validated field changes; the version moves on by one."""
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"customer {self.id} was merged and can no longer change")
        unknown = set(changes) - MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable: {sorted(unknown)}")
        return replace(self, **changes, updated_at=now, version=self.version + 1)

    def disable(self, now: str) -> Customer:
        if self.status != "active":
            raise InvalidStateTransition(
                detail=f"only an active customer can be disabled; this one is {self.status}"
            )
        return replace(self, status="disabled", updated_at=now, version=self.version + 1)

    def enable(self, now: str) -> Customer:
        if self.status != "disabled":
            raise InvalidStateTransition(
                detail=f"only a disabled customer can be enabled; this one is {self.status}"
            )
        return replace(self, status="active", updated_at=now, version=self.version + 1)


def _union(first: tuple[Any, ...], second: tuple[Any, ...]) -> tuple[Any, ...]:
    return first + tuple(item for item in second if item not in first)


def merge_customers(target: Customer, source: Customer, now: str) -> tuple[Customer, Customer]:
    """Fold ``source`` into ``target``; return both, the source archived.

    Rules (docs/customers.md): the target keeps its own values and takes the source's only
    where it has none; tags and tax ids are united; metadata and custom fields merge with the
    target winning on a shared key; the source's external_id is released, not moved, so that
    the caller decides which identity survives. Customers in different currencies cannot be
    merged, because their invoices and balances could not be added up.
    """
    if target.id == source.id:
        raise Conflict(detail="a customer cannot be merged into itself")
    for customer in (target, source):
        if customer.status == "archived":
            raise InvalidStateTransition(detail=f"customer {customer.id} was already merged")
    if target.currency and source.currency and target.currency != source.currency:
        raise Conflict(detail=f"cannot merge a {source.currency} customer into a {target.currency} customer")
    merged = replace(
        target,
        email=target.email or source.email,
        phone=target.phone or source.phone,
        billing_address=target.billing_address or source.billing_address,
        currency=target.currency or source.currency,
        timezone=target.timezone or source.timezone,
        tax_ids=_union(target.tax_ids, source.tax_ids),
        tags=_union(target.tags, source.tags),
        metadata={**source.metadata, **target.metadata},
        custom_fields={**source.custom_fields, **target.custom_fields},
        updated_at=now,
        version=target.version + 1,
    )
    archived = replace(
        source,
        status="archived",
        merged_into=target.id,
        external_id=None,
        updated_at=now,
        version=source.version + 1,
    )
    return merged, archived


def customer_to_dict(customer: Customer) -> dict[str, Any]:
    """The customer's public representation (also what is stored and put in events)."""
    return {
        "id": customer.id,
        "object": "customer",
        "livemode": customer.livemode,
        "external_id": customer.external_id,
        "type": customer.type,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "billing_address": customer.billing_address.as_dict() if customer.billing_address else None,
        "tax_ids": [tax_id.as_dict() for tax_id in customer.tax_ids],
        "currency": customer.currency,
        "locale": customer.locale,
        "timezone": customer.timezone,
        "billing_model": customer.billing_model,
        "tax_exempt": customer.tax_exempt,
        "custom_fields": dict(customer.custom_fields),
        "tags": list(customer.tags),
        "metadata": dict(customer.metadata),
        "status": customer.status,
        "merged_into": customer.merged_into,
        "test_clock_id": customer.test_clock_id,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        "version": customer.version,
    }


def customer_from_dict(data: dict[str, Any]) -> Customer:
    address = data.get("billing_address")
    return Customer(
        id=data["id"],
        livemode=bool(data["livemode"]),
        external_id=data.get("external_id"),
        type=data.get("type", "company"),
        name=data["name"],
        email=data.get("email"),
        phone=data.get("phone"),
        billing_address=Address(**address) if address else None,
        tax_ids=tuple(TaxId(**t) for t in data.get("tax_ids") or ()),
        currency=data.get("currency"),
        locale=data.get("locale", "en"),
        timezone=data.get("timezone"),
        billing_model=data.get("billing_model", "postpaid"),
        tax_exempt=data.get("tax_exempt") or "none",
        custom_fields=dict(data.get("custom_fields") or {}),
        tags=tuple(data.get("tags") or ()),
        metadata=dict(data.get("metadata") or {}),
        status=data.get("status", "active"),
        merged_into=data.get("merged_into"),
        test_clock_id=data.get("test_clock_id"),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=int(data.get("version", 1)),
    )


def parse_customer_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn edge-validated input into domain values: tax ids checked, codes known, tuples."""
    from billow.domain.errors import FieldError, ValidationFailed
    from billow.domain.money import parse_currency
    from billow.domain.tax_ids import parse_tax_id

    errors: list[FieldError] = []
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            if name == "tax_ids":
                tax_ids = []
                for i, entry in enumerate(value or []):
                    try:
                        tax_ids.append(parse_tax_id(entry["type"], entry["value"], f"/tax_ids/{i}"))
                    except ValidationFailed as failure:
                        errors.extend(failure.errors)
                fields[name] = tuple(tax_ids)
                if len({(t.type, t.value) for t in tax_ids}) != len(tax_ids):
                    errors.append(FieldError("/tax_ids", "the same tax id is listed twice"))
            elif name == "billing_address":
                fields[name] = _parse_address(value) if value is not None else None
            elif name == "currency":
                fields[name] = parse_currency(value) if value is not None else None
            elif name == "timezone":
                fields[name] = _parse_timezone(value) if value is not None else None
            elif name == "locale":
                fields[name] = _parse_locale(value)
            elif name == "tags":
                fields[name] = tuple(dict.fromkeys(value or ()))
            elif name == "metadata":
                fields[name] = dict(value or {})
            else:
                fields[name] = value
        except ValidationFailed as failure:
            errors.extend(failure.errors)
    if errors:
        raise ValidationFailed(detail="the customer is invalid", errors=errors)
    return fields


def _parse_address(value: dict[str, Any]) -> Address:
    from billow.domain.address import parse_country

    country = value.get("country")
    return Address(
        **{**value, "country": parse_country(country, "/billing_address/country") if country else None}
    )


def _parse_timezone(value: str) -> str:
    from zoneinfo import available_timezones

    from billow.domain.errors import validation_failed

    if value not in available_timezones():
        raise validation_failed("/timezone", f"'{value}' is not an IANA time zone such as Europe/Berlin")
    return value


_LOCALE = re.compile(r"([a-zA-Z]{2,3})(?:[-_]([a-zA-Z]{4}))?(?:[-_]([a-zA-Z]{2}|[0-9]{3}))?")


def _parse_locale(value: str) -> str:
    """A BCP 47 language[-Script][-REGION] that CLDR knows, stored with canonical casing.

    Only the subtags given are kept: babel would otherwise add likely ones (zh -> zh-Hans-CN).
    """
    from babel import Locale, UnknownLocaleError

    from billow.domain.errors import validation_failed

    match = _LOCALE.fullmatch(value)
    problem = f"'{value}' is not a known locale such as en or de-DE"
    if not match or match.group(1).lower() in ("und", "root"):
        raise validation_failed("/locale", problem)
    language, script, region = match.group(1).lower(), match.group(2), match.group(3)
    try:
        Locale(
            language, territory=region.upper() if region else None, script=script.title() if script else None
        )
    except (ValueError, UnknownLocaleError):
        raise validation_failed("/locale", problem) from None
    return "-".join(
        part
        for part in (language, script.title() if script else None, region.upper() if region else None)
        if part
    )
