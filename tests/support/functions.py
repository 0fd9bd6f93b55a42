"""Loading a function's handler the way Lambda does: by file path, under its own module name."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

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


def gateway() -> Any:
    """The HTTP API's routes as template.yaml declares them: usage events go to the ingest
    function, everything else to the API function.

    Each thread gets its own handlers, as concurrent requests in AWS each get their own Lambda
    container: a Powertools resolver keeps the request it is handling on itself, so two
    threads sharing one would mix their requests up."""
    local = threading.local()

    def handlers() -> tuple[Any, Any]:
        if not hasattr(local, "api"):
            local.api = load_function("api").lambda_handler
            local.ingest = load_function("ingest").lambda_handler
        return local.api, local.ingest

    handlers()

    def route(event: dict[str, Any], context: Any) -> Any:
        api, ingest = handlers()
        target = ingest if str(event.get("rawPath", "")).startswith(INGEST_PREFIX) else api
        return target(event, context)

    return route
