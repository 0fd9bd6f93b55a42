"""Problems of the HTTP exchange itself (API.md codes plus docs/conventions.md's additions)."""

from __future__ import annotations

from billow.domain.errors import BillowError


class PayloadTooLarge(BillowError):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(BillowError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class MalformedJson(BillowError):
    code = "malformed_json"
    status = 400
    title = "Malformed JSON"


class IdempotencyKeyRequired(BillowError):
    code = "idempotency_key_required"
    status = 400
    title = "Idempotency-Key required"


class IdempotencyKeyReused(BillowError):
    code = "idempotency_key_reused"
    status = 422
    title = "Idempotency-Key reused"


class IdempotencyKeyInProgress(BillowError):
    code = "idempotency_key_in_progress"
    status = 409
    title = "Request in progress"
