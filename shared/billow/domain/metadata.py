"""Metadata: the client's own string key-value pairs on an object."""

from __future__ import annotations

from collections.abc import Mapping


def merge_metadata(current: Mapping[str, str], changes: Mapping[str, str] | None) -> dict[str, str]:
    """Key by key, as Stripe does: a new value replaces, an empty string removes the key."""
    merged = {**current, **(changes or {})}
    return {key: value for key, value in merged.items() if value != ""}
