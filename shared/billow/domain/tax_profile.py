"""The seller's tax profile (``/v1/tax/profile``): the tenant's legal entity as its invoices
name it, and the facts the tax decision needs about it.

- ``tax_regime``: ``standard`` (registered, charges VAT), ``small_business`` (a small business
  exemption such as the German Kleinunternehmer: no VAT charged, category E) or
  ``not_registered`` (outside the VAT system: category O).
- ``vat_id``: checked like a customer's tax ids (python-stdnum) and kept as printed, with its
  country prefix ("DE136695976", "GB980780684"); ``vat_id_type`` says which kind it is
  (``eu_vat``, ``gb_vat``, …). Given as text, the type follows from the prefix (an EU VAT ID)
  or else from the address country (GB, CH, NO, AU, CA, IN); ``{"type", "value"}`` names it.
  A VAT ID of another country than the address needs ``vat_id_note`` saying why (a
  registration through a fixed establishment, for example).
- ``prices_include_tax``: whether prices include the built-in EU VAT (tenant tax rules carry
  their own ``inclusive``). ``oss_registered``: the seller declares EU consumers' VAT through
  the One-Stop Shop (informs reports; the decision charges destination VAT either way).
- ``payment_details``: what invoices print for paying by transfer (IBAN and BIC checked with
  python-stdnum) and the SEPA creditor identifier for direct debits.

Parsing reports every problem at once, each with its JSON pointer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, cast

from billow.domain.address import Address, parse_country
from billow.domain.errors import FieldError, ValidationFailed
from billow.domain.tax_ids import TaxId, parse_tax_id

TaxRegime = Literal["standard", "small_business", "not_registered"]
TAX_REGIMES: tuple[TaxRegime, ...] = ("standard", "small_business", "not_registered")
FIELDS = frozenset(
    {
        "legal_name",
        "trading_name",
        "address",
        "vat_id",
        "vat_id_note",
        "tax_number",
        "legal_registration",
        "contact",
        "electronic_address",
        "tax_regime",
        "prices_include_tax",
        "oss_registered",
        "payment_details",
    }
)
ADDRESS_FIELDS = {"line1": 200, "line2": 200, "city": 100, "postal_code": 20, "state": 50, "country": 2}
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9 ()./-]{3,40}")
TAX_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]{0,39}")
# Prefixes of EU VAT IDs as python-stdnum checks them: member states, EL for Greece, XI for
# Northern Ireland, EU for non-Union One-Stop Shop registrations.
_EU_VAT_PREFIXES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "EU", "FI", "FR", "GR", "HR"}
    | {"HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"}
)
# Outside the EU, the tax id type that is the seller's VAT (or GST) registration there.
_NATIONAL_VAT = {
    "GB": "gb_vat",
    "CH": "ch_vat",
    "NO": "no_vat",
    "AU": "au_abn",
    "CA": "ca_bn",
    "IN": "in_gst",
}


@dataclass(frozen=True)
class SellerContact:
    """EN 16931 BG-6."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class PaymentDetails:
    """What invoices print for paying by transfer, and the direct-debit creditor id."""

    iban: str | None = None
    bic: str | None = None
    account_name: str | None = None
    sepa_creditor_id: str | None = None


@dataclass(frozen=True)
class SellerTaxProfile:
    legal_name: str
    address: Address
    tax_regime: TaxRegime = "standard"
    trading_name: str | None = None
    vat_id: str | None = None  # as printed, with its country prefix
    vat_id_type: str | None = None  # a tax id type of domain/tax_ids.py, e.g. eu_vat
    vat_id_country: str | None = None
    vat_id_note: str | None = None
    tax_number: str | None = None  # national, e.g. a German Steuernummer
    legal_registration: str | None = None  # e.g. "HRB 12345, Amtsgericht Berlin"
    contact: SellerContact = field(default_factory=SellerContact)
    electronic_address: str | None = None  # e-mail address e-invoices are sent from
    prices_include_tax: bool = False
    oss_registered: bool = False
    payment_details: PaymentDetails = field(default_factory=PaymentDetails)
    livemode: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    version: int = 1

    @property
    def country(self) -> str:
        # Parsing makes the address country required.
        return cast(str, self.address.country)

    # Flat views for documents, which print these one by one.
    @property
    def contact_name(self) -> str | None:
        return self.contact.name

    @property
    def contact_email(self) -> str | None:
        return self.contact.email

    @property
    def contact_phone(self) -> str | None:
        return self.contact.phone

    @property
    def iban(self) -> str | None:
        return self.payment_details.iban

    @property
    def bic(self) -> str | None:
        return self.payment_details.bic

    @property
    def account_name(self) -> str | None:
        return self.payment_details.account_name

    @property
    def sepa_creditor_id(self) -> str | None:
        return self.payment_details.sepa_creditor_id

    def with_changes(self, patch: Mapping[str, Any], now: str) -> SellerTaxProfile:
        """A JSON merge patch (RFC 7396: objects merge, null removes) checked as a whole, so a
        change that makes another field invalid is refused with that field's pointer."""
        merged = _merge_patch(profile_to_raw(self), patch)
        changed = parse_tax_profile(merged, livemode=self.livemode)
        return replace(changed, created_at=self.created_at, updated_at=now, version=self.version + 1)


def printable_vat_id(tax_id: TaxId) -> str:
    """A VAT ID as invoices print it, with its country prefix (GB980780684, NO995525828MVA)."""
    prefix = {"gb_vat": "GB", "no_vat": "NO"}.get(tax_id.type)
    if prefix and not tax_id.value.upper().startswith(prefix):
        return prefix + tax_id.value
    return tax_id.value


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


# --- parsing ------------------------------------------------------------------------------------


class _Errors(list[FieldError]):
    def add(self, pointer: str, message: str) -> None:
        self.append(FieldError(pointer, message))


def _text(raw: Mapping[str, Any], name: str, pointer: str, limit: int, errors: _Errors) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        errors.add(pointer, f"must be text of 1 to {limit} characters")
        return None
    return value.strip()


def _matching(
    raw: Mapping[str, Any], name: str, pointer: str, pattern: re.Pattern[str], example: str, errors: _Errors
) -> str | None:
    value = _text(raw, name, pointer, 200, errors)
    if value is not None and not pattern.fullmatch(value):
        errors.add(pointer, f"'{value}' is not {example}")
        return None
    return value


def _flag(raw: Mapping[str, Any], name: str, errors: _Errors) -> bool:
    value = raw.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        errors.add(f"/{name}", "must be true or false")
        return False
    return value


def _object(raw: Mapping[str, Any], name: str, known: set[str], errors: _Errors) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add(f"/{name}", "must be an object")
        return {}
    for key in sorted(set(value) - known):
        errors.add(f"/{name}/{key}", f"is not a field of {name.replace('_', ' ')}")
    return value


def _address(raw: Mapping[str, Any], errors: _Errors) -> Address:
    if raw.get("address") is None:
        errors.add("/address", "is required")
        return Address()
    if not isinstance(raw["address"], Mapping):
        errors.add("/address", "must be an object")
        return Address()
    value = _object(raw, "address", set(ADDRESS_FIELDS), errors)
    parts = {
        name: _text(value, name, f"/address/{name}", limit, errors)
        for name, limit in ADDRESS_FIELDS.items()
        if name != "country"
    }
    for required in ("line1", "city"):
        if value.get(required) is None:
            errors.add(f"/address/{required}", "is required")
    country: str | None = None
    if value.get("country") is None:
        errors.add("/address/country", "is required")
    else:
        try:
            country = parse_country(value["country"], "/address/country")
        except ValidationFailed as failure:
            errors.extend(failure.errors)
    return Address(country=country, **parts)


def _vat_id(raw: Mapping[str, Any], country: str | None, errors: _Errors) -> TaxId | None:
    """The VAT ID checked; its ``value`` is python-stdnum's compact form."""
    value = raw.get("vat_id")
    if value is None:
        return None
    if isinstance(value, Mapping):
        type_, number = value.get("type"), value.get("value")
        if not isinstance(type_, str) or not isinstance(number, str):
            errors.add("/vat_id", 'must be text or {"type": "eu_vat", "value": "DE136695976"}')
            return None
        pointer = "/vat_id"
    elif isinstance(value, str):
        number, pointer = value, "/vat_id"
        prefix = value.strip()[:2].upper()
        if prefix in _EU_VAT_PREFIXES:
            type_ = "eu_vat"
        elif country in _NATIONAL_VAT:
            type_ = _NATIONAL_VAT[country]
        else:
            errors.add(
                "/vat_id",
                'is not an EU VAT ID; name its type as {"type": ..., "value": ...}',
            )
            return None
    else:
        errors.add("/vat_id", 'must be text or {"type": "eu_vat", "value": "DE136695976"}')
        return None
    try:
        tax_id = parse_tax_id(type_, number, pointer)
    except ValidationFailed as failure:
        # parse_tax_id points at /type or /value of an object; text has neither.
        errors.extend(
            FieldError(e.pointer if isinstance(value, Mapping) else "/vat_id", e.message)
            for e in failure.errors
        )
        return None
    return tax_id


def _payment_details(raw: Mapping[str, Any], errors: _Errors) -> PaymentDetails:
    from stdnum import bic as stdnum_bic
    from stdnum import iban as stdnum_iban
    from stdnum.eu import at_02
    from stdnum.exceptions import ValidationError as StdnumError

    value = _object(raw, "payment_details", set(asdict(PaymentDetails())), errors)

    def checked(name: str, module: Any, what: str) -> str | None:
        text = _text(value, name, f"/payment_details/{name}", 50, errors)
        if text is None:
            return None
        try:
            return str(module.validate(text))
        except StdnumError as exc:
            errors.add(f"/payment_details/{name}", f"invalid {what}: {exc}")
            return None

    iban = checked("iban", stdnum_iban, "IBAN")
    bic = checked("bic", stdnum_bic, "BIC")
    if value.get("bic") is not None and value.get("iban") is None:
        errors.add("/payment_details/iban", "is required with a BIC")
    return PaymentDetails(
        iban=iban,
        bic=bic,
        account_name=_text(value, "account_name", "/payment_details/account_name", 200, errors),
        sepa_creditor_id=checked("sepa_creditor_id", at_02, "SEPA creditor identifier"),
    )


def parse_tax_profile(
    raw: Mapping[str, Any], *, livemode: bool = False, now: str | None = None
) -> SellerTaxProfile:
    """The profile from a request body; every problem at once, with its JSON pointer.
    ``now``, when given, is when it was created."""
    errors = _Errors()
    for key in sorted(set(raw) - FIELDS):
        errors.add(f"/{key}", "is not a field of the tax profile")
    if raw.get("legal_name") is None:
        errors.add("/legal_name", "is required")
    legal_name = _text(raw, "legal_name", "/legal_name", 200, errors)
    address = _address(raw, errors)
    vat_id = _vat_id(raw, address.country, errors)
    vat_id_note = _text(raw, "vat_id_note", "/vat_id_note", 500, errors)
    if vat_id is not None and address.country and vat_id.country != address.country and not vat_id_note:
        errors.add(
            "/vat_id_note",
            f"is required when the VAT ID is of another country ({vat_id.country}) than the address "
            f"({address.country}): say why, e.g. a registration through a fixed establishment",
        )
    tax_number = _matching(
        raw, "tax_number", "/tax_number", TAX_NUMBER, "a tax number such as 12/345/67890", errors
    )
    regime = raw.get("tax_regime", "standard")
    if regime is None:
        regime = "standard"
    if regime not in TAX_REGIMES:
        errors.add("/tax_regime", f"must be one of {', '.join(TAX_REGIMES)}")
        regime = "standard"
    if regime == "standard" and raw.get("vat_id") is None and raw.get("tax_number") is None:
        errors.add("/vat_id", "a seller charging tax needs a VAT ID or a tax number (tax_number)")
    contact = _object(raw, "contact", {"name", "email", "phone"}, errors)
    profile = SellerTaxProfile(
        legal_name=legal_name or "",
        address=address,
        tax_regime=cast(TaxRegime, regime),
        trading_name=_text(raw, "trading_name", "/trading_name", 200, errors),
        vat_id=printable_vat_id(vat_id) if vat_id else None,
        vat_id_type=vat_id.type if vat_id else None,
        vat_id_country=vat_id.country if vat_id else None,
        vat_id_note=vat_id_note,
        tax_number=tax_number,
        legal_registration=_text(raw, "legal_registration", "/legal_registration", 200, errors),
        contact=SellerContact(
            name=_text(contact, "name", "/contact/name", 200, errors),
            email=_matching(contact, "email", "/contact/email", EMAIL, "an e-mail address", errors),
            phone=_matching(
                contact, "phone", "/contact/phone", PHONE, "a phone number such as +49 30 1234567", errors
            ),
        ),
        electronic_address=_matching(
            raw, "electronic_address", "/electronic_address", EMAIL, "an e-mail address", errors
        ),
        prices_include_tax=_flag(raw, "prices_include_tax", errors),
        oss_registered=_flag(raw, "oss_registered", errors),
        payment_details=_payment_details(raw, errors),
        livemode=livemode,
        created_at=now,
        updated_at=now,
    )
    if errors:
        raise ValidationFailed(detail="the tax profile is invalid", errors=list(errors))
    return profile


# --- representations ------------------------------------------------------------------------------


def _fields(profile: SellerTaxProfile, vat_id: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a request body sets, in the API's order; ``vat_id`` stands for the VAT ID's,
    which a body and a representation write differently."""
    return {
        "legal_name": profile.legal_name,
        "trading_name": profile.trading_name,
        "address": profile.address.as_dict(),
        **vat_id,
        "vat_id_note": profile.vat_id_note,
        "tax_number": profile.tax_number,
        "legal_registration": profile.legal_registration,
        "contact": asdict(profile.contact),
        "electronic_address": profile.electronic_address,
        "tax_regime": profile.tax_regime,
        "prices_include_tax": profile.prices_include_tax,
        "oss_registered": profile.oss_registered,
        "payment_details": asdict(profile.payment_details),
    }


def profile_to_raw(profile: SellerTaxProfile) -> dict[str, Any]:
    """The profile as a request body would give it (what a merge patch applies to)."""
    vat_id = {"type": profile.vat_id_type, "value": profile.vat_id} if profile.vat_id else None
    return _without_nulls(_fields(profile, {"vat_id": vat_id}))


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _nulls_dropped(v) for k, v in value.items() if v is not None}


def _nulls_dropped(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _nulls_dropped(v) for k, v in value.items() if v is not None}
    return value


def tax_profile_to_dict(profile: SellerTaxProfile) -> dict[str, Any]:
    vat_id = {
        "vat_id": profile.vat_id,
        "vat_id_type": profile.vat_id_type,
        "vat_id_country": profile.vat_id_country,
    }
    return {
        "object": "tax_profile",
        "livemode": profile.livemode,
        **_fields(profile, vat_id),
        "created_at": profile.created_at,
        "updated_at": profile.updated_at,
        "version": profile.version,
    }


def tax_profile_from_dict(data: Mapping[str, Any]) -> SellerTaxProfile:
    return SellerTaxProfile(
        legal_name=data["legal_name"],
        address=Address(**data["address"]),
        tax_regime=data.get("tax_regime") or "standard",
        trading_name=data.get("trading_name"),
        vat_id=data.get("vat_id"),
        vat_id_type=data.get("vat_id_type"),
        vat_id_country=data.get("vat_id_country"),
        vat_id_note=data.get("vat_id_note"),
        tax_number=data.get("tax_number"),
        legal_registration=data.get("legal_registration"),
        contact=SellerContact(**(data.get("contact") or {})),
        electronic_address=data.get("electronic_address"),
        prices_include_tax=bool(data.get("prices_include_tax", False)),
        oss_registered=bool(data.get("oss_registered", False)),
        payment_details=PaymentDetails(**(data.get("payment_details") or {})),
        livemode=bool(data.get("livemode", False)),
        created_at=data.get("created_at"),
        updated_at=data.get("updated_at"),
        version=int(data.get("version", 1)),
    )
