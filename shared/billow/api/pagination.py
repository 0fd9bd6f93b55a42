"""Opaque cursors: signed, bound to the tenant and to the query they were issued for."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from billow.domain.errors import BillowError
from billow.domain.tenancy import Scope

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Parameters that may change between pages without invalidating the cursor.
_PAGING_PARAMETERS = frozenset({"cursor", "limit"})


class InvalidCursor(BillowError):
    code = "invalid_cursor"
    status = 400
    title = "Invalid cursor"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def query_fingerprint(route: str, query: Mapping[str, str] | None) -> str:
    relevant = sorted((k, v) for k, v in (query or {}).items() if k not in _PAGING_PARAMETERS)
    return hashlib.sha256(json.dumps([route, relevant]).encode()).hexdigest()[:16]


def _signature(secret: bytes, scope: Scope, payload: str) -> str:
    mac = hmac.new(secret, f"{scope.key_prefix}|{payload}".encode(), hashlib.sha256)
    return _b64(mac.digest()[:18])


def encode_cursor(secret: bytes, scope: Scope, fingerprint: str, position: dict[str, Any]) -> str:
    payload = _b64(json.dumps({"q": fingerprint, "p": position}, separators=(",", ":")).encode())
    return f"{payload}.{_signature(secret, scope, payload)}"


def decode_cursor(secret: bytes, scope: Scope, fingerprint: str, cursor: str) -> dict[str, Any]:
    """The position a cursor stands for; any tampering, or reuse elsewhere, is invalid_cursor."""
    payload, _, signature = cursor.partition(".")
    if not cursor.isascii() or not payload or not signature:
        raise InvalidCursor(detail="the cursor is not one this API issued for this tenant")
    if not hmac.compare_digest(signature, _signature(secret, scope, payload)):
        raise InvalidCursor(detail="the cursor is not one this API issued for this tenant")
    try:
        data = json.loads(_unb64(payload))
    except ValueError:
        raise InvalidCursor(detail="the cursor is malformed") from None
    if data.get("q") != fingerprint:
        raise InvalidCursor(detail="the cursor belongs to a list with other filters")
    position = data.get("p")
    if not isinstance(position, dict):
        raise InvalidCursor(detail="the cursor is malformed")
    return position
