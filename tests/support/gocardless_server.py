"""A local GoCardless: the part of the GoCardless Pro API (version 2015-07-06) that the GoCardless
gateway adapter uses, with GoCardless's request and response shapes, so the adapter is tested
through the real SDK over real HTTP.

    with GoCardlessServer() as gc:
        mandate = gc.add_mandate()
        gateway = GoCardlessGateway(gc.access_token, gc.webhook_secret, api_base=gc.url)

Endpoints: ``POST /payments``, ``GET /payments/{id}``, ``POST /refunds``, ``GET /refunds``
(``?payment=``, cursor-paginated), ``GET /refunds/{id}``, ``GET /mandates/{id}``. Every request
needs ``Authorization: Bearer <access_token>`` and ``GoCardless-Version: 2015-07-06``.

As GoCardless does: a create with an ``Idempotency-Key`` already used answers 409
``invalid_state`` / ``idempotent_creation_conflict`` naming the resource created first; errors
come in the ``{"error": {...}}`` envelope; every answer carries the ``RateLimit-*`` headers.
A created payment is ``pending_submission``; ``settle`` decides it per its mandate's outcome.

Test controls: ``fail_next``, ``fail_after_create_next``, ``delay_next``, ``set_mandate_outcome``,
``settle``, ``charge_back``, ``cancel_mandate``, ``settle_refund``, ``webhook``. All thread-safe.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from tests.support.background_http import serve_in_background, shut_down

API_VERSION = "2015-07-06"
# Local test credentials, nothing real.
ACCESS_TOKEN = "sandbox_local-gocardless-token"
WEBHOOK_SECRET = "local-gocardless-webhook-secret"
DOCS = "https://developer.gocardless.com/api-reference"
RATE_LIMIT = 1000
CURRENCY_SCHEMES = {
    "AUD": "becs",
    "CAD": "pad",
    "DKK": "betalingsservice",
    "EUR": "sepa_core",
    "GBP": "bacs",
    "NZD": "becs_nz",
    "SEK": "autogiro",
    "USD": "ach",
}
# What a failed debit or a charge-back says in each scheme (a few of GoCardless's reason codes).
FAILURE_REASON_CODES = {"bacs": "ARUDD-0", "sepa_core": "AM04", "ach": "R01"}
CHARGEBACK_REASON_CODES = {"bacs": "DDICA-1", "sepa_core": "MD06", "ach": "R10"}
MANDATE_USABLE = frozenset({"pending_customer_approval", "pending_submission", "submitted", "active"})
REFUNDABLE = frozenset({"confirmed", "paid_out"})
Outcome = Literal["confirmed", "failed"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class _Failure:
    status: int
    retry_after: str | None


@dataclass
class _State:
    mandates: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (endpoint, Idempotency-Key) → the id of the resource created with it.
    idempotency: dict[tuple[str, str], str] = field(default_factory=dict)
    created_payments: list[str] = field(default_factory=list)
    created_refunds: list[str] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    fail_after_create: int = 0
    delays: list[float] = field(default_factory=list)


class ApiError(Exception):
    """An error answer in GoCardless's envelope."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        *,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.reason = reason
        self.errors = errors if errors is not None else [{"reason": reason, "message": message}]
        self.headers = dict(headers or {})

    def body(self, request_id: str) -> dict[str, Any]:
        anchor = self.reason or self.error_type
        return {
            "error": {
                "type": self.error_type,
                "code": self.status,
                "message": self.message,
                "documentation_url": f"{DOCS}#{anchor}",
                "request_id": request_id,
                "errors": self.errors,
            }
        }


def _not_found() -> ApiError:
    return ApiError(404, "invalid_api_usage", "Resource not found", reason="resource_not_found")


def _invalid(field_name: str, message: str, pointer: str) -> ApiError:
    return ApiError(
        422,
        "validation_failed",
        "Validation failed",
        [{"field": field_name, "message": message, "request_pointer": pointer}],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GoCardlessServer:
    def __init__(
        self,
        *,
        access_token: str = ACCESS_TOKEN,
        webhook_secret: str = WEBHOOK_SECRET,
        creditor_id: str = "CR000LOCAL0001",
    ) -> None:
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self.creditor_id = creditor_id
        self._lock = threading.Lock()
        self._state = _State()
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> GoCardlessServer:
        self._httpd = _HttpServer(("127.0.0.1", 0), _Handler, self)
        self._thread = serve_in_background(self._httpd, poll_interval=0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()  # wakes up delayed answers
        shut_down(self._httpd, self._thread)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "use GoCardlessServer as a context manager"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- what tests look at --------------------------------------------------------------

    @property
    def payments(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {pid: _copy(p) for pid, p in self._state.payments.items()}

    @property
    def refunds(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {rid: _copy(r) for rid, r in self._state.refunds.items()}

    @property
    def mandates(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {mid: _copy(m) for mid, m in self._state.mandates.items()}

    @property
    def created_payments(self) -> list[dict[str, Any]]:
        """Every payment ever created, in order: what proves a charge was never made twice."""
        with self._lock:
            return [_copy(self._state.payments[pid]) for pid in self._state.created_payments]

    @property
    def created_refunds(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_copy(self._state.refunds[rid]) for rid in self._state.created_refunds]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    # -- test controls -------------------------------------------------------------------

    def add_mandate(
        self,
        mandate_id: str | None = None,
        status: str = "active",
        *,
        scheme: str = "sepa_core",
        outcome: Outcome = "confirmed",
    ) -> str:
        with self._lock:
            mandate_id = mandate_id or self._new_id("MD")
            self._state.mandates[mandate_id] = {
                "id": mandate_id,
                "created_at": _now(),
                "reference": f"BILLOW-{mandate_id[-6:]}",
                "status": status,
                "scheme": scheme,
                "next_possible_charge_date": (datetime.now(UTC).date() + timedelta(days=3)).isoformat(),
                "payments_require_approval": False,
                "metadata": {},
                "links": {
                    "creditor": self.creditor_id,
                    "customer": "CU" + mandate_id[2:],
                    "customer_bank_account": "BA" + mandate_id[2:],
                },
            }
            self._state.outcomes[mandate_id] = outcome
            return mandate_id

    def set_mandate_outcome(self, mandate_id: str, outcome: Outcome) -> None:
        """What payments on the mandate become when they settle."""
        with self._lock:
            if mandate_id not in self._state.mandates:
                raise KeyError(mandate_id)
            self._state.outcomes[mandate_id] = outcome

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` before doing anything: 500 and 503
        in GoCardless's error envelope, 429 with its rate-limit headers, 502 with an HTML page
        (a proxy in the way)."""
        with self._lock:
            self._state.failures.extend(_Failure(status, retry_after) for _ in range(count))

    def fail_after_create_next(self) -> None:
        """The next create goes through, then its answer is a 500: GoCardless took it but the
        caller cannot know."""
        with self._lock:
            self._state.fail_after_create += 1

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Handle the next ``count`` requests, then wait ``seconds`` before answering (a client
        with a shorter timeout gives up on an answer whose work is done)."""
        with self._lock:
            self._state.delays.extend([seconds] * count)

    def settle(self, payment_id: str) -> tuple[bytes, dict[str, str]]:
        """Submit the payment and settle it per its mandate's outcome; the signed webhook
        GoCardless would send (``submitted`` then ``confirmed`` or ``failed``)."""
        with self._lock:
            payment = self._state.payments[payment_id]
            mandate = self._state.mandates[payment["links"]["mandate"]]
            scheme = str(mandate["scheme"])
            events = [
                self._event_locked(
                    "payments",
                    "submitted",
                    {"payment": payment_id},
                    "gocardless",
                    "payment_submitted",
                    "Payment submitted to the banks. As a result, it can no longer be cancelled.",
                )
            ]
            if self._state.outcomes[mandate["id"]] == "confirmed":
                payment["status"] = "confirmed"
                events.append(
                    self._event_locked(
                        "payments",
                        "confirmed",
                        {"payment": payment_id},
                        "gocardless",
                        "payment_confirmed",
                        "Enough time has passed since the payment was submitted for the banks to "
                        "return an error, so this payment is now confirmed.",
                    )
                )
            else:
                payment["status"] = "failed"
                events.append(
                    self._event_locked(
                        "payments",
                        "failed",
                        {"payment": payment_id},
                        "bank",
                        "insufficient_funds",
                        "The customer's account had insufficient funds to make this payment.",
                        scheme=scheme,
                        reason_code=FAILURE_REASON_CODES.get(scheme, "insufficient_funds"),
                    )
                )
        return self.webhook(events)

    def charge_back(self, payment_id: str) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            payment = self._state.payments[payment_id]
            if payment["status"] not in REFUNDABLE:
                raise ValueError(
                    f"{payment_id} is {payment['status']}: only a collected payment is charged back"
                )
            payment["status"] = "charged_back"
            scheme = str(self._state.mandates[payment["links"]["mandate"]]["scheme"])
            event = self._event_locked(
                "payments",
                "charged_back",
                {"payment": payment_id},
                "bank",
                "authorisation_disputed",
                "The customer has disputed that the amount taken from their account was authorised.",
                scheme=scheme,
                reason_code=CHARGEBACK_REASON_CODES.get(scheme, "chargeback"),
            )
        return self.webhook([event])

    def cancel_mandate(self, mandate_id: str) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            self._state.mandates[mandate_id]["status"] = "cancelled"
            event = self._event_locked(
                "mandates",
                "cancelled",
                {"mandate": mandate_id},
                "customer",
                "bank_account_closed",
                "The customer's bank account was closed.",
            )
        return self.webhook([event])

    def settle_refund(
        self, refund_id: str, action: Literal["paid", "failed", "bounced"] = "paid"
    ) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            refund = self._state.refunds[refund_id]
            refund["status"] = action
            cause, description = {
                "paid": ("refund_paid", "The refund has been paid to your customer."),
                "failed": ("refund_failed", "The refund did not reach your customer."),
                "bounced": ("refund_bounced", "The refund was returned by the customer's bank."),
            }[action]
            event = self._event_locked(
                "refunds",
                action,
                {"refund": refund_id, "payment": refund["links"]["payment"]},
                "gocardless",
                cause,
                description,
            )
        return self.webhook([event])

    def event(
        self,
        resource_type: str,
        action: str,
        links: Mapping[str, str],
        *,
        origin: str = "gocardless",
        cause: str | None = None,
        description: str = "",
        scheme: str | None = None,
        reason_code: str | None = None,
    ) -> dict[str, Any]:
        """One event in GoCardless's shape, for ``webhook``."""
        with self._lock:
            return self._event_locked(
                resource_type,
                action,
                links,
                origin,
                cause or f"{resource_type.rstrip('s')}_{action}",
                description,
                scheme=scheme,
                reason_code=reason_code,
            )

    def webhook(self, events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
        """A webhook body and its headers, signed as GoCardless signs them: the hex HMAC-SHA256
        of the body with the endpoint's secret, in ``Webhook-Signature``."""
        with self._lock:
            webhook_id = self._new_id("WB")
        body = json.dumps({"events": events, "meta": {"webhook_id": webhook_id}}).encode()
        signature = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {
            "Content-Type": "application/json",
            "Origin": "https://api.gocardless.com",
            "Webhook-Signature": signature,
        }

    # -- the API -------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, Any] | str, dict[str, str], float]:
        """One request: (status, JSON body or raw text, extra headers, seconds to wait before
        answering)."""
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        try:
            body: Any = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = raw_body.decode(errors="replace")
        lowered = {key.lower(): value for key, value in headers.items()}
        with self._lock:
            self._state.requests.append(RecordedRequest(method, split.path, query, dict(headers), body))
            delay = self._state.delays.pop(0) if self._state.delays else 0.0
            try:
                self._check_headers(lowered)
                if self._state.failures:
                    raise self._failure(self._state.failures.pop(0))
                status, answer = self._route(method, split.path, query, lowered, body)
            except ApiError as err:
                return err.status, err.body(self._new_id("RQ")), err.headers, delay
            except _RawAnswer as raw:
                return raw.status, raw.text, {}, delay
            return status, answer, {}, delay

    def _check_headers(self, headers: Mapping[str, str]) -> None:
        authorization = headers.get("authorization")
        if not authorization:
            raise ApiError(
                401,
                "invalid_api_usage",
                "Authorization header missing",
                reason="missing_authorization_header",
            )
        scheme, _, token = authorization.partition(" ")
        if (
            scheme != "Bearer"
            or not token.startswith("sandbox_")
            or not hmac.compare_digest(token, self.access_token)
        ):
            raise ApiError(
                401, "invalid_api_usage", "Access token not found", reason="access_token_not_found"
            )
        version = headers.get("gocardless-version")
        if not version:
            raise ApiError(
                400, "invalid_api_usage", "GoCardless-Version header missing", reason="missing_version_header"
            )
        if version != API_VERSION:
            raise ApiError(400, "invalid_api_usage", "Version not found", reason="version_not_found")

    def _failure(self, failure: _Failure) -> Exception:
        if failure.status == 429:
            wait = int(failure.retry_after) if failure.retry_after and failure.retry_after.isdigit() else 60
            reset = email.utils.formatdate(time.time() + wait, usegmt=True)
            headers = {
                "RateLimit-Limit": str(RATE_LIMIT),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": reset,
            }
            if failure.retry_after is not None:
                headers["Retry-After"] = failure.retry_after
            return ApiError(
                429, "invalid_api_usage", "Too many requests", reason="rate_limit_exceeded", headers=headers
            )
        if failure.status == 502:
            return _RawAnswer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
        if failure.status == 503:
            return ApiError(
                503, "gocardless", "Service temporarily unavailable", reason="service_unavailable"
            )
        if failure.status >= 500:
            return ApiError(
                failure.status,
                "gocardless",
                "Uh-oh! An internal error occurred. Please try again later.",
                reason="internal_server_error",
            )
        return ApiError(failure.status, "invalid_api_usage", "Bad request", reason="bad_request")

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: Any,
    ) -> tuple[int, dict[str, Any]]:
        parts = [part for part in path.split("/") if part]
        if method == "POST" and parts == ["payments"]:
            return self._create("payments", headers, body, self._new_payment)
        if method == "POST" and parts == ["refunds"]:
            return self._create("refunds", headers, body, self._new_refund)
        if method == "GET" and parts == ["refunds"]:
            return 200, self._list_refunds(query)
        if method == "GET" and len(parts) == 2 and parts[0] in ("payments", "refunds", "mandates"):
            store = {
                "payments": self._state.payments,
                "refunds": self._state.refunds,
                "mandates": self._state.mandates,
            }[parts[0]]
            if parts[1] not in store:
                raise _not_found()
            return 200, {parts[0]: _copy(store[parts[1]])}
        raise _not_found()

    def _create(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        body: Any,
        build: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> tuple[int, dict[str, Any]]:
        key = headers.get("idempotency-key")
        if key is not None and len(key) > 128:
            raise ApiError(
                400, "invalid_api_usage", "Idempotency key too long", reason="idempotency_key_too_long"
            )
        if key is not None and (endpoint, key) in self._state.idempotency:
            existing = self._state.idempotency[(endpoint, key)]
            message = "A resource has already been created with this idempotency key"
            raise ApiError(
                409,
                "invalid_state",
                message,
                [
                    {
                        "reason": "idempotent_creation_conflict",
                        "message": message,
                        "links": {"conflicting_resource_id": existing},
                    }
                ],
                reason="idempotent_creation_conflict",
            )
        if not isinstance(body, dict) or not isinstance(body.get(endpoint), dict):
            raise ApiError(
                400,
                "invalid_api_usage",
                f"Request body must be a JSON object with a '{endpoint}' key",
                reason="invalid_document_structure",
            )
        resource: dict[str, Any] = build(body[endpoint])
        if key is not None:
            self._state.idempotency[(endpoint, key)] = resource["id"]
        if self._state.fail_after_create:
            self._state.fail_after_create -= 1
            raise self._failure(_Failure(500, None))
        return 201, {endpoint: _copy(resource)}

    def _new_payment(self, params: dict[str, Any]) -> dict[str, Any]:
        amount, currency = params.get("amount"), params.get("currency")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise _invalid("amount", "must be a whole number of at least 1", "/payments/amount")
        if currency not in CURRENCY_SCHEMES:
            raise _invalid("currency", "is not a supported currency", "/payments/currency")
        metadata = _check_metadata(params.get("metadata"), "/payments/metadata")
        links = params.get("links") if isinstance(params.get("links"), dict) else {}
        mandate_id = links.get("mandate") if links else None
        if not isinstance(mandate_id, str):
            raise _invalid("links", "mandate must be given", "/payments/links/mandate")
        mandate = self._state.mandates.get(mandate_id)
        if mandate is None:
            raise _not_found()
        if mandate["status"] not in MANDATE_USABLE:
            raise ApiError(
                422,
                "invalid_state",
                "The mandate for this payment was cancelled or has failed",
                reason="mandate_is_inactive",
            )
        payment_id = self._new_id("PM")
        payment = {
            "id": payment_id,
            "created_at": _now(),
            "charge_date": mandate["next_possible_charge_date"],
            "amount": amount,
            "description": params.get("description"),
            "currency": currency,
            "status": "pending_submission",
            "reference": params.get("reference"),
            "metadata": metadata,
            "amount_refunded": 0,
            "fx": {"fx_currency": currency, "fx_amount": None, "exchange_rate": None},
            "links": {"mandate": mandate_id, "creditor": self.creditor_id},
            "retry_if_possible": bool(params.get("retry_if_possible", False)),
            "scheme": mandate["scheme"],
            "faster_ach": False,
        }
        self._state.payments[payment_id] = payment
        self._state.created_payments.append(payment_id)
        return payment

    def _new_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        amount, total = params.get("amount"), params.get("total_amount_confirmation")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise _invalid("amount", "must be a whole number of at least 1", "/refunds/amount")
        if isinstance(total, bool) or not isinstance(total, int):
            raise _invalid(
                "total_amount_confirmation", "must be a whole number", "/refunds/total_amount_confirmation"
            )
        metadata = _check_metadata(params.get("metadata"), "/refunds/metadata")
        links = params.get("links") if isinstance(params.get("links"), dict) else {}
        payment_id = links.get("payment") if links else None
        if not isinstance(payment_id, str):
            raise _invalid("links", "payment must be given", "/refunds/links/payment")
        payment = self._state.payments.get(payment_id)
        if payment is None:
            raise _not_found()
        if payment["status"] not in REFUNDABLE:
            raise ApiError(
                422,
                "invalid_state",
                "A refund can only be made on a confirmed or paid out payment",
                reason="refund_payment_invalid_state",
            )
        if payment["amount_refunded"] + amount > payment["amount"]:
            raise _invalid("amount", "exceeds the amount of the payment left to refund", "/refunds/amount")
        if total != payment["amount_refunded"] + amount:
            raise ApiError(
                422,
                "invalid_state",
                "The total amount confirmation given did not equal the actual total amount",
                reason="total_amount_confirmation_invalid",
            )
        refund_id = self._new_id("RF")
        refund = {
            "id": refund_id,
            "created_at": _now(),
            "amount": amount,
            "currency": payment["currency"],
            "reference": params.get("reference"),
            "metadata": metadata,
            "status": "created",
            "fx": {"fx_currency": payment["currency"], "fx_amount": None, "exchange_rate": None},
            "links": {"payment": payment_id, "mandate": payment["links"]["mandate"]},
        }
        payment["amount_refunded"] += amount
        self._state.refunds[refund_id] = refund
        self._state.created_refunds.append(refund_id)
        return refund

    def _list_refunds(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        payment = query.get("payment", [None])[0]
        after = query.get("after", [None])[0]
        limit_text = query.get("limit", ["50"])[0] or "50"
        limit = int(limit_text) if limit_text.isdigit() and 0 < int(limit_text) <= 500 else 50
        refunds = [
            r for r in self._state.refunds.values() if payment is None or r["links"]["payment"] == payment
        ]
        ids = [r["id"] for r in refunds]
        start = ids.index(after) + 1 if after in ids else 0
        page = refunds[start : start + limit]
        more = start + limit < len(refunds)
        return {
            "refunds": [_copy(r) for r in page],
            "meta": {
                "cursors": {
                    "before": page[0]["id"] if start and page else None,
                    "after": page[-1]["id"] if more else None,
                },
                "limit": limit,
            },
        }

    # -- helpers -------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):012d}"

    def _event_locked(
        self,
        resource_type: str,
        action: str,
        links: Mapping[str, str],
        origin: str,
        cause: str,
        description: str,
        *,
        scheme: str | None = None,
        reason_code: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": self._new_id("EV"),
            "created_at": _now(),
            "resource_type": resource_type,
            "action": action,
            "links": dict(links),
            "details": {
                "origin": origin,
                "cause": cause,
                "description": description,
                "scheme": scheme,
                "reason_code": reason_code,
            },
            "metadata": {},
        }

    def closing(self) -> threading.Event:
        return self._closing


class _RawAnswer(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _copy(resource: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(resource))
    return copied


def _check_metadata(metadata: Any, pointer: str) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or len(metadata) > 3:
        raise _invalid("metadata", "must be an object of at most 3 keys", pointer)
    for key, value in metadata.items():
        if len(key) > 50 or not isinstance(value, str) or len(value) > 500:
            raise _invalid("metadata", "keys must be up to 50 characters and values up to 500", pointer)
    return dict(metadata)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # 16 racing clients must not overflow the listen backlog

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: GoCardlessServer
    ) -> None:
        self.app = app
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "GoCardless-local"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        app = self.server.app
        status, answer, headers, delay = app.handle(method, self.path, dict(self.headers.items()), raw)
        if delay:
            app.closing().wait(delay)
        if isinstance(answer, str):
            payload, content_type = answer.encode(), "text/html"
        else:
            payload, content_type = json.dumps(answer).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in _rate_limit_headers(headers).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the request log is GoCardlessServer.requests


def _rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    reset = email.utils.formatdate(time.time() + 60, usegmt=True)
    defaults = {
        "RateLimit-Limit": str(RATE_LIMIT),
        "RateLimit-Remaining": str(RATE_LIMIT - 1),
        "RateLimit-Reset": reset,
    }
    return {**defaults, **headers}
