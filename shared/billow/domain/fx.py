"""FX: which exchange rate converts an invoice's prices into the invoice's currency (docs/fx.md).

Vocabulary. A currency pair is ``base_currency`` → ``quote_currency``: the currency the prices
are in, and the currency the invoice is in. A rate is the units of the quote currency for one
unit of the base currency, so ``converted = amount * rate``.

- **Reference rates** are a central bank's daily publication (``domain/reference_rates.py``;
  the ECB's today), public data shared by every tenant.
- An **FX policy** says, for the pairs it lists (or, as the tenant's default, for every other
  pair), which source and which date give the reference rate, and which markup is added.
- An **FX override** is a rate the tenant sets for one pair and a range of dates; on those dates
  it replaces the reference rate, as it is (no markup: the tenant chose that exact rate).
- A **pinned rate** is what an invoice keeps: the applied rate with how it came about, so that
  re-rendering or replaying the invoice never changes its amounts.

The markup works against the customer: ``rate = reference_rate * (1 + markup_percent / 100)``.
The customer pays in the quote currency, so a higher rate is more to pay: 100.00 USD at a
reference rate of 0.9 EUR per USD with a 2 % markup is 100.00 * 0.918 = 91.80 EUR, not 90.00.

Pure: no clock, no I/O. The date the rates are wanted for is an input, and so is the time the
scheduled refresh asks ``expected_publication`` about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from billow.domain.errors import (
    BillowError,
    Conflict,
    FieldError,
    InvalidStateTransition,
    ValidationFailed,
    validation_failed,
)
from billow.domain.money import Money, parse_currency, parse_decimal
from billow.domain.policy_attachments import AttachmentMove, attachment_moves
from billow.domain.reference_rates import NoRatesForDate, ReferenceRates, UnknownCurrency, rates_on

RateSource = Literal["ecb"]
RATE_SOURCES: tuple[RateSource, ...] = ("ecb",)
RateDateRule = Literal["invoice_date", "period_end"]
RATE_DATE_RULES: tuple[RateDateRule, ...] = ("invoice_date", "period_end")
FxPolicyStatus = Literal["active", "archived"]
PinSource = Literal["ecb", "override", "same_currency"]

MAX_MARKUP_PERCENT = Decimal(10)
MARKUP_DECIMALS = 4
OVERRIDE_RATE_DECIMALS = 12
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
# Every pair a policy holds is one lookup item written in the policy's transaction (at most
# 100 items, with the policy, the old default and the events).
MAX_PAIRS = 50
# Overrides of one pair are listed in one index item; a few hundred date ranges is plenty.
MAX_OVERRIDES_PER_PAIR = 500
# A publication older than this before the date asked is not used: the ECB's longest gap is
# four days (Easter); a week also rides out a refresh that failed for a few days.
MAX_RATE_AGE = timedelta(days=7)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FxRateUnavailable(BillowError):
    """No rate can be pinned: no reference rates held for the date (or the held ones are too
    old), or the source does not quote one of the currencies."""

    code = "fx_rate_unavailable"
    status = 422
    title = "FX rate unavailable"


def plain(value: Decimal) -> str:
    """A decimal as the API writes rates: no exponent, no trailing zeros ("1.1", "100")."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def applied_rate(reference_rate: Decimal, markup_percent: Decimal) -> Decimal:
    """The reference rate raised by the markup (exact: the markup has at most 4 decimals)."""
    return reference_rate * (1 + markup_percent.scaleb(-2))


# --- currency pairs and what a policy holds --------------------------------------------------


@dataclass(frozen=True, order=True)
class CurrencyPair:
    base_currency: str
    quote_currency: str

    @property
    def key(self) -> str:
        return f"{self.base_currency}:{self.quote_currency}"

    def to_dict(self) -> dict[str, str]:
        return {"base_currency": self.base_currency, "quote_currency": self.quote_currency}


@dataclass(frozen=True, order=True)
class FxAttachment:
    """What a policy holds through a lookup item: one pair, or the tenant's default (``pair``
    None). Two policies never hold the same one."""

    kind: Literal["default", "pair"]
    pair: CurrencyPair | None = None

    @property
    def label(self) -> str:
        return "DEFAULT" if self.pair is None else f"PAIR#{self.pair.key}"


DEFAULT_FX_ATTACHMENT = FxAttachment("default")


def pair_attachment(base_currency: str, quote_currency: str) -> FxAttachment:
    return FxAttachment("pair", CurrencyPair(base_currency, quote_currency))


# --- policies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FxPolicy:
    id: str
    livemode: bool
    name: str
    created_at: str
    updated_at: str
    description: str | None = None
    rate_source: RateSource = "ecb"
    rate_date: RateDateRule = "invoice_date"
    markup_percent: Decimal = Decimal(0)
    currency_pairs: tuple[CurrencyPair, ...] = ()
    is_default: bool = False
    status: FxPolicyStatus = "active"
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def is_builtin(self) -> bool:
        return self.id == BUILTIN_FX_POLICY_ID

    def touched(self, now: str, **changes: Any) -> FxPolicy:
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    def archive(self, now: str) -> FxPolicy:
        """An archived policy applies to nothing: its pairs and the default become free."""
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"FX policy {self.id} is already archived")
        return self.touched(now, status="archived", is_default=False, currency_pairs=())

    def attachments(self) -> frozenset[FxAttachment]:
        if self.status != "active":
            return frozenset()
        held = {FxAttachment("pair", pair) for pair in self.currency_pairs}
        if self.is_default:
            held.add(DEFAULT_FX_ATTACHMENT)
        return frozenset(held)

    def pointer_of(self, attachment: FxAttachment) -> str:
        if attachment.pair is None:
            return "/is_default"
        return f"/applies_to/currency_pairs/{self.currency_pairs.index(attachment.pair)}"

    def rate_date_for(self, invoice_date: date, period_end: date | None = None) -> date:
        """The date whose reference rates apply: the invoice's date, or the last day of the
        billing period it bills (when the caller knows one)."""
        if self.rate_date == "period_end" and period_end is not None:
            return period_end
        return invoice_date


BUILTIN_FX_POLICY_ID = "builtin"
# When neither a pair's policy nor a default exists: the ECB's rate of the invoice date, as is.
BUILTIN_FX_POLICY = FxPolicy(
    id=BUILTIN_FX_POLICY_ID,
    livemode=False,
    name="Built-in default",
    description="The ECB reference rate of the invoice date, without markup.",
    created_at="1970-01-01T00:00:00Z",
    updated_at="1970-01-01T00:00:00Z",
)


FxMove = AttachmentMove[FxAttachment]


def fx_attachment_moves(changes: Sequence[tuple[FxPolicy | None, FxPolicy]]) -> list[FxMove]:
    """The lookup items a write changes: (attachment, holder before, holder after)."""
    return attachment_moves(changes)


def _text(raw: Any, pointer: str, *, required: bool, max_length: int) -> str | None:
    if raw is None:
        if required:
            raise validation_failed(pointer, "is required")
        return None
    if not isinstance(raw, str):
        raise validation_failed(pointer, "must be a string")
    text = raw.strip()
    if required and not text:
        raise validation_failed(pointer, "must not be empty")
    if len(text) > max_length:
        raise validation_failed(pointer, f"at most {max_length} characters")
    return text


def _currency(raw: Any, pointer: str) -> str:
    if raw is None:
        raise validation_failed(pointer, "is required")
    return parse_currency(raw, pointer)


def parse_markup(raw: Any, pointer: str = "/markup_percent") -> Decimal:
    """A decimal string 0 to 10 with at most 4 decimals ("1.5" is 1.5 %)."""
    markup = parse_decimal(raw, pointer, max_decimals=MARKUP_DECIMALS)
    if not Decimal(0) <= markup <= MAX_MARKUP_PERCENT:
        raise validation_failed(pointer, f"must be between 0 and {MAX_MARKUP_PERCENT} (percent)")
    return markup


def _pairs(raw: Any, pointer: str) -> tuple[CurrencyPair, ...]:
    if not isinstance(raw, list | tuple):
        raise validation_failed(pointer, "must be a list of currency pairs")
    if len(raw) > MAX_PAIRS:
        raise validation_failed(pointer, f"holds at most {MAX_PAIRS} currency pairs")
    errors: list[FieldError] = []
    pairs: list[CurrencyPair] = []
    for index, entry in enumerate(raw):
        at = f"{pointer}/{index}"
        if not isinstance(entry, Mapping):
            errors.append(FieldError(at, "must be an object with base_currency and quote_currency"))
            continue
        try:
            pair = CurrencyPair(
                _currency(entry.get("base_currency"), f"{at}/base_currency"),
                _currency(entry.get("quote_currency"), f"{at}/quote_currency"),
            )
        except ValidationFailed as failure:
            errors += failure.errors
            continue
        if pair.base_currency == pair.quote_currency:
            errors.append(FieldError(at, "base and quote currency are the same: no conversion to govern"))
        elif pair in pairs:
            errors.append(FieldError(at, f"lists {pair.key} twice"))
        pairs.append(pair)
    if errors:
        raise ValidationFailed(detail="the currency pairs are invalid", errors=errors)
    return tuple(pairs)


POLICY_FIELDS = frozenset(
    {
        "name",
        "description",
        "rate_source",
        "rate_date",
        "markup_percent",
        "applies_to",
        "is_default",
        "metadata",
    }
)


def parse_policy_fields(raw: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The fields of a policy from a request (every sent one, checked; every violation is
    reported with its JSON pointer). Keys are FxPolicy's: ``applies_to`` becomes
    ``currency_pairs``."""
    unknown = set(raw) - POLICY_FIELDS
    errors = [FieldError(f"/{name}", "is not a field of an FX policy") for name in sorted(unknown)]
    fields: dict[str, Any] = {}

    def check(name: str, parse: Any) -> None:
        try:
            fields[name] = parse()
        except ValidationFailed as failure:
            errors.extend(failure.errors)

    if creating or "name" in raw:
        check("name", lambda: _text(raw.get("name"), "/name", required=True, max_length=MAX_NAME_LENGTH))
    if "description" in raw:
        check(
            "description",
            lambda: _text(
                raw["description"], "/description", required=False, max_length=MAX_DESCRIPTION_LENGTH
            ),
        )
    if "rate_source" in raw:
        check("rate_source", lambda: _choice(raw["rate_source"], RATE_SOURCES, "/rate_source"))
    if "rate_date" in raw:
        check("rate_date", lambda: _choice(raw["rate_date"], RATE_DATE_RULES, "/rate_date"))
    if "markup_percent" in raw:
        check("markup_percent", lambda: parse_markup(raw["markup_percent"]))
    if "applies_to" in raw:
        applies_to = raw["applies_to"]
        if not isinstance(applies_to, Mapping):
            errors.append(FieldError("/applies_to", "must be an object with currency_pairs"))
        else:
            check(
                "currency_pairs",
                lambda: _pairs(applies_to.get("currency_pairs") or [], "/applies_to/currency_pairs"),
            )
    if "is_default" in raw:
        if not isinstance(raw["is_default"], bool):
            errors.append(FieldError("/is_default", "must be true or false"))
        else:
            fields["is_default"] = raw["is_default"]
    if "metadata" in raw:
        if not isinstance(raw["metadata"], Mapping):
            errors.append(FieldError("/metadata", "must be an object of strings"))
        else:
            fields["metadata"] = dict(raw["metadata"])
    if errors:
        raise ValidationFailed(detail="the FX policy is invalid", errors=errors)
    return fields


def _choice(raw: Any, allowed: Sequence[str], pointer: str) -> Any:
    if raw not in allowed:
        raise validation_failed(pointer, f"must be one of {', '.join(allowed)}")
    return raw


def fx_policy_to_dict(policy: FxPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "object": "fx_policy",
        "livemode": policy.livemode,
        "name": policy.name,
        "description": policy.description,
        "rate_source": policy.rate_source,
        "rate_date": policy.rate_date,
        "markup_percent": plain(policy.markup_percent),
        "applies_to": {"currency_pairs": [pair.to_dict() for pair in policy.currency_pairs]},
        "is_default": policy.is_default,
        "status": policy.status,
        "metadata": dict(policy.metadata),
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
        "version": policy.version,
    }


def fx_policy_from_dict(data: Mapping[str, Any]) -> FxPolicy:
    applies_to = data.get("applies_to") or {}
    return FxPolicy(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        name=str(data["name"]),
        description=data.get("description"),
        rate_source=data.get("rate_source", "ecb"),
        rate_date=data.get("rate_date", "invoice_date"),
        markup_percent=Decimal(str(data.get("markup_percent", "0"))),
        currency_pairs=tuple(
            CurrencyPair(str(p["base_currency"]), str(p["quote_currency"]))
            for p in applies_to.get("currency_pairs") or ()
        ),
        is_default=bool(data.get("is_default")),
        status=data.get("status", "active"),
        metadata=dict(data.get("metadata") or {}),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        version=int(data.get("version", 1)),
    )


# --- overrides ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FxOverride:
    """A rate the tenant sets for base → quote from ``valid_from`` to ``valid_to``, both
    inclusive (``valid_to`` None: open-ended). Not changed once created: delete it and create
    another; invoices already pinned keep the rate they pinned."""

    id: str
    livemode: bool
    base_currency: str
    quote_currency: str
    rate: Decimal
    valid_from: date
    created_at: str
    updated_at: str
    valid_to: date | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def pair(self) -> CurrencyPair:
        return CurrencyPair(self.base_currency, self.quote_currency)

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    @property
    def span(self) -> OverrideSpan:
        return OverrideSpan(self.id, self.valid_from, self.valid_to)


@dataclass(frozen=True)
class OverrideSpan:
    """An override's dates, as the per-pair index lists them."""

    id: str
    valid_from: date
    valid_to: date | None

    def overlaps(self, other: OverrideSpan) -> bool:
        starts_before_other_ends = other.valid_to is None or self.valid_from <= other.valid_to
        ends_after_other_starts = self.valid_to is None or other.valid_from <= self.valid_to
        return starts_before_other_ends and ends_after_other_starts

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OverrideSpan:
        valid_to = data.get("valid_to")
        return cls(
            str(data["id"]),
            date.fromisoformat(str(data["valid_from"])),
            date.fromisoformat(valid_to) if valid_to else None,
        )


@dataclass(frozen=True)
class OverrideIndex:
    """The dates of a pair's overrides as stored, and the version they were read at (0: the
    pair never had one). Written back under that version, so two writers of one pair take
    turns."""

    spans: tuple[OverrideSpan, ...] = ()
    version: int = 0


def parse_date(raw: Any, pointer: str) -> date:
    if not isinstance(raw, str) or not _DATE.fullmatch(raw):
        raise validation_failed(pointer, "must be a date such as 2026-01-31")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise validation_failed(pointer, f"{raw} is not a calendar date") from None


OVERRIDE_FIELDS = frozenset(
    {"base_currency", "quote_currency", "rate", "valid_from", "valid_to", "description", "metadata"}
)


def parse_override_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An override's fields from a create request; every violation reported with its pointer."""
    errors = [
        FieldError(f"/{name}", "is not a field of an FX override")
        for name in sorted(set(raw) - OVERRIDE_FIELDS)
    ]
    fields: dict[str, Any] = {}
    parsers: dict[str, Any] = {
        "base_currency": lambda: _currency(raw.get("base_currency"), "/base_currency"),
        "quote_currency": lambda: _currency(raw.get("quote_currency"), "/quote_currency"),
        "rate": lambda: _override_rate(raw.get("rate")),
        "valid_from": lambda: parse_date(raw.get("valid_from"), "/valid_from"),
        "valid_to": lambda: None if raw.get("valid_to") is None else parse_date(raw["valid_to"], "/valid_to"),
        "description": lambda: _text(
            raw.get("description"), "/description", required=False, max_length=MAX_DESCRIPTION_LENGTH
        ),
    }
    for name, parse in parsers.items():
        try:
            fields[name] = parse()
        except ValidationFailed as failure:
            errors.extend(failure.errors)
    base, quote = fields.get("base_currency"), fields.get("quote_currency")
    if base is not None and base == quote:
        errors.append(
            FieldError("/quote_currency", "differs from base_currency: a currency converts to itself at 1")
        )
    start, end = fields.get("valid_from"), fields.get("valid_to")
    if start is not None and end is not None and end < start:
        errors.append(FieldError("/valid_to", "is before valid_from"))
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        errors.append(FieldError("/metadata", "must be an object of strings"))
    fields["metadata"] = dict(metadata or {})
    if errors:
        raise ValidationFailed(detail="the FX override is invalid", errors=errors)
    return fields


def _override_rate(raw: Any) -> Decimal:
    rate = parse_decimal(raw, "/rate", max_decimals=OVERRIDE_RATE_DECIMALS)
    if rate <= 0:
        raise validation_failed("/rate", "must be more than 0")
    return rate


def check_no_overlap(new: OverrideSpan, pair: CurrencyPair, existing: Iterable[OverrideSpan]) -> None:
    """One override per pair and day: a second one covering a day of the first is refused."""
    spans = list(existing)
    for other in spans:
        if other.id != new.id and new.overlaps(other):
            until = other.valid_to.isoformat() if other.valid_to else "open-ended"
            raise Conflict(
                detail=f"FX override {other.id} already sets {pair.key} from {other.valid_from.isoformat()} "
                f"to {until}: delete it first, or choose dates outside it",
                errors=[FieldError("/valid_from", f"overlaps FX override {other.id}")],
            )
    if len(spans) >= MAX_OVERRIDES_PER_PAIR:
        raise Conflict(
            detail=f"{pair.key} already has {len(spans)} overrides, the most a pair can have; delete old ones"
        )


def fx_override_to_dict(override: FxOverride) -> dict[str, Any]:
    return {
        "id": override.id,
        "object": "fx_override",
        "livemode": override.livemode,
        "base_currency": override.base_currency,
        "quote_currency": override.quote_currency,
        "rate": plain(override.rate),
        "valid_from": override.valid_from.isoformat(),
        "valid_to": override.valid_to.isoformat() if override.valid_to else None,
        "description": override.description,
        "metadata": dict(override.metadata),
        "created_at": override.created_at,
        "updated_at": override.updated_at,
        "version": override.version,
    }


def fx_override_from_dict(data: Mapping[str, Any]) -> FxOverride:
    valid_to = data.get("valid_to")
    return FxOverride(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        base_currency=str(data["base_currency"]),
        quote_currency=str(data["quote_currency"]),
        rate=Decimal(str(data["rate"])),
        valid_from=date.fromisoformat(str(data["valid_from"])),
        valid_to=date.fromisoformat(str(valid_to)) if valid_to else None,
        description=data.get("description"),
        metadata=dict(data.get("metadata") or {}),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        version=int(data.get("version", 1)),
    )


# --- the pinned rate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PinnedRate:
    """The rate an invoice used, and where it came from. ``rate`` is the applied rate, markup
    included; ``reference_rate`` the source's (or the override's) before the markup."""

    base_currency: str
    quote_currency: str
    rate: Decimal
    reference_rate: Decimal
    markup_percent: Decimal
    source: PinSource
    rate_date: date
    policy_id: str | None = None
    override_id: str | None = None

    def convert(self, amount: Money) -> Money:
        """``amount`` (in the base currency) in the quote currency, rounded half-up once."""
        if amount.currency != self.base_currency:
            raise ValueError(f"this rate converts {self.base_currency}, not {amount.currency}")
        return Money(amount.amount * self.rate, self.quote_currency).rounded()

    def to_dict(self) -> dict[str, Any]:
        """The invoice's ``fx`` field: the keys it always had (``base_currency``,
        ``quote_currency``, ``rate``, ``source``, ``date``) and how the rate came about."""
        return {
            "base_currency": self.base_currency,
            "quote_currency": self.quote_currency,
            "rate": plain(self.rate),
            "source": self.source,
            "date": self.rate_date.isoformat(),
            "reference_rate": plain(self.reference_rate),
            "markup_percent": plain(self.markup_percent),
            "policy_id": self.policy_id,
            "override_id": self.override_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PinnedRate:
        """Also reads the older ``fx`` shape (rate 1, same currency, no markup fields)."""
        rate = Decimal(str(data["rate"]))
        return cls(
            base_currency=str(data["base_currency"]),
            quote_currency=str(data["quote_currency"]),
            rate=rate,
            reference_rate=Decimal(str(data.get("reference_rate", rate))),
            markup_percent=Decimal(str(data.get("markup_percent", "0"))),
            source=data["source"],
            rate_date=date.fromisoformat(str(data["date"])),
            policy_id=data.get("policy_id"),
            override_id=data.get("override_id"),
        )


def same_currency_pin(currency: str, on: date) -> PinnedRate:
    return PinnedRate(currency, currency, Decimal(1), Decimal(1), Decimal(0), "same_currency", on)


def choose_rate(
    base_currency: str,
    quote_currency: str,
    on: date,
    *,
    policy: FxPolicy,
    overrides: Iterable[FxOverride] = (),
    publication: ReferenceRates | None = None,
    max_age: timedelta = MAX_RATE_AGE,
) -> PinnedRate:
    """The rate for converting base → quote on ``on``:

    1. the same currency: 1 (``same_currency``);
    2. an override of the pair covering the date: its rate as it is (``override``);
    3. else the reference rate of the publication for the date (the latest on or before it,
       so a weekend or holiday takes the previous working day's) with the policy's markup.

    ``publication`` is the latest publication of ``policy.rate_source`` dated on or before
    ``on`` (None when none is held). Raises FxRateUnavailable when no rate can be given.
    """
    if base_currency == quote_currency:
        return same_currency_pin(base_currency, on)
    pair = CurrencyPair(base_currency, quote_currency)
    covering = [o for o in overrides if o.pair == pair and o.covers(on)]
    policy_id = None if policy.is_builtin else policy.id
    if covering:
        override = max(covering, key=lambda o: (o.valid_from, o.id))
        return PinnedRate(
            base_currency,
            quote_currency,
            override.rate,
            override.rate,
            Decimal(0),
            "override",
            on,
            policy_id=policy_id,
            override_id=override.id,
        )
    try:
        chosen = rates_on([publication] if publication is not None else [], on, max_age=max_age)
        reference = chosen.rate(base_currency, quote_currency)
    except NoRatesForDate as missing:
        raise FxRateUnavailable(
            detail=f"no {policy.rate_source} reference rates for {on.isoformat()}: {missing.detail}"
        ) from None
    except UnknownCurrency as unknown:
        raise FxRateUnavailable(detail=unknown.detail) from None
    return PinnedRate(
        base_currency,
        quote_currency,
        applied_rate(reference, policy.markup_percent),
        reference,
        policy.markup_percent,
        "ecb",
        chosen.rate_date,
        policy_id=policy_id,
    )


def rates_to_dict(
    publication: ReferenceRates, base: str, quote: str | None = None, requested: date | None = None
) -> dict[str, Any]:
    """A publication seen from ``base``: every currency it quotes (or only ``quote``), as the
    units of it for one ``base``; cross rates through the publication's own base."""
    quotes = [quote] if quote is not None else sorted(publication.currencies - {base})
    try:
        rates = {code: plain(publication.rate(base, code)) for code in quotes}
    except UnknownCurrency as unknown:
        raise FxRateUnavailable(detail=unknown.detail) from None
    return {
        "object": "fx_rates",
        "source": publication.source,
        "date": publication.rate_date.isoformat(),
        "requested_date": requested.isoformat() if requested else None,
        "base": base,
        "rates": rates,
    }


# --- when the next publication is due ----------------------------------------------------------

# Frankfurt's time (CET, CEST in summer); the zone is read when first needed, not on import.
ECB_ZONE = "Europe/Berlin"
# The ECB publishes "around 16:00 CET"; a refresh before then expects the previous day's.
ECB_PUBLISHED_BY = time(16, 0)


def _easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def is_target_holiday(day: date) -> bool:
    """TARGET closing days, when the ECB publishes no reference rates."""
    easter = _easter_sunday(day.year)
    fixed = {(1, 1), (5, 1), (12, 25), (12, 26)}
    return (day.month, day.day) in fixed or day in (easter - timedelta(days=2), easter + timedelta(days=1))


def is_publication_day(day: date) -> bool:
    return day.weekday() < 5 and not is_target_holiday(day)


def expected_publication(now: datetime) -> date:
    """The date of the newest ECB publication that should be out at ``now`` (aware)."""
    local = now.astimezone(ZoneInfo(ECB_ZONE))
    day = local.date() if local.time() >= ECB_PUBLISHED_BY else local.date() - timedelta(days=1)
    while not is_publication_day(day):
        day -= timedelta(days=1)
    return day
