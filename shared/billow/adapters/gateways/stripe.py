"""The Stripe gateway: charges, refunds and webhooks through Stripe's own SDK (``stripe``).

Each gateway has its own ``StripeClient``: several tenants' keys live in one process, so the
SDK's global ``stripe.api_key`` is never set. The secret key stays inside that client; no
message, log line or ``repr`` carries it.

A charge is one PaymentIntent, created and confirmed off-session in one call, under Billow's
idempotency key. Stripe keeps the first response to a key and answers a repeat with it, so
repeating a charge after a timeout never charges twice. Amounts go in Stripe's minor units:
the ISO 4217 exponent, except where Stripe differs (ISK counts in hundredths, MGA in whole
units); a three-decimal amount must end in 0 (Stripe refuses anything else).

| Stripe answers | Billow gets |
|---|---|
| PaymentIntent `succeeded` | `succeeded` |
| `processing` (a bank debit), `requires_capture` | `processing` |
| `requires_action` | `requires_action`, the URL of `next_action.redirect_to_url` if any |
| `requires_payment_method`, `canceled` | `failed`, the failure from `last_payment_error` |
| 402 card error | `failed` with Stripe's code, message and decline code; its PaymentIntent as reference |
| 402 `authentication_required` | `requires_action`: the customer must come back on-session |
| 429, 5xx, 409 (the key is busy), a timeout, no connection | `GatewayUnavailable` (with Retry-After) |
| 400, 401, 403, 404 | `GatewayRefused` with Stripe's error code |
| `idempotency_error` (the key was used with other parameters) | `GatewayRefused("idempotency_key_in_use")` |

Webhooks are checked with the SDK's ``construct_event`` (HMAC-SHA256 signature, timestamp
no older than 300 s) and become events:

| Stripe event | kind, reference, status |
|---|---|
| `payment_intent.succeeded`, `.processing`, `.requires_action` | charge, the PaymentIntent, that status |
| `payment_intent.payment_failed`, `.canceled` | charge, the PaymentIntent, `failed` with a failure |
| `refund.created`, `.updated`, `.failed`, `charge.refund.updated` | refund, the `re_…`, its status |
| `charge.dispute.created` | dispute, the PaymentIntent, `charged_back` (`inquiry`: no money taken yet) |
| `charge.dispute.closed` | dispute, the PaymentIntent, `won` or `lost` (`inquiry_closed`) |
| any other type | none: acknowledged and ignored |
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn

import stripe

from billow.domain.money import Money, is_currency, minor_units
from billow.domain.payment import PaymentFailure, PaymentStatus
from billow.ports.gateways import (
    ChargeOutcome,
    ChargeRequest,
    GatewayEvent,
    GatewayRefused,
    GatewayUnavailable,
    RefundOutcome,
)

RefundStatus = Literal["pending", "succeeded", "failed"]

# Where Stripe's minor unit is not ISO 4217's (docs.stripe.com/currencies, special cases).
_STRIPE_EXPONENTS = {"ISK": 2, "MGA": 0}

_INTENT_STATUSES: dict[str, PaymentStatus] = {
    "succeeded": "succeeded",
    "processing": "processing",
    # Billow captures at once; an authorised, uncaptured intent is still on its way.
    "requires_capture": "processing",
    "requires_action": "requires_action",
    "requires_confirmation": "pending",
    "requires_payment_method": "failed",
    "canceled": "failed",
}
_INTENT_EVENTS: dict[str, PaymentStatus] = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.processing": "processing",
    "payment_intent.requires_action": "requires_action",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "failed",
}
_REFUND_STATUSES: dict[str, RefundStatus] = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})
_CLOSED_DISPUTES = {"won": "won", "lost": "lost", "warning_closed": "inquiry_closed"}


def stripe_exponent(currency: str) -> int:
    """Decimal places of the unit Stripe counts ``currency`` in."""
    code = currency.upper()
    if code in _STRIPE_EXPONENTS:
        return _STRIPE_EXPONENTS[code]
    return minor_units(code) if is_currency(code) else 2


def to_minor(amount: Money) -> int:
    """The integer amount Stripe expects: 49.00 EUR is 4900, 5000 JPY is 5000, 1.250 KWD is 1250."""
    scaled = amount.amount.scaleb(stripe_exponent(amount.currency))
    if scaled != scaled.to_integral_value():
        raise GatewayRefused(
            "invalid_amount", f"{amount.amount} {amount.currency} has more decimals than Stripe takes"
        )
    return int(scaled)


def from_minor(value: int, currency: str) -> Money:
    code = currency.upper()
    return Money(Decimal(value).scaleb(-stripe_exponent(code)), code)


class StripeGateway:
    def __init__(
        self,
        secret_key: str,
        webhook_secret: str | None,
        *,
        api_base: str | None = None,
        timeout_seconds: float = 20.0,
        max_network_retries: int = 0,
    ) -> None:
        self._api_base = api_base
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
            max_network_retries=max_network_retries,
        )

    def __repr__(self) -> str:
        return f"StripeGateway(api_base={self._api_base!r})"

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": to_minor(request.amount),
            "currency": request.amount.currency.lower(),
            "payment_method": request.payment_method_token,
            "confirm": True,
            "off_session": True,
            # Off-session there is nobody to redirect: without this Stripe wants a return_url.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        if request.customer_token:
            params["customer"] = request.customer_token
        try:
            intent = self._client.v1.payment_intents.create(
                params, {"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as err:
            return _declined(err)
        except stripe.StripeError as err:
            _raise_for(err)
        return _charge_outcome(intent.to_dict())

    def refund(self, charge_reference: str, amount: Money, idempotency_key: str) -> RefundOutcome:
        params: stripe.params.RefundCreateParams = {"amount": to_minor(amount)}
        if charge_reference.startswith(("ch_", "py_")):
            params["charge"] = charge_reference
        else:
            params["payment_intent"] = charge_reference
        try:
            refund = self._client.v1.refunds.create(params, {"idempotency_key": idempotency_key})
        except stripe.StripeError as err:
            _raise_for(err)
        return _refund_outcome(refund.to_dict())

    def verify_webhook(self, payload: bytes, headers: Mapping[str, str]) -> list[GatewayEvent]:
        signature = next(
            (value for name, value in headers.items() if name.lower() == "stripe-signature"), None
        )
        if not self._webhook_secret:
            raise GatewayRefused(
                "invalid_signature", "this Stripe gateway has no webhook secret to check with"
            )
        if not signature:
            raise GatewayRefused("invalid_signature", "the Stripe-Signature header is missing")
        try:
            body = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise GatewayRefused(
                "invalid_signature", "the body is not UTF-8: Stripe did not sign it"
            ) from None
        try:
            event = self._client.construct_event(body, signature, self._webhook_secret)
        except stripe.SignatureVerificationError as err:
            raise GatewayRefused("invalid_signature", _message(err, "the signature does not match")) from None
        except ValueError:
            # Signed, but not a snapshot event (not JSON, or a thin v2 notification).
            raise GatewayRefused("invalid_payload", "the webhook body is not a Stripe event") from None
        return _events(event.id, event.type, event.data.object.to_dict())


def _message(err: stripe.StripeError, default: str) -> str:
    detail = err.error.message if err.error is not None else None
    return str(detail or err.user_message or default)


def _error_body(err: stripe.StripeError) -> dict[str, Any]:
    body = err.json_body
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_after(err: stripe.StripeError) -> float | None:
    value = next((v for k, v in (err.headers or {}).items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _raise_for(err: stripe.StripeError) -> NoReturn:
    """The port's exception for an error that is not a decline."""
    code = err.code or _error_body(err).get("code")
    if isinstance(err, stripe.IdempotencyError):
        # The name the sandbox gateway uses too: callers need not know which gateway refused.
        raise GatewayRefused("idempotency_key_in_use", _message(err, "the key was used for another request"))
    if isinstance(err, stripe.RateLimitError):
        raise GatewayUnavailable(
            _message(err, "Stripe is rate limiting this account"), retry_after_seconds=_retry_after(err)
        )
    if isinstance(err, stripe.APIConnectionError):
        raise GatewayUnavailable("Stripe did not answer (timeout or connection failure)") from err
    if isinstance(err, stripe.AuthenticationError):
        # Stripe's message quotes part of the key: keep it (and the cause) out.
        raise GatewayRefused(code or "invalid_api_key", "Stripe refused the gateway's API key") from None
    if isinstance(err, stripe.PermissionError):
        raise GatewayRefused(
            code or "permission_denied", "the gateway's API key may not do this (a restricted key?)"
        ) from None
    if isinstance(err, stripe.InvalidRequestError | stripe.CardError):
        raise GatewayRefused(code or "invalid_request", _message(err, "Stripe refused the request"))
    if isinstance(err, stripe.APIError) or err.http_status is None or err.http_status >= 500:
        # 5xx, 409 (another request holds the key, a lock timed out), an unreadable answer.
        raise GatewayUnavailable(
            _message(err, "Stripe failed to answer"), retry_after_seconds=_retry_after(err)
        )
    raise GatewayRefused(code or "stripe_error", _message(err, "Stripe refused the request"))


def _declined(err: stripe.CardError) -> ChargeOutcome:
    error = _error_body(err)
    intent = error.get("payment_intent")
    intent = intent if isinstance(intent, dict) else None
    charge = error.get("charge")
    reference = str(intent["id"]) if intent else charge if isinstance(charge, str) else ""
    code = err.code or error.get("code") or "card_declined"
    if code == "authentication_required":
        # Off-session 3-D Secure: nothing to redirect to now, the customer must pay on-session.
        return ChargeOutcome("requires_action", reference, next_action_url=_redirect_url(intent))
    failure = PaymentFailure(str(code), _message(err, "The card was declined."), error.get("decline_code"))
    return ChargeOutcome("failed", reference, failure=failure)


def _redirect_url(intent: Mapping[str, Any] | None) -> str | None:
    action = (intent or {}).get("next_action") or {}
    redirect = action.get("redirect_to_url") or {}
    url = redirect.get("url")
    return url if isinstance(url, str) else None


def _failure(obj: Mapping[str, Any]) -> PaymentFailure:
    error = obj.get("last_payment_error")
    if isinstance(error, Mapping):
        return PaymentFailure(
            str(error.get("code") or "payment_failed"),
            str(error.get("message") or "The payment failed."),
            error.get("decline_code"),
        )
    if obj.get("status") == "canceled":
        reason = obj.get("cancellation_reason") or "no reason given"
        return PaymentFailure("canceled", f"The payment was canceled ({reason}).")
    return PaymentFailure("payment_failed", "The payment method was not charged.")


def _charge_outcome(intent: Mapping[str, Any]) -> ChargeOutcome:
    # A status Stripe adds later is treated as not settled yet: a webhook will settle it.
    status = _INTENT_STATUSES.get(str(intent.get("status")), "processing")
    reference = str(intent["id"])
    if status == "failed":
        return ChargeOutcome("failed", reference, failure=_failure(intent))
    if status == "requires_action":
        return ChargeOutcome("requires_action", reference, next_action_url=_redirect_url(intent))
    return ChargeOutcome(status, reference)


def _refund_outcome(refund: Mapping[str, Any]) -> RefundOutcome:
    status = _REFUND_STATUSES.get(str(refund.get("status")), "pending")
    failure = None
    if status == "failed":
        reason = str(refund.get("failure_reason") or refund.get("status") or "refund_failed")
        failure = PaymentFailure(reason, f"Stripe could not send the refund back ({reason}).")
    return RefundOutcome(status, str(refund["id"]), failure)


def _amount(obj: Mapping[str, Any]) -> Money | None:
    amount, currency = obj.get("amount"), obj.get("currency")
    if isinstance(amount, int) and isinstance(currency, str):
        return from_minor(amount, currency)
    return None


def _id_of(value: object) -> str | None:
    """An expandable field: an id, or the expanded object."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _events(event_id: str, event_type: str, obj: dict[str, Any]) -> list[GatewayEvent]:
    if event_type in _INTENT_EVENTS:
        status = _INTENT_EVENTS[event_type]
        failure = _failure(obj) if status == "failed" else None
        payment_id = (obj.get("metadata") or {}).get("billow_payment_id")
        return [
            GatewayEvent(
                event_id,
                "charge",
                str(obj["id"]),
                status,
                failure,
                _amount(obj),
                billow_payment_id=payment_id,
            )
        ]
    if event_type in _REFUND_EVENTS:
        refund = _refund_outcome(obj)
        return [
            GatewayEvent(event_id, "refund", refund.reference, refund.status, refund.failure, _amount(obj))
        ]
    if event_type in ("charge.dispute.created", "charge.dispute.closed"):
        # Billow knows the payment by its PaymentIntent; only a charge made without one has none.
        reference = _id_of(obj.get("payment_intent")) or _id_of(obj.get("charge")) or str(obj["id"])
        dispute_status = str(obj.get("status"))
        if event_type == "charge.dispute.created":
            # A warning_* dispute is an inquiry: the card network has not taken the money back.
            outcome = "inquiry" if dispute_status.startswith("warning_") else "charged_back"
        else:
            outcome = _CLOSED_DISPUTES.get(dispute_status, dispute_status)
        return [GatewayEvent(event_id, "dispute", reference, outcome, None, _amount(obj))]
    return []
