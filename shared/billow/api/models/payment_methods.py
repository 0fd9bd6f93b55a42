"""Request bodies of /v1/payment-methods: a gateway's token and what identifies the method to a
person. Card and account numbers are refused (services/payment_methods.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

Token = Annotated[str, StringConstraints(min_length=3, max_length=255)]
MethodType = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class MethodDetails(StrictModel):
    brand: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    last4: Annotated[str, StringConstraints(min_length=4, max_length=4)] | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    bank_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class PaymentMethodCreate(StrictModel):
    customer_id: Id
    gateway_id: Id
    type: MethodType = Field(description="card, sepa_debit, bacs_debit, ...: one the gateway supports")
    gateway_token: Token = Field(
        description="the gateway's id of the method: pm_… (Stripe), MD… (GoCardless)"
    )
    gateway_customer_token: Token | None = Field(
        default=None,
        description="the gateway's customer the method is saved to: cus_… (Stripe, needed to charge a "
        "saved card off-session), CU… (GoCardless)",
    )
    details: MethodDetails = Field(default_factory=MethodDetails)
    is_default: bool = False
    metadata: Metadata = Field(default_factory=dict)


class PaymentMethodUpdate(StrictModel):
    """The customer, gateway, type and token are fixed once attached."""

    details: MethodDetails | None = None
    is_default: bool | None = None
    metadata: Metadata | None = None


NOT_NULLABLE = frozenset({"details", "is_default", "metadata"})
