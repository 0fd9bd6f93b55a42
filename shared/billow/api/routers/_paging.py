"""Cursor handling shared by list routes."""

from __future__ import annotations

from typing import Any

from billow.api.pagination import decode_cursor, encode_cursor, query_fingerprint
from billow.api.request import current_request
from billow.ports.queries import Page
from billow.settings import get_settings


def page_from(limit: int, cursor: str | None) -> tuple[Page, str]:
    request = current_request()
    fingerprint = query_fingerprint(request.path, request.query)
    after = None
    if cursor:
        after = decode_cursor(get_settings().cursor_secret, request.require_scope(), fingerprint, cursor)
    return Page(limit=limit, after=after), fingerprint


def next_cursor(fingerprint: str, position: dict[str, Any] | None) -> str | None:
    if position is None:
        return None
    return encode_cursor(
        get_settings().cursor_secret, current_request().require_scope(), fingerprint, position
    )
