"""The data envelope, ETags, and reading If-Match."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.event_handler import Response

from billow.domain.errors import PreconditionFailed

JSON = "application/json"
_ETAG = re.compile(r'(?:W/)?"([0-9]{1,18})"|([0-9]{1,18})')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(body: Any) -> str:
    return json.dumps(body, default=_default, separators=(",", ":"))


def single(
    data: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> Response[str]:
    """``{"data": {...}}`` with the object's version as its ETag."""
    all_headers = dict(headers or {})
    if "version" in data:
        all_headers["ETag"] = f'"{data["version"]}"'
    return Response(status_code=status, content_type=JSON, body=to_json({"data": data}), headers=all_headers)


def listing(items: list[dict[str, Any]], next_cursor: str | None) -> Response[str]:
    body = {"data": items, "pagination": {"next_cursor": next_cursor, "has_more": next_cursor is not None}}
    return Response(status_code=200, content_type=JSON, body=to_json(body))


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match header expects, or None when there is none (or ``*``)."""
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.fullmatch(header.strip())
    if not match:
        raise PreconditionFailed(detail='If-Match must be an ETag this API returned, such as "3"')
    return int(match.group(1) or match.group(2))
