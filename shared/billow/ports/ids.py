"""Ids are UUIDv7 (they sort by creation); a port so that tests can make them predictable."""

from __future__ import annotations

from typing import Protocol


class IdGenerator(Protocol):
    def __call__(self) -> str: ...
