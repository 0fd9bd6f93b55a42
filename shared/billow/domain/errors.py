"""Failures the domain and services raise; the API turns each into an RFC 9457 problem.

Every error carries a stable snake_case ``code`` that clients switch on, the HTTP status that
goes with it, and, for validation, a list of JSON-pointer located messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


@dataclass
class BillowError(Exception):
    detail: str
    errors: list[FieldError] = field(default_factory=list)

    code = "internal_error"
    status = 500
    title = "Internal error"

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class ValidationFailed(BillowError):
    code = "validation_failed"
    status = 422
    title = "Validation failed"


class EInvoiceIncomplete(BillowError):
    """An e-invoice was asked of a document that lacks what the standard requires; ``errors``
    name each missing business term (never an invalid file instead)."""

    code = "einvoice_incomplete"
    status = 422
    title = "E-invoice incomplete"


class NotFound(BillowError):
    code = "not_found"
    status = 404
    title = "Not found"


class Unauthenticated(BillowError):
    code = "unauthenticated"
    status = 401
    title = "Unauthenticated"


class Forbidden(BillowError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class Conflict(BillowError):
    code = "conflict"
    status = 409
    title = "Conflict"


class InvalidStateTransition(BillowError):
    code = "invalid_state_transition"
    status = 409
    title = "Invalid state transition"


class PreconditionFailed(BillowError):
    code = "precondition_failed"
    status = 412
    title = "Precondition failed"


class ConcurrentModification(BillowError):
    """A conditional write lost a race; the service retries or reports a conflict."""

    code = "conflict"
    status = 409
    title = "Conflict"


class GatewayNoAnswer(BillowError):
    """The gateway did not answer for sure; the payment stays pending and the same charge (same
    idempotency key) is asked again later, so retrying never charges twice."""

    code = "gateway_unavailable"
    status = 503
    title = "Gateway unavailable"


class InvalidSignature(BillowError):
    code = "invalid_signature"
    status = 400
    title = "Invalid signature"


class AlreadyApplied(Exception):
    """A gateway event was applied before (a redelivered webhook): nothing more to do."""


def validation_failed(pointer: str, message: str) -> ValidationFailed:
    return ValidationFailed(detail=message, errors=[FieldError(pointer, message)])
