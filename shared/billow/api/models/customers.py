"""Request bodies of /v1/customers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@+=-]+$")]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Text = Annotated[str, StringConstraints(max_length=256)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AddressIn(StrictModel):
    line1: Text | None = None
    line2: Text | None = None
    city: Text | None = None
    postal_code: Annotated[str, StringConstraints(max_length=32)] | None = None
    state: Text | None = None
    country: Annotated[str, StringConstraints(min_length=2, max_length=2)] | None = Field(
        default=None, description="ISO 3166-1 alpha-2"
    )


class TaxIdIn(StrictModel):
    type: Annotated[str, StringConstraints(max_length=32)] = Field(
        description="eu_vat, gb_vat, ch_vat, us_ein, …"
    )
    value: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class _CustomerFields(StrictModel):
    type: Literal["individual", "company"] | None = None
    email: Email | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    billing_address: AddressIn | None = None
    tax_ids: Annotated[list[TaxIdIn], Field(max_length=10)] | None = None
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] | None = Field(
        default=None, description="ISO 4217"
    )
    locale: Annotated[str, StringConstraints(min_length=2, max_length=16)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    billing_model: Literal["prepaid", "postpaid", "hybrid"] | None = None
    tax_exempt: Literal["none", "exempt", "reverse"] | None = Field(
        default=None, description="exempt: no tax; reverse: the buyer accounts for VAT (reverse charge)"
    )
    custom_fields: Annotated[dict[str, Any], Field(max_length=50)] | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None
    metadata: Metadata | None = None


class CustomerCreate(_CustomerFields):
    name: Name
    external_id: ExternalId | None = None
    test_clock_id: Id | None = None


class CustomerUpdate(_CustomerFields):
    """PATCH: only the fields sent change; null clears a field that may be empty."""

    name: Name | None = None
    external_id: ExternalId | None = None


class CustomerUpsert(_CustomerFields):
    """PUT by external id: name is needed only when the customer does not exist yet."""

    name: Name | None = None


class CustomerMerge(StrictModel):
    from_customer_id: Id


# Fields whose null means "not set" and which may therefore not be cleared.
NOT_NULLABLE = frozenset(
    {"name", "type", "locale", "billing_model", "tax_exempt", "tags", "metadata", "custom_fields", "tax_ids"}
)
