"""Optimistic locking rules shared by every use case that changes a versioned object."""

from __future__ import annotations

from collections.abc import Callable

from billow.domain.errors import ConcurrentModification, PreconditionFailed


def require_version(if_match: int | None, current: int) -> None:
    """If-Match names the version the client last saw; any other current version is 412."""
    if if_match is not None and if_match != current:
        raise PreconditionFailed(
            detail=f"If-Match version {if_match} does not match the current version {current}"
        )


def committed(if_match: int | None, write: Callable[[], None]) -> bool:
    """Run a conditional write. False when it lost a race and the caller should re-read and
    re-apply its change; with If-Match, losing a race is the client's 412 instead."""
    try:
        write()
    except ConcurrentModification:
        if if_match is not None:
            raise PreconditionFailed(detail="the object changed since the version in If-Match") from None
        return False
    return True
