"""Dunning policy use cases: create, read, list, change, archive, and which policy applies to a
customer's invoice (docs/dunning.md).

A tenant has at most one default policy per mode: the first one created, or the one made
default (the old one loses the flag in the same transaction). A customer or a plan is attached
to at most one policy; archiving a policy releases everything it held.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from billow.domain.dunning import (
    DEFAULT_ATTACHMENT,
    DEFAULT_POLICY,
    Attachment,
    DunningPolicy,
    attachment_moves,
    check_attachment_budget,
    dunning_policy_to_dict,
    steps_from,
    validate_applies_to,
    validate_steps,
)
from billow.domain.errors import (
    ConcurrentModification,
    FieldError,
    InvalidStateTransition,
    NotFound,
    ValidationFailed,
)
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.queries import Page, PageResult
from billow.ports.repositories import CustomerRepository, PlanRepository
from billow.services.concurrency import MAX_ATTEMPTS, read_decide_write
from billow.services.defaults import default_moved
from billow.services.events import change_event

MUTABLE = frozenset({"name", "description", "steps", "applies_to", "is_default", "metadata"})
PolicyPairs = list[tuple[DunningPolicy | None, DunningPolicy]]


class DunningPolicyRepository(Protocol):
    def get(self, scope: Scope, policy_id: str) -> DunningPolicy | None: ...

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[DunningPolicy]: ...

    def holder(self, scope: Scope, attachment: Attachment) -> str | None:
        """The id of the policy holding a customer, a plan or the default."""
        ...

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[DunningPolicy | None, DunningPolicy]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """Policies and the lookup items whose holder changes, all or nothing. Conflict when
        another policy holds a customer or plan; ConcurrentModification on any other race."""
        ...


def _refuse_false_default(raw: Mapping[str, Any]) -> None:
    if raw.get("is_default") is False:
        raise ValidationFailed(
            detail="a tenant keeps its default dunning policy once it has one",
            errors=[FieldError("/is_default", "only true; make another policy the default instead")],
        )


@dataclass
class DunningPolicyService:
    policies: DunningPolicyRepository
    customers: CustomerRepository
    plans: PlanRepository
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, type_: str, policy: DunningPolicy) -> EventEnvelope:
        return change_event(
            scope, type_, "dunning_policy", dunning_policy_to_dict(policy), new_id=self.new_id
        )

    def _held(self, scope: Scope, attachment: Attachment) -> DunningPolicy | None:
        policy_id = self.policies.holder(scope, attachment)
        policy = self.policies.get(scope, policy_id) if policy_id else None
        return policy if policy is not None and policy.status == "active" else None

    def default(self, scope: Scope) -> DunningPolicy | None:
        """The tenant's default policy in this mode (None: the built-in one applies)."""
        return self._held(scope, DEFAULT_ATTACHMENT)

    def policy_for(self, scope: Scope, customer_id: str, plan_id: str | None = None) -> DunningPolicy:
        """The policy an invoice of the customer (on the plan) follows: the customer's, else
        the plan's, else the tenant's default, else the built-in DEFAULT_POLICY. One or two
        GetItems per level, never a scan."""
        candidates = [Attachment("customer", customer_id)]
        if plan_id is not None:
            candidates.append(Attachment("plan", plan_id))
        candidates.append(DEFAULT_ATTACHMENT)
        for attachment in candidates:
            policy = self._held(scope, attachment)
            if policy is not None:
                return policy
        return replace(DEFAULT_POLICY, livemode=scope.livemode)

    def _check_targets(self, scope: Scope, policy: DunningPolicy, before: DunningPolicy | None) -> None:
        """What the policy would hold fits one transaction, and the customers and plans it newly
        takes exist in this tenant and mode (whether another policy holds them, the write finds)."""
        check_attachment_budget(policy, attachment_moves([(before, policy)]))
        held = before.attachments() if before is not None else frozenset()
        missing = [
            FieldError(f"/applies_to/customer_ids/{index}", f"no customer with id {customer_id}")
            for index, customer_id in enumerate(policy.customer_ids)
            if Attachment("customer", customer_id) not in held
            and self.customers.get(scope, customer_id) is None
        ]
        missing += [
            FieldError(f"/applies_to/plan_ids/{index}", f"no plan with id {plan_id}")
            for index, plan_id in enumerate(policy.plan_ids)
            if Attachment("plan", plan_id) not in held and self.plans.get(scope, plan_id) is None
        ]
        if missing:
            raise ValidationFailed(
                detail="a dunning policy applies to existing customers and plans", errors=missing
            )

    def create(self, scope: Scope, raw: Mapping[str, Any]) -> DunningPolicy:
        _refuse_false_default(raw)
        steps = steps_from(raw["steps"])
        validate_steps(steps)
        applies_to = raw.get("applies_to") or {}
        customer_ids = tuple(applies_to.get("customer_ids") or ())
        plan_ids = tuple(applies_to.get("plan_ids") or ())
        validate_applies_to(customer_ids, plan_ids)
        now = rfc3339(self.clock.now())
        draft = DunningPolicy(
            id=self.new_id(),
            livemode=scope.livemode,
            name=raw["name"],
            description=raw.get("description"),
            steps=steps,
            customer_ids=customer_ids,
            plan_ids=plan_ids,
            created_at=now,
            updated_at=now,
            metadata=dict(raw.get("metadata") or {}),
        )
        self._check_targets(scope, draft, None)
        # Two first policies created at once both find no default: the default's lookup item
        # lets one of them take it, and the other tries again as a plain policy.
        for _ in range(MAX_ATTEMPTS):
            current_default = self.default(scope)
            policy = replace(draft, is_default=bool(raw.get("is_default")) or current_default is None)
            pairs: PolicyPairs = [(None, policy), *default_moved(current_default, policy, now)]
            events = [self._event(scope, "dunning_policy.created", policy)]
            events += [self._event(scope, "dunning_policy.updated", after) for _, after in pairs[1:]]
            try:
                self.policies.save(scope, pairs, events)
            except ConcurrentModification:
                continue
            return policy
        raise ConcurrentModification(
            detail="dunning policies are being changed by many requests at once; retry"
        )

    def get(self, scope: Scope, policy_id: str) -> DunningPolicy:
        policy = self.policies.get(scope, policy_id)
        if policy is None:
            raise NotFound(detail=f"no dunning policy with id {policy_id}")
        return policy

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[DunningPolicy]:
        return self.policies.list(scope, page, status)

    def _change(
        self,
        scope: Scope,
        policy_id: str,
        if_match: int | None,
        decide: Callable[[DunningPolicy], DunningPolicy | None],
        event_type: str,
    ) -> DunningPolicy:
        def write(before: DunningPolicy, after: DunningPolicy) -> None:
            pairs: PolicyPairs = [(before, after)]
            if after.is_default and not before.is_default:
                pairs += default_moved(self.default(scope), after, after.updated_at)
            events = [self._event(scope, event_type, after)]
            events += [self._event(scope, "dunning_policy.updated", other) for _, other in pairs[1:]]
            self.policies.save(scope, pairs, events)

        return read_decide_write(
            partial(self.get, scope, policy_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda policy: policy.version,
            what="dunning policy",
        )

    def update(
        self, scope: Scope, policy_id: str, raw: Mapping[str, Any], if_match: int | None
    ) -> DunningPolicy:
        unknown = set(raw) - MUTABLE
        if unknown:  # pragma: no cover - the request model allows only MUTABLE
            raise ValueError(f"not mutable: {sorted(unknown)}")
        _refuse_false_default(raw)
        changes: dict[str, Any] = {name: raw[name] for name in ("name", "description") if name in raw}
        if "steps" in raw:
            changes["steps"] = steps_from(raw["steps"])
            validate_steps(changes["steps"])
        applies_to = raw.get("applies_to") or {}
        if "customer_ids" in applies_to:
            changes["customer_ids"] = tuple(applies_to["customer_ids"] or ())
        if "plan_ids" in applies_to:
            changes["plan_ids"] = tuple(applies_to["plan_ids"] or ())
        validate_applies_to(changes.get("customer_ids", ()), changes.get("plan_ids", ()))
        if raw.get("is_default"):
            changes["is_default"] = True
        now = rfc3339(self.clock.now())

        def decide(before: DunningPolicy) -> DunningPolicy | None:
            applied = dict(changes)
            if "metadata" in raw:
                applied["metadata"] = merge_metadata(before.metadata, raw["metadata"])
            if all(getattr(before, name) == value for name, value in applied.items()):
                return None
            after = before.touched(now, **applied)
            if after.status == "archived" and (after.is_default or after.customer_ids or after.plan_ids):
                raise InvalidStateTransition(
                    detail=f"dunning policy {before.id} is archived: it cannot be the default or apply "
                    "to customers and plans"
                )
            self._check_targets(scope, after, before)
            return after

        return self._change(scope, policy_id, if_match, decide, "dunning_policy.updated")

    def archive(self, scope: Scope, policy_id: str, if_match: int | None) -> DunningPolicy:
        now = rfc3339(self.clock.now())
        return self._change(
            scope, policy_id, if_match, lambda policy: policy.archive(now), "dunning_policy.archived"
        )
