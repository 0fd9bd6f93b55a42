"""A local Stripe: the part of Stripe's v1 HTTP API that the Stripe gateway adapter uses, with
Stripe's documented request and response shapes, so the adapter runs through the real SDK.

    with StripeServer() as stripe_api:
        gateway = StripeGateway("sk_test_…", stripe_api.webhook_secret, api_base=stripe_api.url)

Served: ``POST /v1/payment_intents`` (create, and confirm with ``confirm=true``),
``GET /v1/payment_intents/{id}``, ``POST /v1/refunds``, ``GET /v1/refunds/{id}``. Requests are
form-encoded as the SDK sends them (``metadata[k]=v``); ``Authorization: Bearer sk_test_…`` (or
``rk_test_…``, or one of ``api_keys``) is required, and each key is its own account: objects
of one key are missing for another.

What a confirmation does depends on the payment method, as with Stripe's test PaymentMethods:

| payment method | outcome |
|---|---|
| `pm_card_chargeDeclined` | 402 `card_declined` / `generic_decline` |
| `pm_card_chargeDeclinedInsufficientFunds` | 402 `card_declined` / `insufficient_funds` |
| `pm_card_chargeDeclinedExpiredCard` | 402 `expired_card` |
| `pm_card_authenticationRequired`, `pm_card_threeDSecureRequired` | 402 `authentication_required` ¹ |
| `pm_sepaDebit…`, `pm_bank_debit…` | `processing` (settle it with ``succeed_payment_intent``) |
| any other `pm_…` | `succeeded` |
| anything else | 400 `resource_missing` |

¹ Off-session, as Billow charges. On-session the PaymentIntent goes to ``requires_action``:
a redirect to ``hooks.stripe.com`` when a ``return_url`` is given, else ``use_stripe_sdk``.

``set_outcome`` overrides the table per payment method (``requires_action`` forces the
redirect). A declined confirmation leaves the PaymentIntent in ``requires_payment_method``
with ``last_payment_error``, and the 402 error carries the PaymentIntent, as Stripe's does.

Idempotency follows Stripe's v1 rules: the response of a POST whose execution began (a 200, a
402, a 500 after the work was done) is saved under (API key, Idempotency-Key) and replayed
with ``Idempotent-Replayed: true``; a 400 (parameters refused) is not saved. The same key with
other parameters or on another endpoint is a 400 ``idempotency_error``; a request arriving
while the first with its key is still running gets 409 ``idempotency_key_in_use``. One lock
decides which request runs, so a key charges once however many requests race on it.

Failures a test can ask for (all thread-safe):

- ``fail_next(status, count, retry_after)``: the next requests get 429/5xx before anything
  happens (Stripe's rate limiter and load balancers sit in front of its idempotency layer);
- ``fail_after_charge_next(replayed=True)``: the next POST does its work, then answers 500. As
  Stripe documents, that 500 is what its key replays; ``replayed=False`` models a 500 from in
  front of the idempotency layer instead, and the key replays the real answer;
- ``delay_next(seconds)``: the answer to the next request waits (after the work is done and
  saved), so a client times out after Stripe charged;
- ``hold_next(seconds)``: the next POST keeps its key busy for that long before its answer is
  saved, so concurrent requests with the key see the 409.

Webhooks: ``event(type, obj)`` signs an event envelope like Stripe (``Stripe-Signature:
t=…,v1=HMAC-SHA256("{t}.{payload}")`` with ``webhook_secret``); ``succeed_payment_intent``,
``fail_payment_intent``, ``dispute``, ``close_dispute`` and ``update_refund`` change an object and
return its signed event.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.background_http import Answer, AppHTTPServer, LocalHttpServer, QuietHandler

Json = dict[str, Any]

# The API version of the pinned SDK (stripe 16.1.0): what its requests ask for.
API_VERSION = "2026-10-28.endive"
DEFAULT_WEBHOOK_SECRET = "whsec_test_local"

OUTCOMES = (
    "succeeded",
    "processing",
    "requires_action",
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "authentication_required",
)
_TEST_PAYMENT_METHODS = {
    "pm_card_chargeDeclined": "card_declined",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "pm_card_authenticationRequired": "authentication_required",
    "pm_card_threeDSecureRequired": "authentication_required",
}
_BANK_DEBITS = ("pm_sepaDebit", "pm_bank_debit")
# outcome: (code, decline_code, message), as Stripe's test cards decline.
_DECLINES = {
    "card_declined": ("card_declined", "generic_decline", "Your card was declined."),
    "insufficient_funds": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "expired_card": ("expired_card", "expired_card", "Your card has expired."),
    "authentication_required": (
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


@dataclass
class RecordedRequest:
    method: str
    path: str
    idempotency_key: str | None
    status: int | None = None  # None while it is being answered
    replayed: bool = False


@dataclass
class _Response:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


class _Refusal(Exception):
    """A Stripe error answer raised while handling a request."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.response = _Response(
            status, error_body(error_type, message, code=code, param=param), dict(headers or {})
        )


def error_body(
    error_type: str, message: str, *, code: str | None = None, param: str | None = None, **more: Any
) -> Json:
    error: Json = {"type": error_type, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    error.update(more)
    return {"error": error}


def _missing(kind: str, object_id: str, param: str) -> _Refusal:
    return _Refusal(
        400, "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def parse_form(body: str) -> Json:
    """Stripe's form encoding: ``a[b]=1`` nests, ``a[0]=x`` makes a list."""
    result: Json = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, bracket, rest = key.partition("[")
        parts = [head, *re.findall(r"\[([^\[\]]*)\]", bracket + rest)]
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise _Refusal(400, "invalid_request_error", f"Invalid hash: {key}", param=head)
        last = parts[-1] or str(len(node))
        if isinstance(node.get(last), dict):
            raise _Refusal(400, "invalid_request_error", f"Invalid hash: {key}", param=head)
        node[last] = value
    return {name: _lists(value) for name, value in result.items()}


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    values = {k: _lists(v) for k, v in node.items()}
    if values and all(k.isdigit() for k in values):
        return [values[k] for k in sorted(values, key=int)]
    return values


def _integer(params: Json, name: str, *, required: bool) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise _Refusal(
                400,
                "invalid_request_error",
                f"Missing required param: {name}.",
                code="parameter_missing",
                param=name,
            )
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]+", value):
        raise _Refusal(
            400,
            "invalid_request_error",
            f"Invalid integer: {value}",
            code="parameter_invalid_integer",
            param=name,
        )
    number = int(value)
    if number < 1:
        raise _Refusal(
            400,
            "invalid_request_error",
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param=name,
        )
    return number


def _true(params: Json, name: str) -> bool:
    value = params.get(name)
    if value not in (None, "true", "false"):
        raise _Refusal(400, "invalid_request_error", f"Invalid boolean: {value}", param=name)
    return value == "true"


def _masked(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]


class _Handler(QuietHandler):
    server: AppHTTPServer[StripeServer]

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        body = self.read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        response, delay = self.server.app.handle(method, self.path, headers, body)
        if delay:
            time.sleep(delay)  # before serializing: the answer shows the objects as they are then
        payload = json.dumps(response.body, indent=2).encode()
        self.send_answer(Answer(response.status, payload, "application/json"), headers=response.headers)


@dataclass
class _Saved:
    """What an idempotency key was first used for, and the answer saved for it."""

    method: str
    path: str
    params: Json
    request_id: str
    response: _Response | None = None  # None while the first request is still running


@dataclass(frozen=True)
class _AfterCharge:
    replayed: bool


class StripeServer(LocalHttpServer):
    """A threaded local Stripe API on 127.0.0.1 (a free port), used as a context manager."""

    handler = _Handler
    name = "the Stripe server"
    queue_size = 64  # 16 clients connecting at once must not wait for SYN retries

    def __init__(
        self,
        *,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        api_keys: Iterable[str] | None = None,
        api_version: str = API_VERSION,
    ) -> None:
        super().__init__()
        self.webhook_secret = webhook_secret
        self.api_version = api_version
        self._api_keys = frozenset(api_keys) if api_keys is not None else None
        self._lock = threading.Lock()
        self._saved: dict[tuple[str, str], _Saved] = {}
        self._intents: dict[str, Json] = {}
        self._charges: dict[str, Json] = {}
        self._refunds: dict[str, Json] = {}
        self._disputes: dict[str, Json] = {}
        self._owners: dict[str, str] = {}  # object id → the API key (account) it belongs to
        self._charged: list[str] = []  # charges that took (or are taking) money
        self._outcomes: dict[str, str] = {}
        self._failures: list[tuple[int, str | None]] = []
        self._after_charge: list[_AfterCharge] = []
        self._delays: list[float] = []
        self._holds: list[float] = []
        self._requests: list[RecordedRequest] = []
        self.events: list[Json] = []  # every event built, as sent

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- test controls --------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        """The next ``count`` requests answer ``status`` (429, 500, 503, …) before doing anything."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def fail_after_charge_next(self, *, replayed: bool = True) -> None:
        """The next POST that runs does its work (charges, refunds), then answers 500."""
        with self._lock:
            self._after_charge.append(_AfterCharge(replayed))

    def delay_next(self, seconds: float) -> None:
        """The next request's answer leaves ``seconds`` late (its work is already done)."""
        with self._lock:
            self._delays.append(seconds)

    def hold_next(self, seconds: float) -> None:
        """The next POST that runs keeps its idempotency key busy for ``seconds``."""
        with self._lock:
            self._holds.append(seconds)

    def set_outcome(self, payment_method: str, outcome: str) -> None:
        """What confirming with ``payment_method`` does from now on (one of ``OUTCOMES``)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
        with self._lock:
            self._outcomes[payment_method] = outcome

    # -- what happened --------------------------------------------------------------------

    @property
    def charges(self) -> list[Json]:
        """Charges that took money or are taking it (a bank debit): what "charged once" counts."""
        with self._lock:
            return [copy.deepcopy(self._charges[charge_id]) for charge_id in self._charged]

    @property
    def payment_intents(self) -> dict[str, Json]:
        with self._lock:
            return copy.deepcopy(self._intents)

    @property
    def refunds(self) -> list[Json]:
        with self._lock:
            return copy.deepcopy(list(self._refunds.values()))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [replace(r) for r in self._requests]

    # -- webhooks -------------------------------------------------------------------------

    def sign(self, payload: bytes, *, signed_at: int | None = None, secret: str | None = None) -> str:
        timestamp = int(time.time()) if signed_at is None else signed_at
        key = (secret or self.webhook_secret).encode()
        signature = hmac.new(key, f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={signature}"

    def event(
        self,
        type: str,
        obj: Mapping[str, Any],
        *,
        previous_attributes: Mapping[str, Any] | None = None,
        signed_at: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed webhook delivery of an event about ``obj``: (body, headers)."""
        data: Json = {"object": copy.deepcopy(dict(obj))}
        if previous_attributes is not None:
            data["previous_attributes"] = dict(previous_attributes)
        envelope: Json = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": self.api_version,
            "created": int(time.time()),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }
        with self._lock:
            self.events.append(envelope)
        payload = json.dumps(envelope, indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": self.sign(payload, signed_at=signed_at, secret=secret),
        }
        return payload, headers

    def succeed_payment_intent(self, intent_id: str) -> tuple[bytes, dict[str, str]]:
        """A processing (or requires_action) PaymentIntent succeeds: its signed event."""
        with self._lock:
            intent = self._intent(intent_id)
            if intent["status"] not in ("processing", "requires_action"):
                raise ValueError(f"{intent_id} is {intent['status']}, it cannot succeed now")
            charge = self._charges.get(intent["latest_charge"] or "")
            if charge is None or charge["status"] != "pending":
                charge = self._new_charge(intent, "succeeded")
                self._charged.append(charge["id"])
            charge.update(status="succeeded", paid=True, captured=True, amount_captured=charge["amount"])
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                next_action=None,
                latest_charge=charge["id"],
            )
            snapshot = copy.deepcopy(intent)
        return self.event("payment_intent.succeeded", snapshot)

    def fail_payment_intent(
        self,
        intent_id: str,
        *,
        code: str = "insufficient_funds",
        message: str = "The customer's account has insufficient funds to cover this payment.",
        decline_code: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A processing (or requires_action) PaymentIntent fails: its signed event."""
        with self._lock:
            intent = self._intent(intent_id)
            if intent["status"] not in ("processing", "requires_action"):
                raise ValueError(f"{intent_id} is {intent['status']}, it cannot fail now")
            charge = self._charges.get(intent["latest_charge"] or "")
            if charge is not None:
                charge.update(status="failed", paid=False, failure_code=code, failure_message=message)
            card = (intent["payment_method"] or "").startswith("pm_card")
            error: Json = {
                "type": "card_error" if card else "invalid_request_error",
                "code": code,
                "message": message,
                "charge": charge["id"] if charge else None,
                "payment_method": self._payment_method(intent["payment_method"], intent["customer"]),
            }
            if decline_code:
                error["decline_code"] = decline_code
            intent.update(
                status="requires_payment_method",
                last_payment_error=error,
                payment_method=None,
                next_action=None,
            )
            snapshot = copy.deepcopy(intent)
        return self.event("payment_intent.payment_failed", snapshot)

    def dispute(
        self, intent_id: str, *, reason: str = "fraudulent", inquiry: bool = False, amount: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The cardholder disputes the PaymentIntent's charge: the signed ``charge.dispute.created``."""
        with self._lock:
            intent = self._intent(intent_id)
            charge = self._charges.get(intent["latest_charge"] or "")
            if charge is None or charge["status"] != "succeeded":
                raise ValueError(f"{intent_id} has no successful charge to dispute")
            now = int(time.time())
            dispute: Json = {
                "id": new_id("du"),
                "object": "dispute",
                "amount": charge["amount"] if amount is None else amount,
                "balance_transactions": [],
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "evidence": {"customer_name": None, "product_description": None, "uncategorized_text": None},
                "evidence_details": {
                    "due_by": now + 7 * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": intent_id,
                "reason": reason,
                "status": "warning_needs_response" if inquiry else "needs_response",
            }
            charge["disputed"] = True
            self._disputes[dispute["id"]] = dispute
            self._owners[dispute["id"]] = self._owners[intent_id]
            snapshot = copy.deepcopy(dispute)
        return self.event("charge.dispute.created", snapshot)

    def close_dispute(self, dispute_id: str, status: str) -> tuple[bytes, dict[str, str]]:
        """The dispute ends ``won`` or ``lost`` (an inquiry: ``warning_closed``)."""
        with self._lock:
            dispute = self._disputes[dispute_id]
            dispute["status"] = status
            snapshot = copy.deepcopy(dispute)
        return self.event("charge.dispute.closed", snapshot)

    def update_refund(
        self, refund_id: str, status: str, *, failure_reason: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A refund moves on (``succeeded``, ``failed``, …): the signed ``refund.updated``."""
        with self._lock:
            refund = self._refunds[refund_id]
            previous = {"status": refund["status"]}
            refund["status"] = status
            if status == "failed":
                refund["failure_reason"] = failure_reason or "unknown"
                charge = self._charges[refund["charge"]]
                charge["amount_refunded"] -= refund["amount"]
                charge["refunded"] = False
            snapshot = copy.deepcopy(refund)
        return self.event("refund.updated", snapshot, previous_attributes=previous)

    # -- the API --------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[_Response, float]:
        """The answer to one HTTP request, and how long to wait before sending it."""
        path = urlsplit(target).path
        key = headers.get("idempotency-key")
        record = RecordedRequest(method, path, key)
        with self._lock:
            self._requests.append(record)
            failure = self._failures.pop(0) if self._failures else None
            delay = self._delays.pop(0) if self._delays else 0.0
        if failure is not None:
            response = self._edge_failure(*failure)
        else:
            try:
                account = self._authenticate(headers.get("authorization"))
                params = parse_form(body.decode()) if method == "POST" else {}
                response = self._route(method, path, account, key, params)
            except _Refusal as refusal:
                response = refusal.response
        response.headers.setdefault("Request-Id", new_id("req"))
        response.headers["Stripe-Version"] = headers.get("stripe-version") or self.api_version
        if key:
            response.headers["Idempotency-Key"] = key
        with self._lock:
            record.status = response.status
            record.replayed = response.headers.get("Idempotent-Replayed") == "true"
        return response, delay

    def _edge_failure(self, status: int, retry_after: str | None) -> _Response:
        if status == 429:
            body = error_body(
                "invalid_request_error",
                "Too many requests hit the API too quickly. Slow down and retry with exponential backoff.",
                code="rate_limit",
            )
        elif status == 409:
            body = error_body(
                "invalid_request_error",
                "This object cannot be accessed right now because another request is using it.",
                code="lock_timeout",
            )
        else:
            body = error_body("api_error", "An unexpected error occurred on Stripe's side (simulated).")
        return _Response(status, body, {"Retry-After": retry_after} if retry_after else {})

    def _authenticate(self, authorization: str | None) -> str:
        challenge = {"Www-Authenticate": 'Basic realm="Stripe"'}
        if not authorization:
            raise _Refusal(
                401,
                "invalid_request_error",
                "You did not provide an API key. Send it in the Authorization header with Bearer auth "
                "(Authorization: Bearer YOUR_SECRET_KEY).",
                headers=challenge,
            )
        scheme, _, credential = authorization.partition(" ")
        key = credential.strip()
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(key).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        elif scheme.lower() != "bearer":
            key = ""
        if self._api_keys is not None:
            valid = key in self._api_keys
        else:
            valid = key.startswith(("sk_test_", "rk_test_")) and len(key) > len("sk_test_")
        if not valid:
            raise _Refusal(
                401, "invalid_request_error", f"Invalid API Key provided: {_masked(key)}", headers=challenge
            )
        return key

    def _route(self, method: str, path: str, account: str, key: str | None, params: Json) -> _Response:
        if method == "POST" and path == "/v1/payment_intents":
            return self._post(account, key, method, path, params, self._create_payment_intent)
        if method == "POST" and path == "/v1/refunds":
            return self._post(account, key, method, path, params, self._create_refund)
        if method == "GET" and (found := re.fullmatch(r"/v1/payment_intents/([^/]+)", path)):
            with self._lock:
                intent = self._owned(account, self._intents, found[1])
                if intent is None:
                    raise _Refusal(
                        404,
                        "invalid_request_error",
                        f"No such payment_intent: '{found[1]}'",
                        code="resource_missing",
                        param="intent",
                    )
                return _Response(200, copy.deepcopy(intent))
        if method == "GET" and (found := re.fullmatch(r"/v1/refunds/([^/]+)", path)):
            with self._lock:
                refund = self._owned(account, self._refunds, found[1])
                if refund is None:
                    raise _Refusal(
                        404,
                        "invalid_request_error",
                        f"No such refund: '{found[1]}'",
                        code="resource_missing",
                        param="id",
                    )
                return _Response(200, copy.deepcopy(refund))
        raise _Refusal(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({method}: {path}). The local Stripe server serves only what the "
            "Stripe gateway adapter uses.",
        )

    def _post(
        self,
        account: str,
        key: str | None,
        method: str,
        path: str,
        params: Json,
        execute: Callable[[str, Json], _Response],
    ) -> _Response:
        """Runs a POST under Stripe's idempotency rules. ``execute`` raises _Refusal when it
        refuses the parameters (nothing is saved) and returns the answer once it did its work."""
        slot = (account, key) if key else None
        request_id = new_id("req")
        with self._lock:
            saved = self._saved.get(slot) if slot else None
            if saved is not None:
                return self._replay(saved, key or "", method, path, params)
            if slot:
                self._saved[slot] = _Saved(method, path, copy.deepcopy(params), request_id)
        try:
            response = execute(account, params)
        except Exception:
            # Refused parameters (or a bug here): nothing ran, so the key is free again.
            if slot:
                with self._lock:
                    del self._saved[slot]
            raise
        with self._lock:
            hold = self._holds.pop(0) if self._holds else 0.0
            after = self._after_charge.pop(0) if self._after_charge else None
        if hold:
            time.sleep(hold)
        response.headers["Request-Id"] = request_id
        answer = response
        if after is not None:
            answer = _Response(
                500,
                error_body("api_error", "An unknown error occurred after the request was carried out."),
                {"Request-Id": request_id},
            )
        if slot:
            kept = answer if after is None or after.replayed else response
            with self._lock:
                self._saved[slot].response = copy.deepcopy(kept)
        return answer

    def _replay(self, saved: _Saved, key: str, method: str, path: str, params: Json) -> _Response:
        if saved.response is None:
            raise _Refusal(
                409,
                "invalid_request_error",
                "There is currently another in-progress request using this idempotency key (that probably "
                "means you submitted twice, and the other request is still going through): "
                f"{key}. Please try again later.",
                code="idempotency_key_in_use",
            )
        if (saved.method, saved.path) != (method, path):
            raise _Refusal(
                400,
                "idempotency_error",
                f"Keys for idempotent requests can only be used for the same endpoint they were first used "
                f"for ('{saved.method} {saved.path}' vs '{method} {path}'). Try using a key other than "
                f"'{key}' if you meant to execute a different request.",
            )
        if saved.params != params:
            raise _Refusal(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
            )
        response = copy.deepcopy(saved.response)
        response.headers.update(
            {"Idempotent-Replayed": "true", "Original-Request": saved.request_id, "Request-Id": new_id("req")}
        )
        return response

    def _owned(self, account: str, table: dict[str, Json], object_id: str) -> Json | None:
        found = table.get(object_id)
        return found if found is not None and self._owners.get(object_id) == account else None

    def _intent(self, intent_id: str) -> Json:
        if intent_id not in self._intents:
            raise KeyError(f"no PaymentIntent {intent_id} on the local Stripe server")
        return self._intents[intent_id]

    # -- PaymentIntents -------------------------------------------------------------------

    def _create_payment_intent(self, account: str, params: Json) -> _Response:
        amount = _integer(params, "amount", required=True)
        assert amount is not None
        currency = params.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise _Refusal(400, "invalid_request_error", f"Invalid currency: {currency}.", param="currency")
        confirm = _true(params, "confirm")
        off_session = params.get("off_session")
        if off_session not in (None, "true", "false", "one_off", "recurring"):
            raise _Refusal(
                400, "invalid_request_error", f"Invalid off_session: {off_session}", param="off_session"
            )
        if off_session is not None and not confirm:
            raise _Refusal(
                400,
                "invalid_request_error",
                "off_session can only be given when confirm is true.",
                param="off_session",
            )
        payment_method = params.get("payment_method")
        customer = params.get("customer")
        if customer is not None and not (isinstance(customer, str) and customer.startswith("cus_")):
            raise _missing("customer", str(customer), "customer")
        if payment_method is not None and not (
            isinstance(payment_method, str) and payment_method.startswith("pm_")
        ):
            raise _missing("PaymentMethod", str(payment_method), "payment_method")
        if confirm and payment_method is None:
            raise _Refusal(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="parameter_missing",
                param="payment_method",
            )
        automatic = params.get("automatic_payment_methods")
        never_redirects = isinstance(automatic, dict) and automatic.get("allow_redirects") == "never"
        return_url = params.get("return_url")
        if confirm and not return_url and "payment_method_types" not in params and not never_redirects:
            # Stripe's rule: automatic payment methods may redirect, so confirming needs a return_url.
            raise _Refusal(
                400,
                "invalid_request_error",
                "This PaymentIntent accepts payment methods that may redirect the customer, so confirming "
                "it needs a return_url. Without redirect-based methods, set automatic_payment_methods"
                "[enabled]=true and automatic_payment_methods[allow_redirects]=never.",
                param="return_url",
            )
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict) or any(
            not isinstance(v, str) or len(k) > 40 or len(v) > 500 for k, v in metadata.items()
        ):
            raise _Refusal(
                400,
                "invalid_request_error",
                "Metadata keys can have up to 40 characters and values up to 500 characters.",
                param="metadata",
            )
        with self._lock:
            intent = self._new_intent(account, amount, currency, params, metadata)
            if not confirm:
                return _Response(200, copy.deepcopy(intent))
            outcome = self._outcomes.get(payment_method or "") or self._default_outcome(payment_method or "")
            return self._confirm(intent, outcome, off_session in ("true", "one_off", "recurring"), return_url)

    @staticmethod
    def _default_outcome(payment_method: str) -> str:
        if payment_method in _TEST_PAYMENT_METHODS:
            return _TEST_PAYMENT_METHODS[payment_method]
        if payment_method.startswith(_BANK_DEBITS):
            return "processing"
        return "succeeded"

    def _new_intent(self, account: str, amount: int, currency: str, params: Json, metadata: Json) -> Json:
        intent_id = new_id("pi")
        payment_method = params.get("payment_method")
        automatic = params.get("automatic_payment_methods")
        bank = isinstance(payment_method, str) and payment_method.startswith(_BANK_DEBITS)
        intent: Json = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": (
                {
                    "enabled": automatic.get("enabled") == "true",
                    "allow_redirects": automatic.get("allow_redirects"),
                }
                if isinstance(automatic, dict)
                else None
            ),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{intent_id}_secret_{new_id('s')[2:]}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(metadata),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": payment_method,
            "payment_method_options": {},
            "payment_method_types": ["sepa_debit" if bank else "card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }
        self._intents[intent_id] = intent
        self._owners[intent_id] = account
        return intent

    def _new_charge(self, intent: Json, status: str) -> Json:
        bank = (intent["payment_method"] or "").startswith(_BANK_DEBITS)
        charge: Json = {
            "id": new_id("py" if bank else "ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"] if status == "succeeded" else 0,
            "amount_refunded": 0,
            "balance_transaction": new_id("txn") if status == "succeeded" else None,
            "captured": status == "succeeded",
            "created": int(time.time()),
            "currency": intent["currency"],
            "customer": intent["customer"],
            "description": intent["description"],
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "outcome": None,
            "paid": status == "succeeded",
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "refunded": False,
            "status": status,
        }
        self._charges[charge["id"]] = charge
        self._owners[charge["id"]] = self._owners[intent["id"]]
        intent["latest_charge"] = charge["id"]
        return charge

    @staticmethod
    def _payment_method(payment_method: str | None, customer: str | None) -> Json | None:
        if payment_method is None:
            return None
        bank = payment_method.startswith(_BANK_DEBITS)
        details: Json = (
            {"sepa_debit": {"bank_code": "37040044", "country": "DE", "last4": "3000"}}
            if bank
            else {
                "card": {"brand": "visa", "country": "US", "exp_month": 12, "exp_year": 2034, "last4": "4242"}
            }
        )
        return {
            "id": payment_method,
            "object": "payment_method",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "created": int(time.time()),
            "customer": customer,
            "livemode": False,
            "metadata": {},
            "type": "sepa_debit" if bank else "card",
            **details,
        }

    def _confirm(self, intent: Json, outcome: str, off_session: bool, return_url: str | None) -> _Response:
        if outcome in ("succeeded", "processing"):
            charge = self._new_charge(intent, "succeeded" if outcome == "succeeded" else "pending")
            self._charged.append(charge["id"])
            intent["status"] = outcome
            intent["amount_received"] = intent["amount"] if outcome == "succeeded" else 0
            return _Response(200, copy.deepcopy(intent))
        if outcome == "requires_action" or (outcome == "authentication_required" and not off_session):
            intent["status"] = "requires_action"
            if return_url or outcome == "requires_action":
                source = new_id("src")
                intent["next_action"] = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": f"https://hooks.stripe.com/redirect/authenticate/{source}?client_secret="
                        f"{source}_client_secret",
                        "return_url": return_url,
                    },
                }
            else:
                intent["next_action"] = {
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {"type": "three_d_secure_redirect"},
                }
            return _Response(200, copy.deepcopy(intent))
        code, decline_code, message = _DECLINES[outcome]
        charge = self._new_charge(intent, "failed")
        charge.update(
            failure_code=code,
            failure_message=message,
            outcome={
                "network_status": "declined_by_network",
                "reason": decline_code,
                "risk_level": "normal",
                "seller_message": "The bank declined the payment.",
                "type": "issuer_declined",
            },
        )
        payment_method = self._payment_method(intent["payment_method"], intent["customer"])
        error: Json = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "charge": charge["id"],
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "payment_method": payment_method,
        }
        # After a failed attempt the PaymentIntent waits for another payment method.
        intent.update(status="requires_payment_method", last_payment_error=error, payment_method=None)
        return _Response(402, {"error": {**copy.deepcopy(error), "payment_intent": copy.deepcopy(intent)}})

    # -- Refunds --------------------------------------------------------------------------

    def _create_refund(self, account: str, params: Json) -> _Response:
        intent_id, charge_id = params.get("payment_intent"), params.get("charge")
        if not intent_id and not charge_id:
            raise _Refusal(
                400,
                "invalid_request_error",
                "One of payment_intent or charge is required to create a refund.",
                code="parameter_missing",
            )
        requested = _integer(params, "amount", required=False)
        with self._lock:
            if intent_id:
                intent = self._owned(account, self._intents, str(intent_id))
                if intent is None:
                    raise _missing("payment_intent", str(intent_id), "payment_intent")
                charge = self._charges.get(intent["latest_charge"] or "")
                if charge is None or charge["status"] != "succeeded":
                    raise _Refusal(
                        400,
                        "invalid_request_error",
                        f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                        code="charge_not_refundable",
                        param="payment_intent",
                    )
            else:
                found = self._owned(account, self._charges, str(charge_id))
                if found is None:
                    raise _missing("charge", str(charge_id), "charge")
                charge = found
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining == 0:
                raise _Refusal(
                    400,
                    "invalid_request_error",
                    f"Charge {charge['id']} has already been refunded.",
                    code="charge_already_refunded",
                )
            amount = remaining if requested is None else requested
            if amount > remaining:
                raise _Refusal(
                    400,
                    "invalid_request_error",
                    f"Refund amount ({amount} {charge['currency']} minor units) is greater than unrefunded "
                    f"amount on charge ({remaining}).",
                    code="amount_too_large",
                    param="amount",
                )
            refund: Json = {
                "id": new_id("re"),
                "object": "refund",
                "amount": amount,
                "balance_transaction": new_id("txn"),
                "charge": charge["id"],
                "created": int(time.time()),
                "currency": charge["currency"],
                "destination_details": None,
                "metadata": params.get("metadata") or {},
                "payment_intent": charge["payment_intent"],
                "reason": params.get("reason"),
                "receipt_number": None,
                "source_transfer_reversal": None,
                # A bank debit is refunded by a transfer that takes days; a card refund is instant here.
                "status": "pending" if charge["id"].startswith("py_") else "succeeded",
                "transfer_reversal": None,
            }
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            self._refunds[refund["id"]] = refund
            self._owners[refund["id"]] = account
            return _Response(200, copy.deepcopy(refund))
