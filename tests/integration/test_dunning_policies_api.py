"""/v1/dunning-policies through the API handler on moto: steps in a sensible order, one default
per tenant and mode, a customer or plan attached to one policy at most (also under concurrent
writes), archive releasing everything, and which policy applies to a customer's invoice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from billow.api.container import container
from billow.domain.dunning import DEFAULT_POLICY, DunningStep
from billow.domain.tenancy import Scope
from tests.integration.conftest import new_tenant_client
from tests.integration.invoicing.conftest import assert_refused
from tests.integration.test_api_conventions import stored_items
from tests.support.api_client import ApiClient, ApiResponse

PATH = "/v1/dunning-policies"
RETRIES = [
    {"after_days": 1, "action": "retry_payment"},
    {"after_days": 3, "action": "notify"},
    {"after_days": 7, "action": "retry_payment"},
]
UNKNOWN_ID = "0190a000-0000-7000-8000-000000000000"


def policy_body(name: str = "Standard", **extra: Any) -> dict[str, Any]:
    return {"name": name, "steps": RETRIES, **extra}


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(PATH, body)
    assert response.status == 201, response.body
    return dict(response.data)


def fetch(api: ApiClient, policy_id: str) -> dict[str, Any]:
    response = api.get(f"{PATH}/{policy_id}")
    assert response.status == 200, response.body
    return dict(response.data)


def listed(api: ApiClient, **query: str) -> list[dict[str, Any]]:
    response = api.get(PATH, query=query or None)
    assert response.status == 200, response.body
    return list(response.data)


def defaults(api: ApiClient) -> list[str]:
    return [p["id"] for p in listed(api) if p["is_default"]]


def new_customer(api: ApiClient, name: str = "Ada") -> str:
    response = api.post("/v1/customers", {"name": name})
    assert response.status == 201, response.body
    return str(response.data["id"])


def new_plan(api: ApiClient) -> str:
    product = api.post("/v1/products", {"name": "Platform", "type": "recurring"}).data
    price = api.post(
        "/v1/prices", {"product_id": product["id"], "currency": "EUR", "model": "flat", "amount": "10.00"}
    ).data
    response = api.post(
        "/v1/plans",
        {"name": "Basic", "currency": "EUR", "interval": "month", "components": [{"price_id": price["id"]}]},
    )
    assert response.status == 201, response.body
    return str(response.data["id"])


def scope_of(api: ApiClient) -> Scope:
    return container().tenancy.authenticate(str(api.api_key)).scope


def lookup_items() -> dict[str, str]:
    """Lookup item pk → the policy id it names."""
    return {
        item["pk"]["S"]: item["policy_id"]["S"]
        for item in stored_items()
        if item["kind"]["S"].startswith("dunning_policy_")
    }


def event_types(policy_id: str) -> list[str]:
    events = [
        item
        for item in stored_items()
        if item["kind"]["S"] == "event" and item["aggregate_id"]["S"] == policy_id
    ]
    events.sort(key=lambda item: int(item["envelope"]["M"]["aggregate"]["M"]["sequence"]["N"]))
    return [item["event_type"]["S"] for item in events]


# --- the lifecycle ----------------------------------------------------------------------


def test_create_get_list_patch_and_archive(api: ApiClient) -> None:
    customer = new_customer(api)
    created = api.post(
        PATH,
        policy_body(
            description="Three tries, then we give up on the subscription",
            steps=[*RETRIES, {"after_days": 14, "action": "cancel_subscription"}],
            applies_to={"customer_ids": [customer]},
            metadata={"team": "finance"},
        ),
    )
    assert created.status == 201, created.body
    policy = created.data
    assert created.header("Location") == f"{PATH}/{policy['id']}"
    assert created.header("ETag") == '"1"'
    assert {k: policy[k] for k in ("object", "livemode", "name", "is_default", "status", "version")} == {
        "object": "dunning_policy",
        "livemode": False,
        "name": "Standard",
        "is_default": True,  # the first policy
        "status": "active",
        "version": 1,
    }
    assert policy["steps"][-1] == {"after_days": 14, "action": "cancel_subscription"}
    assert policy["applies_to"] == {"customer_ids": [customer], "plan_ids": []}
    assert policy["metadata"] == {"team": "finance"}
    assert fetch(api, policy["id"]) == policy

    second = create(api, policy_body("Gentle"))
    assert second["is_default"] is False
    assert [p["id"] for p in listed(api)] == [second["id"], policy["id"]]  # newest first
    first_page = api.get(PATH, query={"limit": "1"})
    assert first_page.json()["pagination"]["has_more"] is True
    cursor = first_page.json()["pagination"]["next_cursor"]
    assert [p["id"] for p in api.get(PATH, query={"limit": "1", "cursor": cursor}).data] == [policy["id"]]

    patched = api.patch(
        f"{PATH}/{policy['id']}",
        {"name": "Strict", "description": None, "metadata": {"team": "", "tier": "gold"}},
        headers={"If-Match": '"1"'},
    )
    assert patched.status == 200, patched.body
    assert patched.header("ETag") == '"2"'
    assert (patched.data["name"], patched.data["description"]) == ("Strict", None)
    assert patched.data["metadata"] == {"tier": "gold"}

    archived = api.post(f"{PATH}/{policy['id']}/archive")
    assert archived.status == 200, archived.body
    assert {k: archived.data[k] for k in ("status", "is_default", "applies_to", "version")} == {
        "status": "archived",
        "is_default": False,
        "applies_to": {"customer_ids": [], "plan_ids": []},
        "version": 3,
    }
    assert [p["id"] for p in listed(api, status="archived")] == [policy["id"]]
    assert [p["id"] for p in listed(api, status="active")] == [second["id"]]
    assert_refused(api.post(f"{PATH}/{policy['id']}/archive"), 409, "invalid_state_transition")
    assert event_types(policy["id"]) == [
        "dunning_policy.created",
        "dunning_policy.updated",
        "dunning_policy.archived",
    ]


def test_a_patch_that_changes_nothing_writes_nothing(api: ApiClient) -> None:
    policy = create(api, policy_body())
    same = api.patch(f"{PATH}/{policy['id']}", {"name": "Standard", "steps": RETRIES})
    assert same.status == 200
    assert same.data == policy
    assert event_types(policy["id"]) == ["dunning_policy.created"]


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "pointer"),
    [
        (
            [{"after_days": 5, "action": "retry_payment"}, {"after_days": 3, "action": "notify"}],
            "/steps/1/after_days",
        ),
        (
            [
                {"after_days": 3, "action": "retry_payment"},
                {"after_days": 10, "action": "cancel_subscription"},
                {"after_days": 12, "action": "retry_payment"},
            ],
            "/steps/2/action",
        ),
        (
            [
                {"after_days": 10, "action": "mark_uncollectible"},
                {"after_days": 12, "action": "mark_uncollectible"},
            ],
            "/steps/1/action",
        ),
        ([{"after_days": 3, "action": "send_to_collections"}], "/steps/0/action"),
        ([{"after_days": 3}], "/steps/0/action"),
        ([{"after_days": "3", "action": "notify"}], "/steps/0/after_days"),  # a string is not a number
        ([{"after_days": 3.5, "action": "notify"}], "/steps/0/after_days"),
        ([{"after_days": True, "action": "notify"}], "/steps/0/after_days"),
        ([{"after_days": -1, "action": "notify"}], "/steps/0/after_days"),
        ([{"after_days": 366, "action": "notify"}], "/steps/0/after_days"),
        ([{"after_days": 1, "action": "notify", "channel": "sms"}], "/steps/0/channel"),
        ([], "/steps"),
        ([{"after_days": day, "action": "notify"} for day in range(21)], "/steps"),
    ],
)
def test_invalid_steps_are_refused(api: ApiClient, steps: list[Any], pointer: str) -> None:
    assert_refused(api.post(PATH, policy_body(steps=steps)), 422, "validation_failed", pointer)
    assert listed(api) == []


def test_notify_may_follow_a_final_action_and_both_final_actions_may_be_used(api: ApiClient) -> None:
    steps = [
        {"after_days": 3, "action": "retry_payment"},
        {"after_days": 20, "action": "cancel_subscription"},
        {"after_days": 20, "action": "mark_uncollectible"},
        {"after_days": 21, "action": "notify"},
    ]
    assert create(api, policy_body(steps=steps))["steps"] == steps


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (policy_body(name=""), "/name"),
        (policy_body(name="x" * 201), "/name"),
        (policy_body(name=7), "/name"),
        ({"steps": RETRIES}, "/name"),
        (policy_body(is_default=False), "/is_default"),
        (policy_body(status="archived"), "/status"),
        (policy_body(metadata={"k": 1}), "/metadata/k"),
        (policy_body(applies_to={"customer_ids": [UNKNOWN_ID]}), "/applies_to/customer_ids/0"),
        (policy_body(applies_to={"plan_ids": [UNKNOWN_ID]}), "/applies_to/plan_ids/0"),
        (policy_body(applies_to={"customer_ids": [UNKNOWN_ID] * 101}), "/applies_to/customer_ids"),
        (policy_body(applies_to={"customer_ids": "everyone"}), "/applies_to/customer_ids"),
        (policy_body(applies_to={"segments": []}), "/applies_to/segments"),
    ],
)
def test_invalid_policies_are_refused(api: ApiClient, body: dict[str, Any], pointer: str) -> None:
    assert_refused(api.post(PATH, body), 422, "validation_failed", pointer)
    assert listed(api) == []


def test_ids_must_exist_in_the_tenant_and_appear_once(api: ApiClient, other_api: ApiClient) -> None:
    mine = new_customer(api)
    theirs = new_customer(other_api)
    response = api.post(PATH, policy_body(applies_to={"customer_ids": [mine, theirs]}))
    assert_refused(response, 422, "validation_failed", "/applies_to/customer_ids/1")
    twice = api.post(PATH, policy_body(applies_to={"customer_ids": [mine, mine]}))
    assert_refused(twice, 422, "validation_failed", "/applies_to/customer_ids/1")
    policy = create(api, policy_body())
    patched = api.patch(f"{PATH}/{policy['id']}", {"applies_to": {"plan_ids": [UNKNOWN_ID]}})
    assert_refused(patched, 422, "validation_failed", "/applies_to/plan_ids/0")
    assert lookup_items() == {f"{scope_of(api).key_prefix}#DUNNING_FOR#DEFAULT": policy["id"]}


def test_patch_refuses_what_create_refuses(api: ApiClient) -> None:
    policy = create(api, policy_body())
    bad_steps = [
        {"after_days": 9, "action": "cancel_subscription"},
        {"after_days": 9, "action": "retry_payment"},
    ]
    for body, pointer in [
        ({"steps": bad_steps}, "/steps/1/action"),
        ({"steps": None}, "/steps"),
        ({"is_default": False}, "/is_default"),
        ({"name": None}, "/name"),
    ]:
        assert_refused(api.patch(f"{PATH}/{policy['id']}", body), 422, "validation_failed", pointer)
    assert fetch(api, policy["id"]) == policy


def test_a_policy_holds_at_most_90_customers_and_plans(api: ApiClient) -> None:
    # Each attachment is an item of the policy's one transaction (DynamoDB: 100 items at most).
    customers = [new_customer(api, f"C{i}") for i in range(91)]
    response = api.post(PATH, policy_body(applies_to={"customer_ids": customers}))
    assert_refused(response, 422, "validation_failed", "/applies_to")
    policy = create(api, policy_body(applies_to={"customer_ids": customers[:90]}))
    assert len(policy["applies_to"]["customer_ids"]) == 90
    archived = api.post(f"{PATH}/{policy['id']}/archive")
    assert archived.status == 200, archived.body
    assert lookup_items() == {}


# --- the default ------------------------------------------------------------------------


def test_the_default_moves_between_policies_in_one_transaction(api: ApiClient, api_handler: Any) -> None:
    first = create(api, policy_body("First"))
    second = create(api, policy_body("Second", is_default=True))
    assert defaults(api) == [second["id"]]
    # The old default lost the flag in the same write: its own version and event.
    assert fetch(api, first["id"])["version"] == 2
    assert event_types(first["id"]) == ["dunning_policy.created", "dunning_policy.updated"]

    back = api.patch(f"{PATH}/{first['id']}", {"is_default": True})
    assert back.status == 200, back.body
    assert defaults(api) == [first["id"]]
    prefix = scope_of(api).key_prefix
    assert lookup_items() == {f"{prefix}#DUNNING_FOR#DEFAULT": first["id"]}

    # Archiving the default leaves none: the built-in policy applies until another is made default.
    assert api.post(f"{PATH}/{first['id']}/archive").status == 200
    assert defaults(api) == []
    assert lookup_items() == {}
    assert_refused(api.patch(f"{PATH}/{first['id']}", {"is_default": True}), 409, "invalid_state_transition")
    assert api.patch(f"{PATH}/{second['id']}", {"is_default": True}).status == 200
    assert defaults(api) == [second["id"]]

    # Live keys have their own default.
    live = new_tenant_client(api_handler, "Tenant A live", livemode=True)
    assert create(live, policy_body())["is_default"] is True


def test_concurrent_first_policies_make_exactly_one_default(api: ApiClient) -> None:
    # Through the service: concurrent POSTs with distinct Idempotency-Keys race in the
    # in-process handler's idempotency layer, not in the code under test.
    service = container().dunning_policies
    scope = scope_of(api)
    barrier = threading.Barrier(4)

    def send(i: int) -> str:
        barrier.wait()
        return service.create(scope, {"name": f"P{i}", "steps": RETRIES}).id

    with ThreadPoolExecutor(max_workers=4) as pool:
        created = list(pool.map(send, range(4)))
    assert len(set(created)) == 4
    assert len(defaults(api)) == 1
    assert list(lookup_items().values()) == defaults(api)


# --- attachments ------------------------------------------------------------------------


def test_a_customer_or_plan_follows_one_policy(api: ApiClient) -> None:
    customer = new_customer(api)
    plan = new_plan(api)
    first = create(api, policy_body("First", applies_to={"customer_ids": [customer], "plan_ids": [plan]}))
    taken = api.post(PATH, policy_body("Second", applies_to={"customer_ids": [new_customer(api), customer]}))
    assert_refused(taken, 409, "conflict", "/applies_to/customer_ids/1")
    assert first["id"] in taken.json()["detail"]
    second = create(api, policy_body("Second"))
    plan_taken = api.patch(f"{PATH}/{second['id']}", {"applies_to": {"plan_ids": [plan]}})
    assert_refused(plan_taken, 409, "conflict", "/applies_to/plan_ids/0")
    assert first["id"] in plan_taken.json()["detail"]
    assert fetch(api, second["id"]) == second
    # Sending the same ids again is no change.
    again = api.patch(f"{PATH}/{first['id']}", {"applies_to": {"customer_ids": [customer]}})
    assert again.data == first


def test_concurrent_attaches_of_one_customer_let_exactly_one_policy_win(api: ApiClient) -> None:
    customer = new_customer(api)
    policies = [create(api, policy_body(f"P{i}")) for i in range(4)]
    barrier = threading.Barrier(len(policies))

    def attach(policy: dict[str, Any]) -> ApiResponse:
        barrier.wait()
        return api.patch(f"{PATH}/{policy['id']}", {"applies_to": {"customer_ids": [customer]}})

    with ThreadPoolExecutor(max_workers=len(policies)) as pool:
        responses = list(pool.map(attach, policies))
    winners = [r for r in responses if r.status == 200]
    assert len(winners) == 1, [r.body for r in responses]
    for response in responses:
        if response.status != 200:
            assert_refused(response, 409, "conflict", "/applies_to/customer_ids/0")
    holders = [p["id"] for p in listed(api) if customer in p["applies_to"]["customer_ids"]]
    assert holders == [winners[0].data["id"]]
    prefix = scope_of(api).key_prefix
    assert lookup_items()[f"{prefix}#DUNNING_FOR#CUSTOMER#{customer}"] == holders[0]


def test_removing_an_id_frees_it_for_another_policy(api: ApiClient) -> None:
    kept, freed = new_customer(api, "Kept"), new_customer(api, "Freed")
    plan = new_plan(api)
    first = create(api, policy_body("First", applies_to={"customer_ids": [kept, freed], "plan_ids": [plan]}))
    second = create(api, policy_body("Second"))
    patched = api.patch(f"{PATH}/{first['id']}", {"applies_to": {"customer_ids": [kept]}})
    assert patched.status == 200, patched.body
    # A list not sent is kept.
    assert patched.data["applies_to"] == {"customer_ids": [kept], "plan_ids": [plan]}
    moved = api.patch(f"{PATH}/{second['id']}", {"applies_to": {"customer_ids": [freed]}})
    assert moved.status == 200, moved.body
    prefix = scope_of(api).key_prefix
    assert lookup_items() == {
        f"{prefix}#DUNNING_FOR#DEFAULT": first["id"],
        f"{prefix}#DUNNING_FOR#CUSTOMER#{kept}": first["id"],
        f"{prefix}#DUNNING_FOR#PLAN#{plan}": first["id"],
        f"{prefix}#DUNNING_FOR#CUSTOMER#{freed}": second["id"],
    }


def test_archive_frees_everything(api: ApiClient) -> None:
    customer, plan = new_customer(api), new_plan(api)
    first = create(api, policy_body("First", applies_to={"customer_ids": [customer], "plan_ids": [plan]}))
    assert api.post(f"{PATH}/{first['id']}/archive").status == 200
    assert lookup_items() == {}
    attached = api.patch(f"{PATH}/{first['id']}", {"applies_to": {"customer_ids": [customer]}})
    assert_refused(attached, 409, "invalid_state_transition")
    second = create(api, policy_body("Second", applies_to={"customer_ids": [customer], "plan_ids": [plan]}))
    assert second["is_default"] is True  # the archived default left none
    assert len(lookup_items()) == 3


# --- resolution -------------------------------------------------------------------------


def test_policy_for_prefers_the_customer_then_the_plan_then_the_default(api: ApiClient) -> None:
    service = container().dunning_policies
    scope = scope_of(api)
    customer, other_customer = new_customer(api), new_customer(api, "Bob")
    plan = new_plan(api)

    builtin = service.policy_for(scope, customer, plan)
    assert builtin.is_builtin
    assert builtin.steps == DEFAULT_POLICY.steps == tuple(DunningStep(d, "retry_payment") for d in (3, 5, 7))
    assert builtin.livemode is False

    default = create(api, policy_body("Default"))
    by_plan = create(api, policy_body("By plan", applies_to={"plan_ids": [plan]}))
    by_customer = create(api, policy_body("By customer", applies_to={"customer_ids": [customer]}))
    assert service.policy_for(scope, customer, plan).id == by_customer["id"]
    assert service.policy_for(scope, customer, None).id == by_customer["id"]
    assert service.policy_for(scope, other_customer, plan).id == by_plan["id"]
    assert service.policy_for(scope, other_customer, None).id == default["id"]
    assert service.policy_for(scope, other_customer, UNKNOWN_ID).id == default["id"]

    api.post(f"{PATH}/{by_customer['id']}/archive")
    assert service.policy_for(scope, customer, plan).id == by_plan["id"]
    api.post(f"{PATH}/{default['id']}/archive")
    assert service.policy_for(scope, other_customer, None).is_builtin
    # Another tenant's policies never apply.
    other_scope = Scope(scope.tenant_id + "x", scope.livemode)
    assert service.policy_for(other_scope, customer, plan).is_builtin


# --- tenancy, concurrency, idempotency ---------------------------------------------------


def test_a_policy_of_another_tenant_is_not_found(api: ApiClient, other_api: ApiClient) -> None:
    policy = create(api, policy_body())
    assert_refused(other_api.get(f"{PATH}/{policy['id']}"), 404, "not_found")
    assert_refused(other_api.patch(f"{PATH}/{policy['id']}", {"name": "Mine"}), 404, "not_found")
    assert_refused(other_api.post(f"{PATH}/{policy['id']}/archive"), 404, "not_found")
    assert listed(other_api) == []
    # Their first policy is their own default.
    assert create(other_api, policy_body())["is_default"] is True
    assert fetch(api, policy["id"]) == policy


def test_a_stale_if_match_changes_nothing(api: ApiClient) -> None:
    policy = create(api, policy_body())
    stale = api.patch(f"{PATH}/{policy['id']}", {"name": "New"}, headers={"If-Match": '"7"'})
    assert_refused(stale, 412, "precondition_failed")
    stale_archive = api.post(f"{PATH}/{policy['id']}/archive", headers={"If-Match": '"7"'})
    assert_refused(stale_archive, 412, "precondition_failed")
    assert fetch(api, policy["id"]) == policy


def test_create_is_idempotent(api: ApiClient) -> None:
    assert_refused(api.post(PATH, policy_body(), idempotency_key=None), 400, "idempotency_key_required")
    first = api.post(PATH, policy_body(), idempotency_key="policy-1")
    replay = api.post(PATH, policy_body(), idempotency_key="policy-1")
    assert first.status == replay.status == 201
    assert replay.body == first.body
    assert replay.header("Idempotent-Replayed") == "true"
    assert_refused(
        api.post(PATH, policy_body("Other"), idempotency_key="policy-1"), 422, "idempotency_key_reused"
    )
    assert len(listed(api)) == 1
