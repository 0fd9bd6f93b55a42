"""What a policy holds through lookup items (a dunning policy its customers, plans and the
default; an FX policy its currency pairs and the default), and which lookup items a write moves.

Each attachment is one lookup item naming the policy that holds it, so two policies never hold
the same one. A write of several policies together (a new default and the old one) changes only
the items whose holder differs before and after it. Pure: the storage is the adapter's
(``adapters/dynamodb/policy_lookups.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar


class PolicyAttachment(Protocol):
    """One thing a policy can hold: hashable and ordered (the moves come in a stable order)."""

    @property
    def kind(self) -> str:
        """What is held ("customer", "plan", "pair"), or "default" for the tenant's default."""
        ...

    @property
    def label(self) -> str:
        """The attachment's part of its lookup item's key ("DEFAULT", "PLAN#{id}", …)."""
        ...

    def __lt__(self, other: Any) -> bool: ...


A = TypeVar("A", bound=PolicyAttachment)


class AttachingPolicy(Protocol[A]):
    @property
    def id(self) -> str: ...

    def attachments(self) -> frozenset[A]:
        """What the policy holds now (nothing once it is not active)."""
        ...

    def pointer_of(self, attachment: A) -> str:
        """The JSON pointer of the request field that names the attachment."""
        ...


# (attachment, id of the policy holding it before the write, after it); None: free.
AttachmentMove = tuple[A, str | None, str | None]


def attachment_moves(
    changes: Sequence[tuple[AttachingPolicy[A] | None, AttachingPolicy[A]]],
) -> list[AttachmentMove[A]]:
    """The lookup items a write changes: (attachment, holder before, holder after), for every
    attachment whose holder changes among the policies written together."""
    before = {a: p.id for p, _ in changes if p is not None for a in p.attachments()}
    after = {a: p.id for _, p in changes for a in p.attachments()}
    return [
        (attachment, before.get(attachment), after.get(attachment))
        for attachment in sorted(before.keys() | after.keys())
        if before.get(attachment) != after.get(attachment)
    ]
