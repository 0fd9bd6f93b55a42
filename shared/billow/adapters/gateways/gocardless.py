"""The GoCardless gateway: bank debits against a mandate, through the official SDK (gocardless-pro).

The payment method token is a GoCardless mandate id (``MD…``); the charge reference is the
GoCardless payment id (``PM…``). A bank debit never settles when it is created, so a charge
answers ``processing`` and the outcome arrives later as a webhook.

Payment statuses (on ``charge``):

| GoCardless payment status | Billow |
|---|---|
| pending_customer_approval, pending_submission, submitted | processing |
| confirmed, paid_out | succeeded |
| failed, cancelled, customer_approval_denied | failed |
| charged_back | charged_back |

Refund statuses (on ``refund``): created, pending_submission, submitted → pending; paid,
refund_settled → succeeded; cancelled, failed, bounced, funds_returned → failed.

Webhook events (on ``verify_webhook``), one ``GatewayEvent`` per event of the batch, its id the
GoCardless event id (``EV…``), its reference ``links.payment``, ``links.refund`` or
``links.mandate`` after the resource type:

| resource_type | action | kind | status |
|---|---|---|---|
| payments | confirmed, paid_out | charge | succeeded |
| payments | created, submitted, customer_approval_granted | charge | processing |
| payments | failed, cancelled, customer_approval_denied, late_failure_settled | charge | failed |
| payments | charged_back | dispute | charged_back |
| refunds | created | refund | pending |
| refunds | paid, refund_settled | refund | succeeded |
| refunds | failed, cancelled, bounced, funds_returned | refund | failed |
| mandates | cancelled, failed, expired | mandate | the action |

Any other event is skipped. A failure comes from the event's ``details``: ``cause`` as the
code, ``description`` as the message, the scheme's ``reason_code`` as the decline code.

Errors: GoCardless refusing the request (validation_failed, invalid_api_usage, invalid_state,
401, 403) raises ``GatewayRefused`` with the first ``errors[].reason`` (else the error type);
429, 5xx, malformed answers, connection errors and timeouts raise ``GatewayUnavailable``.

Retries: the SDK itself repeats a request that timed out, lost its connection or got a body
that is not JSON (3 attempts, 0.5 s apart) with the same Idempotency-Key, and resolves a 409
``idempotent_creation_conflict`` by fetching the resource created first. It never repeats an
answered 5xx or 429. So ``timeout_seconds`` bounds one attempt, not the whole call (at worst
about three timeouts and 1 s). Repeating a charge with the same idempotency key answers the payment
created first and never creates another one; if that payment is for another amount, currency
or mandate, the key was reused and the charge is refused (``idempotency_key_in_use``).

Metadata: GoCardless takes at most 3 keys (up to 50 characters, values up to 500): the first 3
keys that fit are sent, longer values cut.

Refunds: GoCardless wants ``total_amount_confirmation``, the payment's refunded total
including the new refund, so two processes cannot both refund unawares. We read it from the
payment's ``amount_refunded`` (GoCardless's own running total) just before creating the
refund; a refund racing another one is refused (``total_amount_confirmation_invalid``)
rather than sent twice.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, NoReturn, TypeVar

import gocardless_pro  # type: ignore[import-untyped]
import requests
from gocardless_pro import errors as gc_errors
from gocardless_pro import webhooks as gc_webhooks
from gocardless_pro.api_client import ApiClient  # type: ignore[import-untyped]

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

T = TypeVar("T")
RefundStatus = Literal["pending", "succeeded", "failed"]

_PAYMENT_STATUSES: dict[str, PaymentStatus] = {
    "pending_customer_approval": "processing",
    "pending_submission": "processing",
    "submitted": "processing",
    "confirmed": "succeeded",
    "paid_out": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
    "customer_approval_denied": "failed",
    "charged_back": "charged_back",
}
_REFUND_STATUSES: dict[str, RefundStatus] = {
    "created": "pending",
    "pending_submission": "pending",
    "submitted": "pending",
    "paid": "succeeded",
    "refund_settled": "succeeded",
    "cancelled": "failed",
    "failed": "failed",
    "bounced": "failed",
    "funds_returned": "failed",
}
_PAYMENT_EVENTS: dict[str, PaymentStatus] = {
    "confirmed": "succeeded",
    "paid_out": "succeeded",
    "created": "processing",
    "submitted": "processing",
    "customer_approval_granted": "processing",
    "failed": "failed",
    "cancelled": "failed",
    "customer_approval_denied": "failed",
    "late_failure_settled": "failed",
}
_REFUND_EVENTS: dict[str, RefundStatus] = {
    "created": "pending",
    "paid": "succeeded",
    "refund_settled": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
    "bounced": "failed",
    "funds_returned": "failed",
}
_MANDATE_EVENTS = frozenset({"cancelled", "failed", "expired"})

# GoCardless metadata: at most 3 keys, keys up to 50 characters, values up to 500.
_METADATA_KEYS = 3
_METADATA_KEY_LENGTH = 50
_METADATA_VALUE_LENGTH = 500
_PAYMENT_ID = re.compile(r"PM[0-9A-Z]{1,40}")


class _ApiClient(ApiClient):  # type: ignore[misc]
    """The SDK's HTTP client, keeping the headers of an error answer on the exception: the SDK
    drops them, and a 429's rate-limit reset is only in the headers. (gocardless-pro is pinned;
    ``_handle_errors`` is where its 3.22.0 client turns an answer into an exception.)"""

    def _handle_errors(self, response: requests.Response) -> None:
        try:
            super()._handle_errors(response)
        except gc_errors.ApiError as err:
            err.billow_response_headers = dict(response.headers)
            raise


class GoCardlessGateway:
    def __init__(
        self,
        access_token: str,
        webhook_secret: str | None,
        *,
        api_base: str | None = None,
        timeout_seconds: float = 20.0,
    ) -> None:
        if access_token.startswith("sandbox_"):
            environment = "sandbox"
        elif access_token.startswith("live_"):
            environment = "live"
        else:
            # Never repeat the token itself.
            raise ValueError("a GoCardless access token starts with sandbox_ or live_")
        self._token = access_token
        self._webhook_secret = webhook_secret
        self.environment = environment
        # One client per gateway: tenants in one process each have their own token.
        client = gocardless_pro.Client(
            access_token=access_token, environment=environment, base_url=api_base, timeout=timeout_seconds
        )
        inner = client._api_client
        client._api_client = _ApiClient(inner.base_url, access_token, timeout=inner.timeout)
        self._client: Any = client

    # -- charges -------------------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        amount = _to_minor(request.amount)
        currency = request.amount.currency.upper()
        mandate = request.payment_method_token
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "description": request.description,
            "links": {"mandate": mandate},
            "metadata": _metadata(request.metadata),
        }
        payment = self._call(
            lambda: self._client.payments.create(
                params=params, headers={"Idempotency-Key": request.idempotency_key}
            )
        )
        attributes = _attributes(payment)
        # On a repeated key GoCardless answers the payment created first, whatever was asked:
        # a key reused for another charge must not pass for this one.
        links = attributes.get("links") or {}
        if (attributes.get("amount"), attributes.get("currency"), links.get("mandate")) != (
            amount,
            currency,
            mandate,
        ):
            raise GatewayRefused(
                "idempotency_key_in_use", "the idempotency key was already used for another payment"
            )
        return _charge_outcome(attributes)

    # -- refunds -------------------------------------------------------------------------

    def refund(self, charge_reference: str, amount: Money, idempotency_key: str) -> RefundOutcome:
        if not _PAYMENT_ID.fullmatch(charge_reference):
            raise GatewayRefused("resource_not_found", "a GoCardless payment id starts with PM")
        payment = _attributes(self._call(lambda: self._client.payments.get(charge_reference)))
        currency = amount.currency.upper()
        if payment.get("currency") != currency:
            raise GatewayRefused(
                "currency_mismatch", f"the payment is in {payment.get('currency')}, not {currency}"
            )
        minor = _to_minor(amount)
        already = _int_field(payment, "amount_refunded", default=0)
        params = {
            "amount": minor,
            "total_amount_confirmation": already + minor,
            "links": {"payment": charge_reference},
        }
        refund = _attributes(
            self._call(
                lambda: self._client.refunds.create(
                    params=params, headers={"Idempotency-Key": idempotency_key}
                )
            )
        )
        links = refund.get("links") or {}
        if (refund.get("amount"), links.get("payment")) != (minor, charge_reference):
            raise GatewayRefused(
                "idempotency_key_in_use", "the idempotency key was already used for another refund"
            )
        status = _REFUND_STATUSES.get(str(refund.get("status")), "pending")
        failure = (
            PaymentFailure(f"refund_{refund.get('status')}", "GoCardless reports the refund failed")
            if status == "failed"
            else None
        )
        return RefundOutcome(status, _str_field(refund, "id"), failure)

    # -- webhooks ------------------------------------------------------------------------

    def verify_webhook(self, payload: bytes, headers: Mapping[str, str]) -> list[GatewayEvent]:
        signature = next((v for k, v in headers.items() if k.lower() == "webhook-signature"), None)
        if not self._webhook_secret:
            raise GatewayRefused("invalid_signature", "no GoCardless webhook secret is configured")
        if not signature:
            raise GatewayRefused("invalid_signature", "the Webhook-Signature header is missing")
        if not signature.isascii():
            # hmac.compare_digest, inside the SDK, raises TypeError on non-ASCII text.
            raise GatewayRefused("invalid_signature", "the webhook signature does not match")
        try:
            events = gc_webhooks.parse(payload, self._webhook_secret, signature)
        except gc_errors.InvalidSignatureError as err:
            raise GatewayRefused("invalid_signature", "the webhook signature does not match") from err
        except (ValueError, KeyError, TypeError) as err:
            raise GatewayRefused(
                "invalid_payload", "the webhook body is not a GoCardless event batch"
            ) from err
        mapped = (_event(event.attributes) for event in events if isinstance(event.attributes, dict))
        return [event for event in mapped if event is not None]

    # -- errors --------------------------------------------------------------------------

    def _call(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except gc_errors.ApiError as err:
            self._raise_api_error(err)
        except gc_errors.MalformedResponseError as err:
            raise GatewayUnavailable(
                self._clean(f"GoCardless sent a malformed answer (HTTP {err.status_code})")
            ) from err
        except requests.Timeout as err:
            raise GatewayUnavailable("GoCardless did not answer in time") from err
        except requests.RequestException as err:
            raise GatewayUnavailable(
                self._clean(f"GoCardless could not be reached: {type(err).__name__}")
            ) from err
        except gc_errors.GoCardlessProError as err:
            # An error type the SDK does not know: the answer cannot be trusted either way.
            raise GatewayUnavailable(self._clean(f"GoCardless sent an unexpected answer: {err}")) from err

    def _raise_api_error(self, err: Any) -> NoReturn:
        detail = self._clean(_error_detail(err))
        if isinstance(err, gc_errors.RateLimitError):
            headers = getattr(err, "billow_response_headers", None) or {}
            raise GatewayUnavailable(detail, retry_after_seconds=_retry_after(headers)) from err
        if isinstance(err, gc_errors.GoCardlessInternalError):
            raise GatewayUnavailable(detail) from err
        refusals = (
            gc_errors.ValidationFailedError,
            gc_errors.InvalidApiUsageError,
            gc_errors.InvalidStateError,
            gc_errors.AuthenticationError,
            gc_errors.PermissionsError,
        )
        if isinstance(err, refusals):
            raise GatewayRefused(_error_code(err), detail) from err
        # A plain ApiError: GoCardless sent a bare message, judge it by the HTTP status.
        status = err.code if isinstance(err.code, int) else 500
        if status >= 500:
            raise GatewayUnavailable(detail) from err
        raise GatewayRefused(_error_code(err), detail) from err

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "[access token]")


# -- mapping helpers ---------------------------------------------------------------------


def _to_minor(amount: Money) -> int:
    currency = amount.currency.upper()
    if not is_currency(currency):
        raise GatewayRefused("currency_not_supported", f"{currency} is not an ISO 4217 currency")
    return int(Money(amount.amount, currency).rounded().amount.scaleb(minor_units(currency)))


def _metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The first keys that GoCardless takes (3 at most); longer values are cut, longer keys left out."""
    kept: dict[str, str] = {}
    for key, value in metadata.items():
        if len(kept) == _METADATA_KEYS:
            break
        if 0 < len(key) <= _METADATA_KEY_LENGTH:
            kept[key] = str(value)[:_METADATA_VALUE_LENGTH]
    return kept


def _attributes(resource: Any) -> dict[str, Any]:
    attributes = getattr(resource, "attributes", None)
    if not isinstance(attributes, dict) or not isinstance(attributes.get("id"), str):
        raise GatewayUnavailable("GoCardless answered without the resource")
    return attributes


def _str_field(attributes: Mapping[str, Any], name: str) -> str:
    return str(attributes[name])


def _int_field(attributes: Mapping[str, Any], name: str, *, default: int) -> int:
    value = attributes.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise GatewayUnavailable(f"GoCardless sent a {name} that is not a whole number")
    return value


def _failure(details: Any, fallback: str) -> PaymentFailure:
    details = details if isinstance(details, dict) else {}
    return PaymentFailure(
        str(details.get("cause") or fallback),
        str(details.get("description") or f"GoCardless reports: {fallback}"),
        str(details["reason_code"]) if details.get("reason_code") else None,
    )


def _charge_outcome(payment: Mapping[str, Any]) -> ChargeOutcome:
    raw = str(payment.get("status"))
    # A status this adapter does not know yet is still a payment on its way, not a settled one.
    status = _PAYMENT_STATUSES.get(raw, "processing")
    failure = _failure(payment.get("details"), raw) if status == "failed" else None
    return ChargeOutcome(status, _str_field(payment, "id"), failure)


def _event(event: Mapping[str, Any]) -> GatewayEvent | None:
    event_id, action, resource = event.get("id"), event.get("action"), event.get("resource_type")
    links = event.get("links") or {}
    if not isinstance(event_id, str) or not isinstance(action, str) or not isinstance(links, dict):
        return None
    details = event.get("details")
    if resource == "payments" and isinstance(links.get("payment"), str):
        reference = links["payment"]
        if action == "charged_back":
            return GatewayEvent(event_id, "dispute", reference, "charged_back")
        if action in _PAYMENT_EVENTS:
            status = _PAYMENT_EVENTS[action]
            failure = _failure(details, action) if status == "failed" else None
            return GatewayEvent(event_id, "charge", reference, status, failure)
    elif resource == "refunds" and action in _REFUND_EVENTS and isinstance(links.get("refund"), str):
        refund_status = _REFUND_EVENTS[action]
        failure = _failure(details, action) if refund_status == "failed" else None
        return GatewayEvent(event_id, "refund", links["refund"], refund_status, failure)
    elif resource == "mandates" and action in _MANDATE_EVENTS and isinstance(links.get("mandate"), str):
        failure = _failure(details, action) if isinstance(details, dict) and details.get("cause") else None
        return GatewayEvent(event_id, "mandate", links["mandate"], action, failure)
    return None


def _error_code(err: Any) -> str:
    for item in err.errors or []:
        if isinstance(item, dict) and item.get("reason"):
            return str(item["reason"])
    return str(err.type or "gocardless_error")


def _error_detail(err: Any) -> str:
    try:
        text = str(err)
    except (KeyError, TypeError):
        # The SDK formats validation errors with fields it assumes are present.
        text = str(err.message or "")
    request_id = f" (request {err.request_id})" if err.request_id else ""
    return f"GoCardless: {text or err.type or 'error'}{request_id}"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from Retry-After or GoCardless's RateLimit-Reset (an HTTP date)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in ("retry-after", "ratelimit-reset"):
        value = lowered.get(name, "").strip()
        if not value:
            continue
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return max(0.0, when.timestamp() - time.time())
    return None
