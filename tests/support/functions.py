"""Loading a function's handler the way Lambda does: by file path, under its own module name."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

ROOT = Path(__file__).resolve().parents[2]


def load_function(name: str) -> Any:
    """Import functions/<name>/app.py under a unique module name (every handler is app.py)."""
    spec = importlib.util.spec_from_file_location(
        f"billow_function_{name}", ROOT / "functions" / name / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INGEST_PREFIX = "/v1/usage/events"


class OwnRequestHttpResolver(APIGatewayHttpResolver):
    """An HTTP API resolver that keeps the request it resolves on itself.

    Powertools stores the current event and Lambda context on ``BaseRouter``, the class, so
    every resolver in a process shares them: right in Lambda (one request per container),
    wrong for threads that each resolve a request in one test process, where one thread's
    validation and middlewares would read another's request (headers, body, idempotency key).
    The local stack's ``HttpResolverLocal`` keeps them per request the same way."""

    _own_event: Any = None
    _own_context: Any = None

    @property  # type: ignore[override]
    def current_event(self) -> Any:
        return self._own_event

    @current_event.setter
    def current_event(self, value: Any) -> None:
        self._own_event = value

    @property  # type: ignore[override]
    def lambda_context(self) -> Any:
        return self._own_context

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._own_context = value

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._own_event = self._to_proxy_event(event)
        self._own_context = context
        return super().resolve(event, context)


def _function_with_own_request(name: str) -> Any:
    """functions/<name>/app.py with its resolver rebuilt as an OwnRequestHttpResolver (the
    same routes, middlewares and settings: build_api or build_ingest on the new resolver)."""
    module = load_function(name)
    from billow.api.app import build_api, build_ingest

    resolver = OwnRequestHttpResolver(enable_validation=True)
    module.app = build_ingest(resolver) if name == "ingest" else build_api(resolver)
    return module.lambda_handler


def gateway() -> Any:
    """The HTTP API's routes as template.yaml declares them: usage events go to the ingest
    function, everything else to the API function.

    Each thread gets its own handlers, as concurrent requests in AWS each get their own Lambda
    container, and each handler's resolver keeps its request on itself (OwnRequestHttpResolver),
    so threads resolving side by side never read each other's request."""
    local = threading.local()

    def handlers() -> tuple[Any, Any]:
        if not hasattr(local, "api"):
            local.api = _function_with_own_request("api")
            local.ingest = _function_with_own_request("ingest")
        return local.api, local.ingest

    handlers()

    def route(event: dict[str, Any], context: Any) -> Any:
        api, ingest = handlers()
        target = ingest if str(event.get("rawPath", "")).startswith(INGEST_PREFIX) else api
        return target(event, context)

    return route
