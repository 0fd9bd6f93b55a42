"""Request bodies of /v1/tax-rules and /v1/tax/profile. Typed loosely on purpose, as the pricing
terms are: the domain parsers (domain/tax_rules.py, domain/tax_profile.py) check every field and
report every problem at once with its pointer, with messages such as why a VAT ID or an IBAN is
invalid, or that a rate is a decimal string and never a JSON number."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from billow.api.models.common import StrictModel


class TaxRuleCreate(StrictModel):
    """A new rule, or a new version of a series: the rules with the same jurisdiction, tax type,
    category and apply order. From its ``effective_from`` on it replaces the version before."""

    jurisdiction: Any = Field(
        default=None,
        description='{"country": "US", "region": "CA"} (ISO 3166-1 alpha-2 and the ISO 3166-2 subdivision '
        'part), or the text "US-CA" / "DE"',
        examples=[{"country": "DE"}],
    )
    tax_type: Any = Field(default=None, description="vat, sales_tax, gst or hst", examples=["vat"])
    rate: Any = Field(
        default=None, description="percent as a decimal string, 0 to 100, at most 4 decimals", examples=["19"]
    )
    category: Any = Field(
        default=None,
        description='the product tax category it applies to (standard, reduced, …), or "*" for any; '
        "a category's rule beats a * rule of the same jurisdiction, tax type and apply order. Default *",
    )
    inclusive: Any = Field(default=None, description="the tax is included in prices (default false)")
    compound: Any = Field(
        default=None,
        description="charged on the net plus the taxes before it in apply order (default false); "
        "never together with inclusive",
    )
    apply_order: Any = Field(default=None, description="0 to 99 (default 0)")
    effective_from: Any = Field(
        default=None, description="YYYY-MM-DD: the first day this version applies", examples=["2026-01-01"]
    )
    active: Any = Field(
        default=None,
        description="false ends the series from effective_from (nothing of it applies until a later "
        "active version); default true",
    )
    name: Any = Field(default=None, description='as invoices print it; default e.g. "VAT 19 %"')
    description: Any = None
    metadata: Any = None


class TaxRuleUpdate(StrictModel):
    """Only the labels of a version change; anything else is a new version. Other fields are
    accepted here so that the domain can say so for each of them."""

    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)

    name: Any = None
    description: Any = None
    metadata: Any = Field(default=None, description='merged key by key; "" removes a key')


class TaxProfileBody(StrictModel):
    """The seller's legal entity as its invoices name it. PUT sends it whole; PATCH is a JSON merge
    patch (RFC 7396): objects merge, null removes a field."""

    legal_name: Any = Field(default=None, description="required")
    trading_name: Any = None
    address: Any = Field(
        default=None,
        description="line1, line2, city, postal_code, state, country (ISO 3166-1 alpha-2); "
        "line1, city and country required",
    )
    vat_id: Any = Field(
        default=None,
        description='the VAT ID as text ("DE136695976"), or {"type": "gb_vat", "value": "980780684"}; '
        "checked with its check digits",
    )
    vat_id_note: Any = Field(default=None, description="required when the VAT ID is of another country")
    tax_number: Any = Field(default=None, description="a national tax number, e.g. a German Steuernummer")
    legal_registration: Any = None
    contact: Any = Field(default=None, description="name, email, phone")
    electronic_address: Any = Field(default=None, description="the e-mail address e-invoices come from")
    tax_regime: Any = Field(default=None, description="standard (default), small_business or not_registered")
    prices_include_tax: Any = None
    oss_registered: Any = None
    payment_details: Any = Field(
        default=None, description="iban, bic, account_name, sepa_creditor_id (IBAN and BIC checked)"
    )
