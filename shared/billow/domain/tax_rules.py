"""A tenant's own tax rules (``/v1/tax-rules``): which tax, at what rate, applies in a
jurisdiction (a country, or one of its regions) to a product tax category, from a date on.

**Versions.** Rules are never edited in what they charge; a change is a new version. The
rules with the same country, region, tax type, category and apply order form one series; on a
given date the version in force is the one with the latest ``effective_from`` on or before that
date (on a tie, the one created last). A version with ``active: false`` ends the series from
its date: nothing of that series applies any more (until a later active version).

**Which rules apply** to a line (:func:`rules_in_force`): the country-wide series of the buyer's
country plus the series of the buyer's region; a series for the product's category beats a
``"*"`` (any category) series with the same country, region, tax type and apply order (a
category series that has ended, or has not started yet, leaves the ``"*"`` one in force). The
result is in apply order; on equal apply order, country-wide before regional. Compound rules
are charged on the net plus the taxes before them in that order (domain/tax.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, Literal, cast

from billow.domain.address import parse_country
from billow.domain.errors import FieldError, ValidationFailed
from billow.domain.money import parse_decimal
from billow.domain.tax import TAX_TYPES, TaxRate, format_rate

TaxType = Literal["vat", "sales_tax", "gst", "hst"]
ANY_CATEGORY = "*"
CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# The part of an ISO 3166-2 code after the country: "CA" of US-CA, "QC" of CA-QC, "75" of FR-75.
REGION = re.compile(r"[A-Z0-9]{1,3}")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_RATE = Decimal(100)
MAX_RATE_DECIMALS = 4
MAX_APPLY_ORDER = 99
MAX_NAME = 100
MAX_DESCRIPTION = 500
TAX_TYPE_LABELS = {"vat": "VAT", "sales_tax": "Sales tax", "gst": "GST", "hst": "HST"}
FIELDS = frozenset(
    {
        "jurisdiction",
        "tax_type",
        "rate",
        "category",
        "inclusive",
        "compound",
        "apply_order",
        "effective_from",
        "active",
        "name",
        "description",
        "metadata",
    }
)
# What a version may change about itself; anything that changes what is charged is a new version.
MUTABLE_FIELDS = frozenset({"name", "description", "metadata"})
# (country, region, tax type, category, apply order)
SeriesKey = tuple[str, str | None, str, str, int]


@dataclass(frozen=True)
class TaxRule:
    id: str
    livemode: bool
    country: str
    tax_type: TaxType
    rate: Decimal
    effective_from: date
    created_at: str
    updated_at: str
    region: str | None = None
    category: str = ANY_CATEGORY
    inclusive: bool = False
    compound: bool = False
    apply_order: int = 0
    active: bool = True
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def jurisdiction(self) -> str:
        """ "DE", or "US-CA" for a region."""
        return f"{self.country}-{self.region}" if self.region else self.country

    @property
    def series_key(self) -> SeriesKey:
        return (self.country, self.region, self.tax_type, self.category, self.apply_order)

    @property
    def printable_name(self) -> str:
        return self.name or f"{TAX_TYPE_LABELS[self.tax_type]} {format_rate(self.rate)} %"

    def tax_rate(self) -> TaxRate:
        """The rule as a line's tax: category S, or Z at 0 %."""
        return TaxRate(
            category="S" if self.rate > 0 else "Z",
            rate=self.rate,
            tax_type=self.tax_type,
            jurisdiction=self.jurisdiction,
            compound=self.compound,
            inclusive=self.inclusive,
            rule_id=self.id,
            name=self.printable_name,
        )

    def with_changes(self, changes: Mapping[str, Any], now: str) -> TaxRule:
        """Apply already-parsed changes of the describing fields; the version moves on."""
        unknown = set(changes) - MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"not mutable: {sorted(unknown)}")
        return replace(self, **changes, updated_at=now, version=self.version + 1)


def _newer(rule: TaxRule, than: TaxRule) -> bool:
    return (rule.effective_from, rule.created_at, rule.id) > (than.effective_from, than.created_at, than.id)


def rules_in_force(
    rules: Iterable[TaxRule], country: str, region: str | None, category: str, on: date
) -> tuple[TaxRule, ...]:
    """The rules that apply on ``on`` to a product of ``category`` sold into ``country``
    (and ``region``), in apply order; see the module docstring."""
    current: dict[SeriesKey, TaxRule] = {}
    for rule in rules:
        if rule.country != country or (rule.region is not None and rule.region != region):
            continue
        if rule.category not in (category, ANY_CATEGORY) or rule.effective_from > on:
            continue
        held = current.get(rule.series_key)
        if held is None or _newer(rule, held):
            current[rule.series_key] = rule
    live = [rule for rule in current.values() if rule.active]
    specific = {(r.country, r.region, r.tax_type, r.apply_order) for r in live if r.category != ANY_CATEGORY}
    chosen = [
        rule
        for rule in live
        if rule.category != ANY_CATEGORY
        or (rule.country, rule.region, rule.tax_type, rule.apply_order) not in specific
    ]
    return tuple(sorted(chosen, key=lambda r: (r.apply_order, r.region is not None, r.tax_type, r.id)))


def series_of(rules: Iterable[TaxRule], key: SeriesKey) -> tuple[TaxRule, ...]:
    """The versions of one series, oldest first."""
    found = [rule for rule in rules if rule.series_key == key]
    return tuple(sorted(found, key=lambda r: (r.effective_from, r.created_at, r.id)))


def same_day_version(rules: Iterable[TaxRule], candidate: TaxRule) -> TaxRule | None:
    """A version of the candidate's series already taking effect on its date (a second one
    would leave it to creation order which applies: refuse it as a conflict)."""
    return next(
        (
            rule
            for rule in series_of(rules, candidate.series_key)
            if rule.effective_from == candidate.effective_from and rule.id != candidate.id
        ),
        None,
    )


# --- raw fields -------------------------------------------------------------------------------


def _jurisdiction(raw: Any, errors: list[FieldError]) -> tuple[str | None, str | None]:
    """``{"country": "US", "region": "CA"}``, or the ISO 3166-2 text ``"US-CA"`` / ``"DE"``."""
    if isinstance(raw, str):
        country_raw, _, region_raw = raw.partition("-")
        raw = {"country": country_raw, "region": region_raw or None}
    if not isinstance(raw, Mapping):
        errors.append(
            FieldError("/jurisdiction", 'must be an object such as {"country": "US", "region": "CA"}')
        )
        return None, None
    unknown = sorted(set(raw) - {"country", "region"})
    errors.extend(FieldError(f"/jurisdiction/{key}", "is not a field of a jurisdiction") for key in unknown)
    country: str | None = None
    try:
        country = parse_country(cast(str, raw.get("country")), "/jurisdiction/country")
    except ValidationFailed as failure:
        errors.extend(failure.errors)
    region = raw.get("region")
    if region is not None and (not isinstance(region, str) or not REGION.fullmatch(region)):
        errors.append(
            FieldError(
                "/jurisdiction/region",
                "must be the subdivision part of an ISO 3166-2 code, such as CA (US-CA) or QC (CA-QC)",
            )
        )
        region = None
    return country, region


def _flag(raw: Mapping[str, Any], name: str, default: bool, errors: list[FieldError]) -> bool:
    value = raw.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.append(FieldError(f"/{name}", "must be true or false"))
        return default
    return value


def _text(raw: Mapping[str, Any], name: str, limit: int, errors: list[FieldError]) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        errors.append(FieldError(f"/{name}", f"must be text of 1 to {limit} characters"))
        return None
    return value.strip()


def parse_metadata(raw: Any, pointer: str, errors: list[FieldError]) -> dict[str, str]:
    """At most 50 string keys of up to 40 characters, with string values of up to 500."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        errors.append(FieldError(pointer, "must be an object of string keys and values"))
        return {}
    if len(raw) > 50:
        errors.append(FieldError(pointer, "at most 50 keys"))
    for key, value in raw.items():
        if not isinstance(key, str) or not 0 < len(key) <= 40:
            errors.append(FieldError(pointer, "keys are strings of 1 to 40 characters"))
        elif not isinstance(value, str) or len(value) > 500:
            errors.append(FieldError(f"{pointer}/{key}", "must be a string of at most 500 characters"))
    return {str(k): str(v) for k, v in raw.items()}


def parse_rate(raw: Any, pointer: str, errors: list[FieldError]) -> Decimal | None:
    """A percent as a decimal string, 0 to 100 with at most 4 decimals; kept without trailing
    zeros ("19.00" is 19)."""
    try:
        rate = parse_decimal(raw, pointer, max_decimals=MAX_RATE_DECIMALS)
    except ValidationFailed as failure:
        errors.extend(failure.errors)
        return None
    if not 0 <= rate <= MAX_RATE:
        errors.append(FieldError(pointer, "must be a percent from 0 to 100"))
        return None
    return Decimal(format_rate(rate))


def parse_date(raw: Any, pointer: str, errors: list[FieldError]) -> date | None:
    if not isinstance(raw, str) or not ISO_DATE.fullmatch(raw):
        errors.append(FieldError(pointer, "must be a date YYYY-MM-DD"))
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(pointer, f"'{raw}' is not a calendar date"))
        return None


def parse_tax_rule_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a new rule version from a request body, every problem reported at once
    with its JSON pointer; the values are ready for :class:`TaxRule`."""
    errors: list[FieldError] = []
    errors.extend(FieldError(f"/{key}", "is not a field of a tax rule") for key in sorted(set(raw) - FIELDS))
    for required in ("jurisdiction", "tax_type", "rate", "effective_from"):
        if raw.get(required) is None:
            errors.append(FieldError(f"/{required}", "is required"))
    fields: dict[str, Any] = {}
    if raw.get("jurisdiction") is not None:
        fields["country"], fields["region"] = _jurisdiction(raw["jurisdiction"], errors)
    tax_type = raw.get("tax_type")
    if tax_type is not None:
        if tax_type not in TAX_TYPES:
            errors.append(FieldError("/tax_type", f"must be one of {', '.join(TAX_TYPES)}"))
        fields["tax_type"] = tax_type
    if raw.get("rate") is not None:
        fields["rate"] = parse_rate(raw["rate"], "/rate", errors)
    category = raw.get("category", ANY_CATEGORY)
    if category is None:
        category = ANY_CATEGORY
    if category != ANY_CATEGORY and (not isinstance(category, str) or not CATEGORY.fullmatch(category)):
        errors.append(
            FieldError("/category", 'must be "*" or match ^[a-z][a-z0-9_]{0,39}$, e.g. standard or reduced')
        )
    fields["category"] = category
    fields["inclusive"] = _flag(raw, "inclusive", False, errors)
    fields["compound"] = _flag(raw, "compound", False, errors)
    fields["active"] = _flag(raw, "active", True, errors)
    if fields["inclusive"] and fields["compound"]:
        errors.append(FieldError("/compound", "a tax included in the price cannot be compound"))
    order = raw.get("apply_order", 0)
    if order is None:
        order = 0
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_APPLY_ORDER:
        errors.append(FieldError("/apply_order", f"must be a whole number from 0 to {MAX_APPLY_ORDER}"))
    fields["apply_order"] = order
    if raw.get("effective_from") is not None:
        fields["effective_from"] = parse_date(raw["effective_from"], "/effective_from", errors)
    fields["name"] = _text(raw, "name", MAX_NAME, errors)
    fields["description"] = _text(raw, "description", MAX_DESCRIPTION, errors)
    fields["metadata"] = parse_metadata(raw.get("metadata"), "/metadata", errors)
    if errors:
        raise ValidationFailed(detail="the tax rule is invalid", errors=errors)
    return fields


def new_tax_rule(raw: Mapping[str, Any], *, rule_id: str, livemode: bool, now: str) -> TaxRule:
    """A new rule version from a request body (see :func:`parse_tax_rule_fields`)."""
    fields = parse_tax_rule_fields(raw)
    return TaxRule(
        id=rule_id,
        livemode=livemode,
        created_at=now,
        updated_at=now,
        **fields,
    )


def parse_tax_rule_changes(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A PATCH of a version: only its name, description and metadata change."""
    errors: list[FieldError] = [
        FieldError(f"/{key}", "cannot change; create a new version of the rule instead")
        for key in sorted(set(raw) - MUTABLE_FIELDS)
    ]
    changes: dict[str, Any] = {}
    for name, limit in (("name", MAX_NAME), ("description", MAX_DESCRIPTION)):
        if name in raw:
            changes[name] = _text(raw, name, limit, errors)
    if "metadata" in raw:
        changes["metadata"] = parse_metadata(raw["metadata"], "/metadata", errors)
    if errors:
        raise ValidationFailed(detail="the tax rule change is invalid", errors=errors)
    return changes


# --- stored form ------------------------------------------------------------------------------


def tax_rule_to_dict(rule: TaxRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "object": "tax_rule",
        "livemode": rule.livemode,
        "jurisdiction": {"country": rule.country, "region": rule.region, "code": rule.jurisdiction},
        "tax_type": rule.tax_type,
        "rate": str(rule.rate),
        "category": rule.category,
        "inclusive": rule.inclusive,
        "compound": rule.compound,
        "apply_order": rule.apply_order,
        "effective_from": rule.effective_from.isoformat(),
        "active": rule.active,
        "name": rule.name,
        "description": rule.description,
        "metadata": dict(rule.metadata),
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
        "version": rule.version,
    }


def tax_rule_from_dict(data: Mapping[str, Any]) -> TaxRule:
    jurisdiction = data["jurisdiction"]
    return TaxRule(
        id=data["id"],
        livemode=bool(data["livemode"]),
        country=jurisdiction["country"],
        region=jurisdiction.get("region"),
        tax_type=cast(TaxType, data["tax_type"]),
        rate=Decimal(data["rate"]),
        category=data.get("category") or ANY_CATEGORY,
        inclusive=bool(data.get("inclusive", False)),
        compound=bool(data.get("compound", False)),
        apply_order=int(data.get("apply_order", 0)),
        effective_from=date.fromisoformat(data["effective_from"]),
        active=bool(data.get("active", True)),
        name=data.get("name"),
        description=data.get("description"),
        metadata=dict(data.get("metadata") or {}),
        created_at=data["created_at"],
        updated_at=data.get("updated_at") or data["created_at"],
        version=int(data.get("version", 1)),
    )
