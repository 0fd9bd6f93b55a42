"""Idempotency-Key semantics of API.md on top of Powertools idempotency (DynamoDB).

Scope of a key: tenant + mode + method + path + key, kept 24 h. The same key with the same body
replays the first response (header ``Idempotent-Replayed: true``); with another body it is 422
``idempotency_key_reused``; while the first request still runs it is 409
``idempotency_key_in_progress``. Only successful responses are stored: a request that failed
changed nothing, so repeating it is safe and may succeed once the input is fixed (as Stripe).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from billow.adapters.aws import dynamodb_client
from billow.api.errors import IdempotencyKeyRequired
from billow.api.request import current_request
from billow.domain.errors import validation_failed
from billow.settings import get_settings

KEY_HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
RETENTION_SECONDS = 24 * 60 * 60


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


_config = IdempotencyConfig(
    event_key_jmespath="[scope, method, path, key]",
    payload_validation_jmespath="body_sha256",
    expires_after_seconds=RETENTION_SECONDS,
    raise_on_no_idempotency_key=True,
    response_hook=_mark_replayed,
)


@lru_cache(maxsize=1)
def _persistence() -> DynamoDBPersistenceLayer:
    # A shared client: the layer's own boto3 session would cost ~110 ms of cold start.
    return DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table_name, boto3_client=dynamodb_client()
    )


def _run_once(request: dict[str, Any], call: Any) -> dict[str, Any]:
    response: Response[Any] = call()
    if response.status_code >= 300:
        raise _NotStored(response)
    return {
        "status": response.status_code,
        "body": response.body,
        "content_type": response.headers.get("Content-Type"),
        "headers": {k: v for k, v in response.headers.items() if k in ("ETag", "Location")},
    }


class _NotStored(Exception):
    """Carries a non-2xx response out of the idempotent call so Powertools forgets the key."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__("response not stored")
        self.response = response


@lru_cache(maxsize=1)
def _idempotent_call() -> Any:
    return idempotent_function(
        data_keyword_argument="request", config=_config, persistence_store=_persistence()
    )(_run_once)


def _middleware(required: bool):  # type: ignore[no-untyped-def]
    def middleware(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
        request = current_request()
        key = request.header(KEY_HEADER)
        if key is None:
            if required:
                raise IdempotencyKeyRequired(detail="send an Idempotency-Key header with this request")
            return next_middleware(app)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise validation_failed("/headers/idempotency-key", f"must be 1 to {MAX_KEY_LENGTH} characters")
        context = getattr(app, "lambda_context", None)
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            # An in-progress record then expires with the invocation, not after 24 h.
            _config.register_lambda_context(context)
        payload = {
            "scope": request.require_scope().key_prefix,
            "method": request.method,
            "path": request.path,
            "key": key,
            "body_sha256": hashlib.sha256((request.body or "").encode()).hexdigest(),
        }
        try:
            stored = _idempotent_call()(request=payload, call=lambda: next_middleware(app))
        except _NotStored as not_stored:
            return not_stored.response
        headers = dict(stored.get("headers") or {})
        if stored.get("replayed"):
            headers["Idempotent-Replayed"] = "true"
        return Response(
            status_code=int(stored["status"]),
            content_type=stored.get("content_type") or "application/json",
            body=stored["body"],
            headers=headers,
        )

    return middleware


def reset_idempotency() -> None:
    """Forget the persistence layer (tests and the local stack change tables and endpoints)."""
    _persistence.cache_clear()
    _idempotent_call.cache_clear()


idempotency_required = _middleware(required=True)
idempotency_optional = _middleware(required=False)
