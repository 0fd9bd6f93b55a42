"""API-key authentication: Bearer key -> tenant scope, cached per container."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from billow.domain.errors import Unauthenticated
from billow.domain.tenancy import ApiKey, hash_api_key
from billow.services.tenancy import TenancyService
from billow.settings import get_settings

_MAX_CACHED_KEYS = 1024


class ApiKeyCache:
    """Keys resolved in the last ``ttl`` seconds, so a warm GET costs one DynamoDB read.

    A revoked key therefore keeps working for at most ``ttl`` seconds on a warm container
    (docs/conventions.md). Only the key's hash is kept in memory.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[ApiKey, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> ApiKey | None:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return None
            key, expires = entry
            if time.monotonic() >= expires:
                del self._entries[key_hash]
                return None
            return key

    def put(self, key_hash: str, key: ApiKey, ttl: float) -> None:
        with self._lock:
            self._entries[key_hash] = (key, time.monotonic() + ttl)
            self._entries.move_to_end(key_hash)
            while len(self._entries) > _MAX_CACHED_KEYS:
                self._entries.popitem(last=False)

    def forget(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


key_cache = ApiKeyCache()


def bearer_secret(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(detail="send the API key as 'Authorization: Bearer <key>'")
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated(detail="send the API key as 'Authorization: Bearer <key>'")
    return secret.strip()


def authenticate(authorization: str | None, tenancy: TenancyService) -> ApiKey:
    secret = bearer_secret(authorization)
    key_hash = hash_api_key(secret)
    cached = key_cache.get(key_hash)
    if cached is not None:
        return cached
    key = tenancy.authenticate(secret)
    key_cache.put(key_hash, key, get_settings().api_key_cache_seconds)
    return key
