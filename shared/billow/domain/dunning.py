"""Dunning policies: what happens, and when, after an invoice's payment fails (docs/dunning.md).

A policy is an ordered list of steps, each ``after_days`` after the invoice's first failed
payment. A tenant has at most one default policy per mode; a customer or a plan is attached to
at most one policy. Which policy applies to an invoice: the customer's, else the plan's, else
the tenant's default, else the built-in ``DEFAULT_POLICY``.

Attachments (customers, plans, the default flag) are held through one lookup item each, so
finding a customer's policy is one read and two policies can never hold the same customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from billow.domain import policy_attachments
from billow.domain.errors import FieldError, InvalidStateTransition, ValidationFailed

DunningAction = Literal["retry_payment", "notify", "cancel_subscription", "mark_uncollectible"]
ACTIONS: tuple[DunningAction, ...] = ("retry_payment", "notify", "cancel_subscription", "mark_uncollectible")
# After these the dunning has settled the matter: a retry would charge a canceled subscription
# or an invoice written off, so only notifications (and the other final action) may follow.
FINAL_ACTIONS: frozenset[str] = frozenset({"cancel_subscription", "mark_uncollectible"})
DunningPolicyStatus = Literal["active", "archived"]

MAX_STEPS = 20
MAX_AFTER_DAYS = 365
MAX_NAME_LENGTH = 200
MAX_IDS_PER_LIST = 100
# Every attachment is one lookup item written in the policy's transaction; a DynamoDB
# transaction holds at most 100 items, and the policy, the previous default, the default's
# lookup and their events need the rest.
MAX_ATTACHMENT_CHANGES = 90


@dataclass(frozen=True)
class DunningStep:
    after_days: int
    action: DunningAction

    def to_dict(self) -> dict[str, Any]:
        return {"after_days": self.after_days, "action": self.action}


AttachmentKind = Literal["customer", "plan", "default"]


@dataclass(frozen=True, order=True)
class Attachment:
    """What a policy holds through a lookup item: a customer, a plan, or the tenant's default
    (``target_id`` empty)."""

    kind: AttachmentKind
    target_id: str = ""

    @property
    def label(self) -> str:
        """Its part of the lookup item's key: "CUSTOMER#{id}", "PLAN#{id}" or "DEFAULT"."""
        target = f"#{self.target_id}" if self.target_id else ""
        return f"{self.kind.upper()}{target}"


DEFAULT_ATTACHMENT = Attachment("default")


@dataclass(frozen=True)
class DunningPolicy:
    id: str
    livemode: bool
    name: str
    steps: tuple[DunningStep, ...]
    created_at: str
    updated_at: str
    description: str | None = None
    is_default: bool = False
    customer_ids: tuple[str, ...] = ()
    plan_ids: tuple[str, ...] = ()
    status: DunningPolicyStatus = "active"
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def is_builtin(self) -> bool:
        return self.id == BUILTIN_POLICY_ID

    def touched(self, now: str, **changes: Any) -> DunningPolicy:
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    def archive(self, now: str) -> DunningPolicy:
        """An archived policy applies to nothing: it drops the default flag and every customer
        and plan, which become free for another policy."""
        if self.status == "archived":
            raise InvalidStateTransition(detail=f"dunning policy {self.id} is already archived")
        return self.touched(now, status="archived", is_default=False, customer_ids=(), plan_ids=())

    def attachments(self) -> frozenset[Attachment]:
        if self.status != "active":
            return frozenset()
        held = {Attachment("customer", c) for c in self.customer_ids}
        held |= {Attachment("plan", p) for p in self.plan_ids}
        if self.is_default:
            held.add(DEFAULT_ATTACHMENT)
        return frozenset(held)

    def pointer_of(self, attachment: Attachment) -> str:
        """Where the request named an attachment (the lists keep the client's order)."""
        if attachment.kind == "default":
            return "/is_default"
        ids = self.customer_ids if attachment.kind == "customer" else self.plan_ids
        return f"/applies_to/{attachment.kind}_ids/{ids.index(attachment.target_id)}"


BUILTIN_POLICY_ID = "builtin"
# Used when neither the customer, the plan nor the tenant names a policy: three retries over a
# week, as Stripe's default Smart Retries schedule does, and no final action (the invoice stays
# open; the engine reports the dunning as exhausted).
DEFAULT_POLICY = DunningPolicy(
    id=BUILTIN_POLICY_ID,
    livemode=False,
    name="Built-in default",
    description="Retries the payment 3, 5 and 7 days after the first failure.",
    steps=(
        DunningStep(3, "retry_payment"),
        DunningStep(5, "retry_payment"),
        DunningStep(7, "retry_payment"),
    ),
    created_at="1970-01-01T00:00:00Z",
    updated_at="1970-01-01T00:00:00Z",
)


def _step_errors(index: int, step: DunningStep) -> list[FieldError]:
    errors = []
    days = step.after_days
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_AFTER_DAYS:
        errors.append(FieldError(f"/steps/{index}/after_days", f"must be a whole number 0..{MAX_AFTER_DAYS}"))
    if step.action not in ACTIONS:
        errors.append(FieldError(f"/steps/{index}/action", f"must be one of {', '.join(ACTIONS)}"))
    return errors


def validate_steps(steps: Sequence[DunningStep]) -> None:
    """1 to 20 steps, days never decreasing, each final action at most once and followed only
    by notifications (or the other final action). Every violation is reported."""
    if not 1 <= len(steps) <= MAX_STEPS:
        raise ValidationFailed(
            detail="a dunning policy has 1 to 20 steps",
            errors=[FieldError("/steps", f"must hold 1 to {MAX_STEPS} steps; it holds {len(steps)}")],
        )
    errors: list[FieldError] = []
    final_seen: dict[str, int] = {}
    previous_days: int | None = None
    for index, step in enumerate(steps):
        shape = _step_errors(index, step)
        errors += shape
        if shape:
            continue
        if previous_days is not None and step.after_days < previous_days:
            errors.append(
                FieldError(
                    f"/steps/{index}/after_days",
                    f"{step.after_days} is before the previous step's {previous_days}: days never decrease",
                )
            )
        previous_days = step.after_days
        if step.action in final_seen:
            errors.append(
                FieldError(
                    f"/steps/{index}/action",
                    f"{step.action} is already step {final_seen[step.action]}; it can happen once",
                )
            )
        elif final_seen and step.action not in FINAL_ACTIONS and step.action != "notify":
            first = min(final_seen.values())
            errors.append(
                FieldError(
                    f"/steps/{index}/action",
                    f"{step.action} cannot follow {steps[first].action} (step {first}); only notify can",
                )
            )
        if step.action in FINAL_ACTIONS:
            final_seen.setdefault(step.action, index)
    if errors:
        raise ValidationFailed(detail="the dunning steps are invalid", errors=errors)


def steps_from(raw: Iterable[Mapping[str, Any]]) -> tuple[DunningStep, ...]:
    return tuple(DunningStep(after_days=s["after_days"], action=s["action"]) for s in raw)


def validate_applies_to(customer_ids: Sequence[str], plan_ids: Sequence[str]) -> None:
    """Shape only: each list at most 100 ids, none twice. That the ids exist, and are not
    another policy's, is checked against storage."""
    errors = []
    for kind, ids in (("customer", customer_ids), ("plan", plan_ids)):
        if len(ids) > MAX_IDS_PER_LIST:
            errors.append(FieldError(f"/applies_to/{kind}_ids", f"holds at most {MAX_IDS_PER_LIST} ids"))
        seen: set[str] = set()
        for index, target_id in enumerate(ids):
            if target_id in seen:
                errors.append(
                    FieldError(f"/applies_to/{kind}_ids/{index}", f"lists {kind} {target_id} twice")
                )
            seen.add(target_id)
    if errors:
        raise ValidationFailed(detail="applies_to is invalid", errors=errors)


AttachmentMove = policy_attachments.AttachmentMove[Attachment]


def attachment_moves(changes: Sequence[tuple[DunningPolicy | None, DunningPolicy]]) -> list[AttachmentMove]:
    """The lookup items a write changes (policy_attachments.attachment_moves)."""
    return policy_attachments.attachment_moves(changes)


def check_attachment_budget(policy: DunningPolicy, moves: Sequence[AttachmentMove]) -> None:
    """A policy holds, and a write changes, at most MAX_ATTACHMENT_CHANGES customers and plans
    in all, so that creating, changing or archiving it is always one transaction."""
    held = len(policy.customer_ids) + len(policy.plan_ids)
    changed = sum(1 for attachment, _, _ in moves if attachment.kind != "default")
    limit = MAX_ATTACHMENT_CHANGES
    if held > limit:
        raise ValidationFailed(
            detail=f"a dunning policy applies to at most {limit} customers and plans in all",
            errors=[FieldError("/applies_to", f"names {held} customers and plans; at most {limit}")],
        )
    if changed > limit:
        raise ValidationFailed(
            detail=f"one request attaches or releases at most {limit} customers and plans; "
            f"this one changes {changed}: split it into several requests",
            errors=[FieldError("/applies_to", f"changes {changed} attachments; at most {limit}")],
        )


def dunning_policy_to_dict(policy: DunningPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "object": "dunning_policy",
        "livemode": policy.livemode,
        "name": policy.name,
        "description": policy.description,
        "steps": [step.to_dict() for step in policy.steps],
        "is_default": policy.is_default,
        "applies_to": {"customer_ids": list(policy.customer_ids), "plan_ids": list(policy.plan_ids)},
        "status": policy.status,
        "metadata": dict(policy.metadata),
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
        "version": policy.version,
    }


def dunning_policy_from_dict(data: Mapping[str, Any]) -> DunningPolicy:
    applies_to = data.get("applies_to") or {}
    return DunningPolicy(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        name=str(data["name"]),
        description=data.get("description"),
        steps=tuple(DunningStep(int(s["after_days"]), s["action"]) for s in data.get("steps") or ()),
        is_default=bool(data.get("is_default")),
        customer_ids=tuple(applies_to.get("customer_ids") or ()),
        plan_ids=tuple(applies_to.get("plan_ids") or ()),
        status=data.get("status", "active"),
        metadata=dict(data.get("metadata") or {}),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        version=int(data.get("version", 1)),
    )
