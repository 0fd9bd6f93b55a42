"""Start-up of the local stack: `python -m billow.local` until its HTTP API answers.

Target (issue: "starts in under 15 s" once installed): median of three starts ≤ 15 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import start_stack
from tests.performance.registry import Target, figure, main

RUNS = 3


def _one_start() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as state:
        stack = start_stack(Path(state))
        try:
            started = time.perf_counter()
            response = stack.client().request("GET", "/v1/customers")
            first_request_ms = (time.perf_counter() - started) * 1000
            assert response.status == 200, response.body
        finally:
            stack.stop()
        return stack.startup_seconds, first_request_ms


def run() -> dict[str, Any]:
    starts, first_requests = zip(*(_one_start() for _ in range(RUNS)), strict=True)
    return {
        "description": "Seconds from launching python -m billow.local until its API accepts connections.",
        "startup_s": figure(round(statistics.median(starts), 2), "s", Target("<=", 15.0)),
        "startup_s_each": [round(s, 2) for s in starts],
        "first_request_ms": figure(round(statistics.median(first_requests), 1), "ms"),
        "runs": RUNS,
    }


if __name__ == "__main__":
    main(run)
