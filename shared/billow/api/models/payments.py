"""Request models of payments, refunds and test payment simulations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class InvoicePay(StrictModel):
    payment_method_id: Id | None = Field(
        default=None,
        description="a payment method of the invoice's customer; default: the customer's default",
    )


class ManualPaymentCreate(StrictModel):
    amount: Any = Field(description="a decimal string in the invoice's currency, at most what is left to pay")
    method: Literal["bank_transfer", "cash", "check", "other"]
    reference: Text | None = Field(default=None, description="the payer's reference, e.g. a bank transfer's")
    metadata: Metadata = Field(default_factory=dict)


class RefundCreate(StrictModel):
    payment_id: Id
    amount: Any = Field(default=None, description="a decimal string; default: all that is left to refund")
    reason: Literal["duplicate", "fraudulent", "requested_by_customer", "other"] | None = None
    memo: Text | None = Field(default=None, description="the text of the credit note's line")
    metadata: Metadata = Field(default_factory=dict)


class PaymentSimulationCreate(StrictModel):
    outcome: Literal["succeed", "fail", "require_action", "charge_back"]
    payment_method_id: Id | None = Field(
        default=None, description="force the next charge of this sandbox payment method"
    )
    payment_id: Id | None = Field(
        default=None, description="or report this outcome of an existing payment now"
    )
    decline_code: (
        Literal[
            "generic_decline",
            "insufficient_funds",
            "lost_card",
            "stolen_card",
            "expired_card",
            "do_not_honor",
        ]
        | None
    ) = None
