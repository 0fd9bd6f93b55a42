"""Optimistic locking rules shared by every use case that changes a versioned object."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

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


T = TypeVar("T")
# How often a change without If-Match is re-applied on a fresh read after losing a race.
MAX_ATTEMPTS = 8


def read_decide_write(
    read: Callable[[], T],
    decide: Callable[[T], T | None],
    write: Callable[[T, T], None],
    *,
    if_match: int | None,
    version_of: Callable[[T], int],
    what: str,
) -> T:
    """The one way a versioned object changes: read it, check If-Match, decide the new state
    (None: nothing changes, nothing is written), write it under the read version."""
    for _ in range(MAX_ATTEMPTS):
        before = read()
        require_version(if_match, version_of(before))
        after = decide(before)
        if after is None:
            return before
        if committed(if_match, partial(write, before, after)):
            return after
    raise ConcurrentModification(detail=f"the {what} is being changed by many requests at once; retry")
