"""The payment-gateway port: one interface in front of Stripe, GoCardless and the sandbox
gateway (adapters fill it in). Billow never holds card or bank data, only the gateway's token
for a payment method and the gateway's reference of each charge.

Every call that moves money carries an idempotency key (domain/payment.attempt_key for a
charge): a gateway that sees the same key twice answers with the first outcome instead of
charging again, which is what makes a retry after a timeout safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from billow.domain.gateway import GatewayConfig
    from billow.domain.money import Money
    from billow.domain.payment import PaymentFailure, PaymentStatus
    from billow.domain.tenancy import Scope


class GatewayUnavailable(Exception):
    """The gateway did not answer for sure (timeout, 5xx, rate limited): the charge may or may
    not have happened. Repeat the same call with the same idempotency key to find out."""

    def __init__(self, detail: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_seconds = retry_after_seconds


class GatewayRefused(Exception):
    """The gateway refused the request itself (bad credentials, an unknown payment method, an
    unsupported currency): repeating it cannot help."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ChargeRequest:
    amount: Money
    payment_method_token: str
    idempotency_key: str
    description: str
    # The gateway's customer object, where the gateway has one (Stripe, GoCardless).
    customer_token: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeOutcome:
    """What the gateway said about a charge: settled (succeeded, failed), on its way
    (processing: a bank debit), or waiting for the customer (requires_action)."""

    status: PaymentStatus
    reference: str
    failure: PaymentFailure | None = None
    next_action_url: str | None = None


@dataclass(frozen=True)
class RefundOutcome:
    status: Literal["pending", "succeeded", "failed"]
    reference: str
    failure: PaymentFailure | None = None


@dataclass(frozen=True)
class GatewayEvent:
    """A verified notification from the gateway about one of its objects."""

    id: str  # the gateway's event id: a redelivery has the same one
    kind: Literal["charge", "refund", "dispute", "mandate"]
    reference: str  # the charge (or refund, ...) it is about
    status: str
    failure: PaymentFailure | None = None
    amount: Money | None = None
    # The payment Billow sent with the charge (its metadata), for a charge whose answer was
    # lost before Billow learnt the gateway's reference.
    billow_payment_id: str | None = None


@runtime_checkable
class OutcomeForcing(Protocol):
    """A test gateway whose next charge of a payment method can be told its outcome
    (``/v1/test-payment-simulations``); only the sandbox gateway is one."""

    def force_next(
        self, simulation_id: str, payment_method_token: str, outcome: str, decline_code: str | None
    ) -> None: ...


class GatewayDirectory(Protocol):
    def gateway(self, scope: Scope, config: GatewayConfig) -> PaymentGateway:
        """The adapter that speaks for this gateway configuration, with its credentials."""
        ...


class PaymentGateway(Protocol):
    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        """Charge the payment method, off-session. Raises GatewayUnavailable when the outcome
        is unknown and GatewayRefused when the request itself is wrong."""
        ...

    def refund(self, charge_reference: str, amount: Money, idempotency_key: str) -> RefundOutcome:
        """Send ``amount`` of a charge back to the payer."""
        ...

    def verify_webhook(self, payload: bytes, headers: Mapping[str, str]) -> list[GatewayEvent]:
        """The events of an inbound webhook, once its signature checks out (else GatewayRefused
        with code ``invalid_signature``)."""
        ...
