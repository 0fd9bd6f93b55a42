"""Dunning policies without storage: the order rules of the steps, the shape of applies_to, the
lookup items a write moves, and the built-in default."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.dunning import (
    ACTIONS,
    DEFAULT_ATTACHMENT,
    DEFAULT_POLICY,
    MAX_ATTACHMENT_CHANGES,
    Attachment,
    DunningAction,
    DunningPolicy,
    DunningStep,
    attachment_moves,
    check_attachment_budget,
    dunning_policy_from_dict,
    dunning_policy_to_dict,
    steps_from,
    validate_applies_to,
    validate_steps,
)
from billow.domain.errors import InvalidStateTransition, ValidationFailed

NOW = "2026-11-21T10:00:00Z"
LATER = "2026-11-22T10:00:00Z"


def steps(*pairs: tuple[int, str]) -> tuple[DunningStep, ...]:
    return steps_from({"after_days": days, "action": action} for days, action in pairs)


def pointers(error: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [e.pointer for e in error.value.errors]


def policy(policy_id: str = "p1", **changes: Any) -> DunningPolicy:
    fields: dict[str, Any] = {
        "id": policy_id,
        "livemode": False,
        "name": "Standard",
        "steps": steps((3, "retry_payment")),
        "created_at": NOW,
        "updated_at": NOW,
        **changes,
    }
    return DunningPolicy(**fields)


# --- steps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good",
    [
        steps((0, "retry_payment")),
        steps((1, "retry_payment"), (1, "notify"), (3, "retry_payment"), (7, "retry_payment")),
        steps((3, "retry_payment"), (14, "cancel_subscription"), (14, "notify"), (30, "notify")),
        steps((3, "retry_payment"), (20, "cancel_subscription"), (20, "mark_uncollectible"), (21, "notify")),
        steps((365, "mark_uncollectible")),
        tuple(DunningStep(day, "notify") for day in range(20)),
    ],
)
def test_sensible_steps_pass(good: tuple[DunningStep, ...]) -> None:
    validate_steps(good)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (steps((5, "retry_payment"), (3, "retry_payment")), ["/steps/1/after_days"]),
        (steps((3, "cancel_subscription"), (5, "retry_payment")), ["/steps/1/action"]),
        (steps((3, "mark_uncollectible"), (5, "retry_payment")), ["/steps/1/action"]),
        (steps((3, "cancel_subscription"), (4, "cancel_subscription")), ["/steps/1/action"]),
        (
            steps((3, "mark_uncollectible"), (4, "notify"), (5, "mark_uncollectible")),
            ["/steps/2/action"],
        ),
        (steps((3, "send_a_letter")), ["/steps/0/action"]),
        (steps((-1, "notify")), ["/steps/0/after_days"]),
        (steps((366, "notify")), ["/steps/0/after_days"]),
        (steps(("3", "notify")), ["/steps/0/after_days"]),  # type: ignore[arg-type]
        (steps((True, "notify")), ["/steps/0/after_days"]),
        (steps((2.5, "notify")), ["/steps/0/after_days"]),  # type: ignore[arg-type]
        ((), ["/steps"]),
        (tuple(DunningStep(day, "notify") for day in range(21)), ["/steps"]),
        # Every violation is reported, each at its step.
        (
            steps((9, "cancel_subscription"), (4, "retry_payment"), (10, "cancel_subscription")),
            ["/steps/1/after_days", "/steps/1/action", "/steps/2/action"],
        ),
    ],
)
def test_invalid_steps_name_their_pointer(bad: tuple[DunningStep, ...], expected: list[str]) -> None:
    with pytest.raises(ValidationFailed) as error:
        validate_steps(bad)
    assert pointers(error) == expected


@given(
    st.lists(
        st.tuples(st.integers(0, 365), st.sampled_from(ACTIONS)),
        min_size=1,
        max_size=20,
    )
)
def test_steps_pass_exactly_when_every_rule_holds(raw: list[tuple[int, DunningAction]]) -> None:
    candidate = tuple(DunningStep(days, action) for days, action in raw)
    days = [s.after_days for s in candidate]
    actions = [s.action for s in candidate]
    finals = [i for i, a in enumerate(actions) if a in ("cancel_subscription", "mark_uncollectible")]
    ok = (
        days == sorted(days)
        and actions.count("cancel_subscription") <= 1
        and actions.count("mark_uncollectible") <= 1
        and (not finals or "retry_payment" not in actions[finals[0] :])
    )
    if ok:
        validate_steps(candidate)
    else:
        with pytest.raises(ValidationFailed):
            validate_steps(candidate)


def test_the_builtin_default_retries_three_times_over_a_week_and_never_cancels() -> None:
    validate_steps(DEFAULT_POLICY.steps)
    assert [(s.after_days, s.action) for s in DEFAULT_POLICY.steps] == [
        (3, "retry_payment"),
        (5, "retry_payment"),
        (7, "retry_payment"),
    ]
    assert DEFAULT_POLICY.is_builtin
    assert not DEFAULT_POLICY.is_default


# --- applies_to -------------------------------------------------------------------------


def test_applies_to_lists_each_id_once_and_at_most_100() -> None:
    validate_applies_to(["c1", "c2"], ["p1"])
    with pytest.raises(ValidationFailed) as error:
        validate_applies_to(["c1", "c2", "c1"], ["p1", "p1"])
    assert pointers(error) == ["/applies_to/customer_ids/2", "/applies_to/plan_ids/1"]
    with pytest.raises(ValidationFailed) as error:
        validate_applies_to([f"c{i}" for i in range(101)], [])
    assert pointers(error) == ["/applies_to/customer_ids"]


def test_attachments_and_where_the_request_named_them() -> None:
    held = policy(customer_ids=("c1", "c2"), plan_ids=("p9",), is_default=True)
    assert held.attachments() == {
        Attachment("customer", "c1"),
        Attachment("customer", "c2"),
        Attachment("plan", "p9"),
        DEFAULT_ATTACHMENT,
    }
    assert held.pointer_of(Attachment("customer", "c2")) == "/applies_to/customer_ids/1"
    assert held.pointer_of(Attachment("plan", "p9")) == "/applies_to/plan_ids/0"
    assert held.pointer_of(DEFAULT_ATTACHMENT) == "/is_default"


def test_archiving_releases_everything_once() -> None:
    held = policy(customer_ids=("c1",), plan_ids=("p9",), is_default=True)
    archived = held.archive(LATER)
    assert (archived.status, archived.is_default, archived.customer_ids, archived.plan_ids) == (
        "archived",
        False,
        (),
        (),
    )
    assert (archived.version, archived.updated_at) == (2, LATER)
    assert archived.attachments() == frozenset()
    with pytest.raises(InvalidStateTransition):
        archived.archive(LATER)


def test_a_write_moves_only_the_lookups_whose_holder_changes() -> None:
    old_default = policy("a", is_default=True, customer_ids=("c1",))
    before = policy("b", customer_ids=("c2", "c3"))
    after = before.touched(LATER, customer_ids=("c3", "c4"), is_default=True)
    moves = attachment_moves([(before, after), (old_default, old_default.touched(LATER, is_default=False))])
    assert moves == [
        (Attachment("customer", "c2"), "b", None),
        (Attachment("customer", "c4"), None, "b"),
        (DEFAULT_ATTACHMENT, "a", "b"),
    ]
    assert attachment_moves([(None, policy("n", plan_ids=("p1",)))]) == [
        (Attachment("plan", "p1"), None, "n")
    ]
    assert attachment_moves([(after, after)]) == []


def test_one_write_fits_one_dynamodb_transaction() -> None:
    ids = tuple(f"c{i}" for i in range(MAX_ATTACHMENT_CHANGES))
    full = policy(customer_ids=ids)
    check_attachment_budget(full, attachment_moves([(None, full)]))
    over = policy(customer_ids=ids, plan_ids=("p1",))
    with pytest.raises(ValidationFailed) as error:
        check_attachment_budget(over, attachment_moves([(None, over)]))
    assert pointers(error) == ["/applies_to"]
    # Replacing every id at once: the releases count too.
    replaced = full.touched(LATER, customer_ids=tuple(f"d{i}" for i in range(MAX_ATTACHMENT_CHANGES)))
    with pytest.raises(ValidationFailed):
        check_attachment_budget(replaced, attachment_moves([(full, replaced)]))


def test_the_stored_form_round_trips() -> None:
    original = policy(
        description="d",
        steps=steps((1, "retry_payment"), (9, "cancel_subscription")),
        customer_ids=("c1",),
        plan_ids=("p1", "p2"),
        is_default=True,
        metadata={"k": "v"},
        version=4,
    )
    data = dunning_policy_to_dict(original)
    assert data["object"] == "dunning_policy"
    assert data["applies_to"] == {"customer_ids": ["c1"], "plan_ids": ["p1", "p2"]}
    assert dunning_policy_from_dict(data) == original
