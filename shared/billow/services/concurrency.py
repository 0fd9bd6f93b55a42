"""Optimistic locking rules shared by every use case that changes a versioned object."""

from __future__ import annotations

from billow.domain.errors import PreconditionFailed


def require_version(if_match: int | None, current: int) -> None:
    """If-Match names the version the client last saw; any other current version is 412."""
    if if_match is not None and if_match != current:
        raise PreconditionFailed(
            detail=f"If-Match version {if_match} does not match the current version {current}"
        )
