"""Request bodies of /v1/dunning-policies. Types are checked here (``after_days`` is a JSON
integer, never "3"); the order of the steps and the attachments are the domain's rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Id, Metadata, StrictModel

PolicyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
IdList = Annotated[list[Id], Field(max_length=100)]


class DunningStepBody(StrictModel):
    after_days: int = Field(ge=0, le=365, description="days after the invoice's first failed payment")
    action: Literal["retry_payment", "notify", "cancel_subscription", "mark_uncollectible"]


Steps = Annotated[
    list[DunningStepBody],
    Field(
        min_length=1,
        max_length=20,
        description="in order; after_days never decreases; cancel_subscription and mark_uncollectible "
        "at most once each, followed only by notify (or the other one)",
    ),
]


class AppliesTo(StrictModel):
    """A customer or a plan follows at most one policy; a list sent replaces the old one."""

    customer_ids: IdList = Field(default_factory=list)
    plan_ids: IdList = Field(default_factory=list)


DefaultFlag = Literal[True] | None


class DunningPolicyCreate(StrictModel):
    name: PolicyName
    description: Description | None = None
    steps: Steps
    is_default: DefaultFlag = Field(
        default=None, description="true makes it the default (the first policy is the default anyway)"
    )
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    metadata: Metadata = Field(default_factory=dict)


class DunningPolicyUpdate(StrictModel):
    name: PolicyName | None = None
    description: Description | None = None
    steps: Steps | None = None
    is_default: DefaultFlag = Field(default=None, description="only true: make this policy the default")
    applies_to: AppliesTo | None = None
    metadata: Metadata | None = None


NOT_NULLABLE = frozenset({"name", "steps", "is_default", "applies_to", "metadata"})
