"""What every route gets for free: request ids and logs, authentication, body checks,
problem responses for every failure, metrics."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from billow.api.auth import authenticate
from billow.api.container import container
from billow.api.errors import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    MalformedJson,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from billow.api.problems import problem
from billow.api.request import RequestContext, current_request, reset_request, set_request
from billow.domain.errors import BillowError, validation_failed
from billow.settings import get_settings

logger = Logger(service="billow")
metrics = Metrics(namespace="Billow", service="billow")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Usage batches are bigger than any other request.
INGEST_PATH = "/v1/usage/events"
# Powertools' local ASGI resolver gives every request this same id; we make our own there.
_LOCAL_RESOLVER_REQUEST_ID = "local-request-id"


GATEWAY_WEBHOOKS_PATH = "/v1/gateway-webhooks/"


def _lower_headers(headers: dict[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()}


def _request_from(app: ApiGatewayResolver) -> RequestContext:
    event = app.current_event
    request_context = event.get("requestContext") or {}
    request_id = request_context.get("requestId")
    if not request_id or request_id == _LOCAL_RESOLVER_REQUEST_ID:
        request_id = str(uuid.uuid4())
    return RequestContext(
        request_id=request_id,
        method=event.http_method.upper(),
        path=event.path,
        headers=_lower_headers(event.headers),
        query=dict(event.query_string_parameters or {}),
        body=event.decoded_body if event.body else None,
    )


def _problem_for(
    error: BillowError, request: RequestContext | None, headers: dict[str, str] | None = None
) -> Response[str]:
    return problem(
        error.status,
        error.code,
        error.title,
        error.detail,
        instance=request.path if request else None,
        errors=[e.as_dict() for e in error.errors] or None,
        headers={**({"Request-Id": request.request_id} if request else {}), **(headers or {})},
    )


def _check_body(request: RequestContext) -> None:
    """Size, media type and JSON syntax, in that order, before any route logic runs."""
    if request.method not in _BODY_METHODS or not request.body:
        return
    settings = get_settings()
    limit = settings.max_ingest_body_bytes if request.path.endswith(INGEST_PATH) else settings.max_body_bytes
    if len(request.body.encode()) > limit:
        raise PayloadTooLarge(detail=f"the body exceeds {limit} bytes")
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type and not (content_type == "application/json" or content_type.endswith("+json")):
        raise UnsupportedMediaType(
            detail=f"send JSON with 'Content-Type: application/json', not '{content_type}'"
        )
    try:
        parsed = json.loads(request.body)
    except ValueError as exc:
        raise MalformedJson(detail=f"the body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise validation_failed("", "the body must be a JSON object")


def _authenticated(request: RequestContext) -> RequestContext:
    key = authenticate(request.header("authorization"), container().tenancy)
    scope = key.scope
    logger.thread_safe_append_keys(tenant_id=scope.tenant_id, livemode=scope.livemode)
    return RequestContext(**{**request.__dict__, "scope": scope})


def error_response(error: Exception, request: RequestContext | None) -> Response[str]:
    """Every failure as a problem; unexpected ones are logged and told apart only by request id."""
    if isinstance(error, BillowError):
        return _problem_for(error, request)
    if isinstance(error, IdempotencyValidationError):
        reused = IdempotencyKeyReused(detail="this Idempotency-Key was used with a different request body")
        return _problem_for(reused, request)
    if isinstance(error, IdempotencyAlreadyInProgressError):
        busy = IdempotencyKeyInProgress(detail="a request with this Idempotency-Key is still being processed")
        return _problem_for(busy, request, headers={"Retry-After": "1"})
    logger.exception("unexpected error")
    return problem(
        500,
        "internal_error",
        "Internal error",
        "something went wrong on our side; the request id identifies it in our logs",
        instance=request.path if request else None,
        headers={"Request-Id": request.request_id} if request else None,
    )


def edge_middleware(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
    started = time.perf_counter()
    request = _request_from(app)
    # Thread-local keys: the local server runs requests side by side in one process.
    logger.thread_safe_append_keys(request_id=request.request_id)
    token = set_request(request)
    try:
        if not request.path.startswith(GATEWAY_WEBHOOKS_PATH):
            # A gateway's webhook carries the gateway's signature, not an API key: the route
            # verifies it (services/gateway_webhooks.py).
            request = _authenticated(request)
        set_request(request)
        _check_body(request)
        response = next_middleware(app)
    except Exception as error:  # noqa: BLE001 - every failure becomes a problem response
        response = error_response(error, request)
    finally:
        reset_request(token)
    response.headers["Request-Id"] = request.request_id
    elapsed_ms = (time.perf_counter() - started) * 1000
    if get_settings().emit_metrics:
        metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="ApiLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        if response.status_code >= 500:
            metrics.add_metric(name="ApiServerErrors", unit=MetricUnit.Count, value=1)
    logger.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "ms": round(elapsed_ms, 1),
        },
    )
    logger.thread_safe_remove_keys(["request_id", "tenant_id", "livemode"])
    return response


def _safe_request() -> RequestContext | None:
    try:
        return current_request()
    except RuntimeError:
        return None


def _pointer(loc: tuple[Any, ...]) -> dict[str, str]:
    if loc and loc[0] == "body":
        return {"pointer": "/" + "/".join(str(part) for part in loc[1:])}
    if loc and loc[0] in ("query", "path", "header"):
        return {"parameter": str(loc[1]) if len(loc) > 1 else str(loc[0])}
    return {"pointer": "/" + "/".join(str(part) for part in loc)}


def register_exception_handlers(app: ApiGatewayResolver) -> None:
    @app.exception_handler(BillowError)
    def _billow_error(error: BillowError) -> Response[str]:
        return error_response(error, _safe_request())

    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        # Powertools validates before our middleware runs: authenticate first so that an
        # anonymous caller learns nothing about the route but "unauthenticated".
        request = _request_from(app)
        try:
            request = _authenticated(request)
            _check_body(request)
        except BillowError as failure:
            return _problem_for(failure, request)
        errors = []
        for entry in error.errors():
            location = _pointer(tuple(entry.get("loc", ())))
            message = str(entry.get("msg") or entry.get("type", "invalid"))
            if entry.get("type") == "missing":
                message = "is required"
            errors.append({**location, "message": message})
        response = problem(
            422,
            "validation_failed",
            "Validation failed",
            "the request does not match what this route accepts",
            instance=request.path,
            errors=errors,
        )
        response.headers["Request-Id"] = request.request_id
        return response

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        event = app.current_event
        method, path = event.http_method.upper(), event.path
        allowed = sorted(
            {route.method for route in app._static_routes + app._dynamic_routes if route.rule.match(path)}
        )
        if allowed:
            return problem(
                405,
                "method_not_allowed",
                "Method not allowed",
                f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                instance=path,
                headers={"Allow": ", ".join(allowed)},
            )
        return problem(404, "route_not_found", "Not found", f"there is no route {path}", instance=path)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        return error_response(error, _safe_request())
