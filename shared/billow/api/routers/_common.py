"""Small helpers every resource router shares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from billow.api.request import current_request
from billow.api.responses import parse_if_match
from billow.domain.errors import FieldError, ValidationFailed


def if_match() -> int | None:
    return parse_if_match(current_request().header("if-match"))


def sent_fields(model: Any, not_nullable: Iterable[str]) -> dict[str, Any]:
    """The fields the client sent (nulls kept, to clear fields); null is refused where a
    field cannot be empty."""
    changes: dict[str, Any] = model.model_dump(exclude_unset=True)
    errors = [
        FieldError(f"/{name}", "cannot be null")
        for name in sorted(not_nullable)
        if name in changes and changes[name] is None
    ]
    if errors:
        raise ValidationFailed(detail="some fields cannot be cleared", errors=errors)
    return changes
