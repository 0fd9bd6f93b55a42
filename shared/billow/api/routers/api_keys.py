"""/v1/api-keys: a tenant manages its own keys, in the mode of the key it calls with."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from billow.api.auth import key_cache
from billow.api.container import container
from billow.api.idempotency import idempotency_optional, idempotency_required
from billow.api.models.custom_fields import ApiKeyCreate
from billow.api.request import current_request
from billow.api.responses import listing, single
from billow.domain.errors import NotFound
from billow.domain.tenancy import ApiKey

router = Router()
TAGS = ["API keys"]


def api_key_to_dict(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "object": "api_key",
        "livemode": key.livemode,
        "name": key.name,
        "prefix": key.prefix,
        "status": key.status,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


@router.post("/api-keys", middlewares=[idempotency_required], tags=TAGS, summary="Create a key (shown once)")
def create_api_key(key: Annotated[ApiKeyCreate, Body(embed=False)]) -> Response[str]:
    scope = current_request().require_scope()
    issued = container().tenancy.issue_api_key(scope.tenant_id, livemode=scope.livemode, name=key.name)
    return single({**api_key_to_dict(issued.key), "secret": issued.secret}, status=201)


@router.get("/api-keys", tags=TAGS, summary="List keys (prefix only)")
def list_api_keys() -> Response[str]:
    scope = current_request().require_scope()
    keys = [k for k in container().tenancy.list_api_keys(scope.tenant_id) if k.livemode == scope.livemode]
    return listing([api_key_to_dict(k) for k in keys], None)


@router.post(
    "/api-keys/<key_id>/revoke", middlewares=[idempotency_optional], tags=TAGS, summary="Revoke a key"
)
def revoke_api_key(key_id: Annotated[str, Path(max_length=64)]) -> Response[str]:
    scope = current_request().require_scope()
    keys = {k.id: k for k in container().tenancy.list_api_keys(scope.tenant_id)}
    if key_id not in keys or keys[key_id].livemode != scope.livemode:
        raise NotFound(detail=f"no API key with id {key_id}")
    revoked = container().tenancy.revoke_api_key(scope.tenant_id, key_id)
    key_cache.forget(revoked.key_hash)  # other warm containers drop it when their entry expires
    return single(api_key_to_dict(revoked))
