"""One default among a few objects (a tenant's gateways per mode, a customer's payment methods):
when one takes the flag, the previous default loses it in the same write."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar


class Defaultable(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def is_default(self) -> bool: ...

    def touched(self, now: str, **changes: Any) -> Any: ...


D = TypeVar("D", bound=Defaultable)


def default_moved(previous: D | None, new_default: D, now: str) -> list[tuple[D | None, D]]:
    """The write that takes the flag from ``previous`` when ``new_default`` holds it now."""
    if previous is None or previous.id == new_default.id or not new_default.is_default:
        return []
    return [(previous, previous.touched(now, is_default=False))]
