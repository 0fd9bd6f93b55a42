"""The VAT rates of the EU member states: standard, reduced, super-reduced and parking rates per
state, as a dated table from a named source.

The kinds follow the VAT Directive (2006/112/EC) and the Commission's "VAT rates applied in the
Member States" table:

- ``standard``: at least 15 % (Article 97);
- ``reduced``: up to two rates (Article 98), below the standard rate — some states have more
  under older derogations (Italy 5 % and 10 %, plus 4 % super-reduced);
- ``super_reduced``: a rate below 5 % (Article 98(2) as amended by Directive 2022/542, and the
  older Article 110 derogations), e.g. France 2.1 %, Ireland 4.8 %;
- ``parking``: a rate of at least 12 % kept under Article 118 (Austria, Belgium, Ireland,
  Luxembourg, Malta, Portugal);
- ``zero``: 0 %. Answered for every state: whether a supply is zero-rated (EN 16931 category
  Z) is decided by the tax rules for the supply, not by this table.

``rate_for(country, VatRateKind.REDUCED)`` answers the **highest** reduced rate unless asked
for the lowest (``which="lowest"``). A caller that only knows "this supply is reduced-rated"
cannot tell which of a state's reduced rates applies (that depends on the category of goods
or services); the highest one never collects less VAT than is due, and over-collected VAT can
be corrected with a credit note while under-collected VAT is owed by the seller. Callers that
know the category should pick the rate themselves from ``MemberStateRates.reduced``.

Country codes are ISO 3166-1 alpha-2: Greece is ``GR``, although its VAT numbers (and VIES and
TEDB) use the prefix ``EL`` (``vat_prefix``/``country_of_vat_prefix`` translate; the lookups
here accept ``EL`` as Greece too). Special territories inside a state's customs territory but
outside its VAT territory, or with their own rates (Canary Islands, Azores, Madeira, Åland,
the French overseas departments, Jungholz and Mittelberg, the Greek islands, …) are not
modelled: a state's rates are its mainland rates.

Northern Ireland (VAT prefix ``XI``) remains inside the EU VAT area **for goods only** under the
Windsor Framework: supplies of goods to or from it follow EU VAT rules, its traders' ``XI``
numbers are checked in VIES, and it applies UK rates. For services it is part of the United
Kingdom, outside the EU. So ``GB`` and ``XI`` are never member states here
(``is_member_state`` is False), ``in_eu_vat_area_for_goods("XI")`` is True, and for services
both are treated as non-EU.

JSON (``to_dict``/``from_dict``): rates are decimal strings (``"25.5"``), never JSON numbers,
so nothing passes through a float. Pure: no I/O; the bundled table is read by
``billow.adapters.vat.bundled_rates`` and refreshed from TEDB by ``billow.adapters.vat.tedb``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from billow.domain.errors import NotFound, ValidationFailed

MEMBER_STATES: frozenset[str] = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    }
)
NORTHERN_IRELAND = "XI"
_PREFIX_OF_COUNTRY = {"GR": "EL"}
_COUNTRY_OF_PREFIX = {"EL": "GR"}
# The prefixes VIES checks: the member states' (EL for Greece) and Northern Ireland's.
VIES_PREFIXES: frozenset[str] = frozenset(_PREFIX_OF_COUNTRY.get(c, c) for c in MEMBER_STATES) | {
    NORTHERN_IRELAND
}

MINIMUM_STANDARD_RATE = Decimal(15)  # VAT Directive, Article 97
SUPER_REDUCED_BELOW = Decimal(5)
MINIMUM_PARKING_RATE = Decimal(12)  # Article 118
_HUNDRED = Decimal(100)


class VatRateKind(StrEnum):
    STANDARD = "standard"
    REDUCED = "reduced"
    SUPER_REDUCED = "super_reduced"
    PARKING = "parking"
    ZERO = "zero"


class NotAMemberState(ValidationFailed):
    """The country is not an EU member state (code ``validation_failed``)."""


class NoSuchRate(NotFound):
    """The member state has no rate of that kind, or the table holds no rates for it (code
    ``not_found``)."""


def _normal(code: str) -> str:
    return code.strip().upper()


def vat_prefix(country: str) -> str:
    """The prefix of a country's VAT numbers: ``GR`` → ``EL``; every other code is its own."""
    code = _normal(country)
    return _PREFIX_OF_COUNTRY.get(code, code)


def country_of_vat_prefix(prefix: str) -> str:
    """The ISO country of a VAT-number prefix: ``EL`` → ``GR``, ``XI`` stays ``XI`` (Northern
    Ireland, part of GB); every other prefix is its country's code."""
    code = _normal(prefix)
    return _COUNTRY_OF_PREFIX.get(code, code)


def is_member_state(country: str) -> bool:
    """Whether ``country`` (ISO code; ``EL`` accepted for Greece) is an EU member state.
    ``GB`` and ``XI`` are not (see the module docstring for Northern Ireland and goods)."""
    return country_of_vat_prefix(country) in MEMBER_STATES


def in_eu_vat_area_for_goods(country: str) -> bool:
    """Whether supplies of goods with ``country`` follow EU VAT rules: the member states and
    Northern Ireland (``XI``)."""
    return is_member_state(country) or _normal(country) == NORTHERN_IRELAND


def _percent(value: Any, what: str) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError(f"{what} must be a decimal string, not {value!r}")
    if isinstance(value, int | str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{what} is not a number: {value!r}") from None
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value < _HUNDRED:
        raise ValueError(f"{what} must be a percentage above 0 and below 100, not {value!r}")
    return value


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class MemberStateRates:
    """The rates of one member state, in percent (``Decimal("25.5")`` is 25.5 %).

    ``reduced`` holds the state's reduced rates in ascending order (none for Denmark).
    ``valid_from`` is the date from which these figures are in force as the source states them:
    the date of the latest change among them when it is known, otherwise the date the source
    confirms them for; it is not a promise that nothing changed before it.
    """

    country: str
    standard: Decimal
    reduced: tuple[Decimal, ...]
    super_reduced: Decimal | None
    parking: Decimal | None
    valid_from: date
    note: str | None = None

    def __post_init__(self) -> None:
        country = country_of_vat_prefix(self.country)
        if country not in MEMBER_STATES:
            raise ValueError(f"{self.country!r} is not an EU member state")
        object.__setattr__(self, "country", country)
        standard = _percent(self.standard, f"{country} standard rate")
        if standard < MINIMUM_STANDARD_RATE:
            raise ValueError(f"{country} standard rate {standard} is below the EU minimum of 15")
        reduced = tuple(sorted({_percent(r, f"{country} reduced rate") for r in self.reduced}))
        if any(r >= standard for r in reduced):
            raise ValueError(f"{country} reduced rates {reduced} must be below the standard rate {standard}")
        super_reduced = self.super_reduced
        if super_reduced is not None:
            super_reduced = _percent(super_reduced, f"{country} super-reduced rate")
            if super_reduced >= SUPER_REDUCED_BELOW:
                raise ValueError(f"{country} super-reduced rate {super_reduced} must be below 5")
        parking = self.parking
        if parking is not None:
            parking = _percent(parking, f"{country} parking rate")
            if not MINIMUM_PARKING_RATE <= parking < standard:
                raise ValueError(f"{country} parking rate {parking} must be at least 12 and below standard")
        object.__setattr__(self, "standard", standard)
        object.__setattr__(self, "reduced", reduced)
        object.__setattr__(self, "super_reduced", super_reduced)
        object.__setattr__(self, "parking", parking)

    def rate(self, kind: VatRateKind | str, *, which: Literal["highest", "lowest"] = "highest") -> Decimal:
        """The rate of ``kind``; ``which`` picks among several reduced rates (highest by default)."""
        kind = VatRateKind(kind)
        if which not in ("highest", "lowest"):
            raise ValueError(f"which must be 'highest' or 'lowest', not {which!r}")
        if kind is VatRateKind.STANDARD:
            return self.standard
        if kind is VatRateKind.ZERO:
            return Decimal(0)
        if kind is VatRateKind.REDUCED:
            if not self.reduced:
                raise NoSuchRate(detail=f"{self.country} applies no reduced VAT rate")
            return self.reduced[-1] if which == "highest" else self.reduced[0]
        found = self.super_reduced if kind is VatRateKind.SUPER_REDUCED else self.parking
        if found is None:
            raise NoSuchRate(detail=f"{self.country} applies no {kind.value.replace('_', '-')} VAT rate")
        return found

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "standard": _text(self.standard),
            "reduced": [_text(r) for r in self.reduced],
            "super_reduced": None if self.super_reduced is None else _text(self.super_reduced),
            "parking": None if self.parking is None else _text(self.parking),
            "valid_from": self.valid_from.isoformat(),
        }
        if self.note:
            data["note"] = self.note
        return data

    @classmethod
    def from_dict(cls, country: str, data: Mapping[str, Any]) -> MemberStateRates:
        unknown = set(data) - {"standard", "reduced", "super_reduced", "parking", "valid_from", "note"}
        if unknown:
            raise ValueError(f"{country}: unknown fields {sorted(unknown)}")
        reduced = data.get("reduced", [])
        if not isinstance(reduced, list):
            raise ValueError(f"{country}: reduced must be a list of decimal strings")
        note = data.get("note")
        if note is not None and not isinstance(note, str):
            raise ValueError(f"{country}: note must be text")
        return cls(
            country=country,
            standard=_percent(data.get("standard"), f"{country} standard rate"),
            reduced=tuple(_percent(r, f"{country} reduced rate") for r in reduced),
            super_reduced=None
            if data.get("super_reduced") is None
            else _percent(data["super_reduced"], f"{country} super-reduced rate"),
            parking=None
            if data.get("parking") is None
            else _percent(data["parking"], f"{country} parking rate"),
            valid_from=_date(data.get("valid_from"), f"{country} valid_from"),
            note=note,
        )


def _date(value: Any, what: str) -> date:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO date string, not {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} is not an ISO date: {value!r}") from None


@dataclass(frozen=True)
class EuVatRates:
    """A table of member states' rates: where it comes from (``source``) and the date it
    describes (``as_of``). ``states`` maps ISO codes (``GR`` for Greece) to their rates and is
    stored read-only; it may hold fewer than all 27 states (``is_complete``)."""

    source: str
    as_of: date
    states: Mapping[str, MemberStateRates] = field(hash=False)

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("a VAT rate table needs its source")
        checked: dict[str, MemberStateRates] = {}
        for key, rates in self.states.items():
            country = country_of_vat_prefix(key)
            if country != rates.country:
                raise ValueError(f"the rates under {key!r} are those of {rates.country}")
            if country in checked:
                raise ValueError(f"{country} appears twice")
            if rates.valid_from > self.as_of:
                raise ValueError(
                    f"{country} rates are valid from {rates.valid_from}, after as_of {self.as_of}"
                )
            checked[country] = rates
        object.__setattr__(self, "states", MappingProxyType(dict(sorted(checked.items()))))

    @property
    def is_complete(self) -> bool:
        """Whether every member state has its rates in the table."""
        return set(self.states) == MEMBER_STATES

    def is_member_state(self, country: str) -> bool:
        """EU membership (a fact, whatever the table holds); see the module function."""
        return is_member_state(country)

    def for_country(self, country: str) -> MemberStateRates:
        code = country_of_vat_prefix(country)
        if code not in MEMBER_STATES:
            raise NotAMemberState(detail=f"{country!r} is not an EU member state; EU VAT rates do not apply")
        found = self.states.get(code)
        if found is None:
            raise NoSuchRate(detail=f"the VAT rate table ({self.source}) holds no rates for {code}")
        return found

    def rate_for(
        self,
        country: str,
        kind: VatRateKind | str = VatRateKind.STANDARD,
        *,
        which: Literal["highest", "lowest"] = "highest",
    ) -> Decimal:
        """The rate of ``kind`` in ``country``; for ``reduced`` the highest unless ``which`` says
        otherwise (see the module docstring for why)."""
        return self.for_country(country).rate(kind, which=which)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "as_of": self.as_of.isoformat(),
            "states": {country: rates.to_dict() for country, rates in self.states.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EuVatRates:
        source, states = data.get("source"), data.get("states")
        if not isinstance(source, str) or not source:
            raise ValueError("the VAT rate table needs a 'source' text")
        if not isinstance(states, Mapping):
            raise ValueError("the VAT rate table needs 'states', an object keyed by country")
        return cls(
            source=source,
            as_of=_date(data.get("as_of"), "as_of"),
            states={
                country_of_vat_prefix(country): MemberStateRates.from_dict(country, rates)
                for country, rates in states.items()
            },
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> EuVatRates:
        data = json.loads(text, parse_float=Decimal)
        if not isinstance(data, dict):
            raise ValueError("the VAT rate table must be a JSON object")
        return cls.from_dict(data)
