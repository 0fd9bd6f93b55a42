"""Request bodies of /v1/fx/policies and /v1/fx/overrides. Types are checked here (a markup or a
rate is a decimal string, never a JSON number); ranges, currencies and dates are the domain's
rules (billow.domain.fx), which report every violation with its JSON pointer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Metadata, StrictModel

Currency = Annotated[str, StringConstraints(min_length=3, max_length=3), Field(description="ISO 4217")]
DecimalString = Annotated[str, StringConstraints(min_length=1, max_length=40)]
DateString = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), Field(examples=["2026-01-31"])]
PolicyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]


class CurrencyPairBody(StrictModel):
    base_currency: Currency = Field(description="the currency the prices are in")
    quote_currency: Currency = Field(description="the currency the invoice is in")


class FxAppliesTo(StrictModel):
    """The pairs the policy governs; a pair follows one policy at most. A list sent replaces
    the old one."""

    currency_pairs: list[CurrencyPairBody] = Field(default_factory=list, max_length=50)


RateSource = Literal["ecb"]
RateDate = Literal["invoice_date", "period_end"]
Markup = Annotated[
    DecimalString,
    Field(
        description="percent, 0 to 10, at most 4 decimals; raises the rate against the customer: "
        "rate = reference rate * (1 + markup_percent / 100)",
        examples=["1.5"],
    ),
]


class FxPolicyCreate(StrictModel):
    name: PolicyName
    description: Description | None = None
    rate_source: RateSource = "ecb"
    rate_date: RateDate = Field(
        default="invoice_date",
        description="whose date's reference rate applies: the invoice's, "
        "or the last day of the period it bills",
    )
    markup_percent: Markup = "0"
    applies_to: FxAppliesTo = Field(default_factory=FxAppliesTo)
    is_default: bool = Field(default=False, description="the tenant's default for pairs no policy names")
    metadata: Metadata = Field(default_factory=dict)


class FxPolicyUpdate(StrictModel):
    name: PolicyName | None = None
    description: Description | None = None
    rate_source: RateSource | None = None
    rate_date: RateDate | None = None
    markup_percent: Markup | None = None
    applies_to: FxAppliesTo | None = None
    is_default: bool | None = None
    metadata: Metadata | None = None


POLICY_NOT_NULLABLE = frozenset(
    {"name", "rate_source", "rate_date", "markup_percent", "applies_to", "is_default", "metadata"}
)


class FxOverrideCreate(StrictModel):
    base_currency: Currency = Field(description="the currency converted from (the prices')")
    quote_currency: Currency = Field(description="the currency converted to (the invoice's)")
    rate: DecimalString = Field(
        description="units of quote_currency for 1 base_currency, up to 12 decimals; used as is, no markup",
        examples=["1.0850"],
    )
    valid_from: DateString = Field(description="the first day it applies")
    valid_to: DateString | None = Field(default=None, description="the last day it applies; null: open-ended")
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)
