"""The request being served, in a ContextVar so concurrent local requests never mix.

Routers read it through ``current_request()`` rather than ``router.current_event``: under the
local ASGI resolver the latter is shared between threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from billow.domain.tenancy import Scope


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: str | None
    scope: Scope | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def require_scope(self) -> Scope:
        if self.scope is None:  # pragma: no cover - the edge middleware always sets it
            raise RuntimeError("no authenticated scope for this request")
        return self.scope


_current: ContextVar[RequestContext | None] = ContextVar("billow_request", default=None)


def current_request() -> RequestContext:
    request = _current.get()
    if request is None:  # pragma: no cover
        raise RuntimeError("no request is being served")
    return request


def set_request(request: RequestContext | None) -> Any:
    return _current.set(request)


def reset_request(token: Any) -> None:
    _current.reset(token)
