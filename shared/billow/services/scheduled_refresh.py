"""A scheduled refresh (the ECB's reference rates, TEDB's VAT rates) as its Lambda function runs it.

The invocation's ``{"force": true}`` (an operator's direct invocation) asks the source whatever
the refresh's own pacing says. A failure is logged and raised, so the invocation fails (and
Lambda retries it) and what is held stays as it was; a refresh that ran is logged; the
outcome's summary is the function's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools import Logger


class RefreshOutcome(Protocol):
    @property
    def skipped(self) -> str | None:
        """Why the source was not asked at all; None when it was."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


def run_scheduled_refresh(
    event: Any, refresh: Callable[[bool], RefreshOutcome], *, logger: Logger, what: str, kept: str
) -> dict[str, Any]:
    """Run ``refresh(force)`` for the function's ``event``; ``what`` names the data in the log
    ("reference rates") and ``kept`` says what a failure leaves ("the rates held are kept")."""
    force = isinstance(event, dict) and event.get("force") is True
    try:
        result = refresh(force)
    except Exception:
        logger.exception(f"{what} refresh failed; {kept}")
        raise
    summary = result.to_dict()
    if result.skipped is None:
        logger.info(f"{what} refreshed", extra=summary)
    return summary
