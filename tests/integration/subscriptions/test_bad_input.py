"""Refused subscription requests: each answers the RFC 9457 problem with its stable code and
leaves the subscription (its version) and its invoices exactly as they were."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.conftest import new_tenant_client
from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient, ApiResponse
from tests.support.subscriptions import (
    Catalog,
    amounts,
    get_sub,
    invoices_of,
    new_clock,
    new_customer,
    subscribe,
)


@pytest.fixture
def active(api: ApiClient, catalog: Catalog) -> dict[str, Any]:
    """An active seat subscription, 3 x 10.00 a month anchored on the 1st, started on its
    clock's Mar 15 09:00: a change now prorates 17 of March's 31 days."""
    clock = new_clock(api, "2026-03-15T09:00:00Z")
    sub = subscribe(
        api,
        clock,
        catalog["seat"],
        items=[{"price_id": catalog["seat"]["id"], "quantity": "3"}],
        billing_anchor={"type": "day_of_month", "day_of_month": 1},
    )
    assert (sub["status"], sub["current_period_end"]) == ("active", "2026-04-01T00:00:00Z")
    return {**sub, "clock": clock}


class Unchanged:
    """Remembers a subscription's version and invoices, to check a refused request left them."""

    def __init__(self, api: ApiClient, subscription_id: str) -> None:
        self.api = api
        self.subscription_id = subscription_id
        self.before = get_sub(api, subscription_id)
        self.invoices = invoices_of(api, subscription_id)

    def check(self) -> None:
        after = get_sub(self.api, self.subscription_id)
        assert after["version"] == self.before["version"]
        assert after == self.before
        assert invoices_of(self.api, self.subscription_id) == self.invoices


def subscription_count(api: ApiClient, customer_id: str) -> int:
    return len(api.get("/v1/subscriptions", query={"customer_id": customer_id}).data)


def assert_pointer(response: ApiResponse, pointer: str) -> None:
    assert pointer in [e["pointer"] for e in response.json()["errors"]], response.body


# --- state --------------------------------------------------------------------------------------


def test_changing_a_canceled_subscription_is_409(api: ApiClient, active: dict[str, Any]) -> None:
    sid = active["id"]
    assert api.post(f"/v1/subscriptions/{sid}/cancel", {"when": "immediately"}).status == 200
    unchanged = Unchanged(api, sid)
    for response in (
        api.post(f"/v1/subscriptions/{sid}/change", {"quantity": "5"}),
        api.post(f"/v1/subscriptions/{sid}/change", {"quantity": "5", "when": "next_period"}),
        api.post(f"/v1/subscriptions/{sid}/pause", {}),
        api.post(f"/v1/subscriptions/{sid}/resume"),
        api.post(f"/v1/subscriptions/{sid}/cancel", {"when": "immediately"}),  # cancel twice
        api.post(f"/v1/subscriptions/{sid}/cancel", {"when": "period_end"}),
        api.post(f"/v1/subscriptions/{sid}/add-ons", {"price_id": active["items"][0]["price_id"]}),
    ):
        assert_problem(response, 409, "invalid_state_transition")
    unchanged.check()


def test_pausing_a_trialing_subscription_is_409(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"], trial_days=14)
    unchanged = Unchanged(api, sub["id"])
    assert_problem(api.post(f"/v1/subscriptions/{sub['id']}/pause", {}), 409, "invalid_state_transition")
    unchanged.check()


def test_resuming_an_active_subscription_is_409(api: ApiClient, active: dict[str, Any]) -> None:
    unchanged = Unchanged(api, active["id"])
    assert_problem(api.post(f"/v1/subscriptions/{active['id']}/resume"), 409, "invalid_state_transition")
    unchanged.check()


def test_pausing_with_a_change_scheduled_for_the_period_end_is_409(
    api: ApiClient, active: dict[str, Any]
) -> None:
    sid = active["id"]
    assert api.post(f"/v1/subscriptions/{sid}/change", {"quantity": "5", "when": "next_period"}).status == 200
    unchanged = Unchanged(api, sid)
    assert_problem(api.post(f"/v1/subscriptions/{sid}/pause", {}), 409, "invalid_state_transition")
    unchanged.check()


# --- validation ---------------------------------------------------------------------------------


INVALID_CHANGES: list[tuple[dict[str, Any], str]] = [
    ({"quantity": "-1"}, "/quantity"),
    ({"quantity": 5}, "/quantity"),  # a JSON number
    ({"quantity": "5e1"}, "/quantity"),
    ({"quantity": "-1", "when": "next_period"}, "/quantity"),  # checked when scheduled
    ({"quantity": "5", "when": "at", "at": "2026-03-15T08:59:00Z"}, "/at"),  # in the past
    ({"quantity": "5", "when": "at", "at": "2026-03-15T09:00:00Z"}, "/at"),  # now is not the future
    ({"quantity": "5", "when": "at"}, "/at"),
    ({"quantity": "5", "when": "at", "at": "2026-03-20T00:00:00"}, "/at"),  # no offset
    ({"quantity": "5", "when": "sometime"}, "/when"),
    ({"quantity": "5", "proration_behavior": "maybe"}, "/proration_behavior"),
    ({"quantity": "5", "items": [{"price_id": "01900000-0000-7000-8000-000000000000"}]}, "/quantity"),
    ({}, "/items"),
]


def test_invalid_changes_are_422_and_change_nothing(api: ApiClient, active: dict[str, Any]) -> None:
    unchanged = Unchanged(api, active["id"])
    for body, pointer in INVALID_CHANGES:
        response = api.post(f"/v1/subscriptions/{active['id']}/change", body)
        assert_problem(response, 422, "validation_failed")
        assert_pointer(response, pointer)
    unchanged.check()


def test_invalid_cancel_pause_and_add_on_are_422(api: ApiClient, active: dict[str, Any]) -> None:
    sid = active["id"]
    unchanged = Unchanged(api, sid)
    attempts: list[tuple[str, dict[str, Any], str]] = [
        ("cancel", {"when": "at", "at": "2026-03-01T00:00:00Z"}, "/at"),
        ("cancel", {"when": "at"}, "/at"),
        ("cancel", {"refund": "some"}, "/refund"),
        ("pause", {"resume_at": "2026-03-15T08:00:00Z"}, "/resume_at"),
        (
            "add-ons",
            {"price_id": active["items"][0]["price_id"], "quantity": 2, "type": "one_off"},
            "/quantity",
        ),
        ("add-ons", {"price_id": active["items"][0]["price_id"], "quantity": 2}, "/quantity"),
        ("add-ons", {"price_id": active["items"][0]["price_id"], "quantity": "-1"}, "/quantity"),
    ]
    for action, body, pointer in attempts:
        response = api.post(f"/v1/subscriptions/{sid}/{action}", body)
        assert_problem(response, 422, "validation_failed")
        assert_pointer(response, pointer)
    unchanged.check()


def test_an_add_on_in_another_currency_points_at_its_price_id(
    api: ApiClient, catalog: Catalog, active: dict[str, Any]
) -> None:
    sid = active["id"]
    unchanged = Unchanged(api, sid)
    for kind in ("recurring", "one_off"):
        body = {"price_id": catalog["fee_usd"]["id"], "type": kind}
        response = api.post(f"/v1/subscriptions/{sid}/add-ons", body)
        assert_problem(response, 422, "validation_failed")
        assert_pointer(response, "/price_id")
    unchanged.check()


def test_a_price_in_another_currency_is_422(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    unchanged = Unchanged(api, sub["id"])
    swap = {"items": [{"id": sub["items"][0]["id"], "price_id": catalog["fee_usd"]["id"]}]}
    add = {"items": [{"price_id": catalog["fee_usd"]["id"]}]}
    for body in (swap, add, {**add, "when": "next_period"}):
        response = api.post(f"/v1/subscriptions/{sub['id']}/change", body)
        assert_problem(response, 422, "validation_failed")
        assert "USD" in response.body
    add_on = api.post(f"/v1/subscriptions/{sub['id']}/add-ons", {"price_id": catalog["fee_usd"]["id"]})
    assert_problem(add_on, 422, "validation_failed")
    unchanged.check()


def test_invalid_creates_are_422_and_create_nothing(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    customer = new_customer(api)
    fee = catalog["fee10"]["id"]
    attempts: list[tuple[dict[str, Any], str]] = [
        ({"start_at": "2026-02-28T23:58:00Z"}, "/start_at"),  # two minutes in the past
        ({"start_at": "yesterday"}, "/start_at"),
        ({"end_at": "2026-02-01T00:00:00Z"}, "/end_at"),
        ({"end_at": "2026-04-15T00:00:00Z", "auto_renew": True}, "/end_at"),  # not a boundary
        ({"billing_anchor": {"type": "day_of_month", "day_of_month": 32}}, "/billing_anchor/day_of_month"),
        ({"interval": "week", "billing_anchor": {"day_of_month": 1}}, "/billing_anchor"),
        ({"items": [{"price_id": fee, "quantity": 1}]}, "/items/0/quantity"),
        ({"items": [{"price_id": fee, "quantity": "-2"}]}, "/items/0/quantity"),
        ({"trial_days": -1}, "/trial_days"),
    ]
    for extra, pointer in attempts:
        body = {"customer_id": customer, "items": [{"price_id": fee}], "test_clock_id": clock, **extra}
        response = api.post("/v1/subscriptions", body)
        assert_problem(response, 422, "validation_failed")
        assert_pointer(response, pointer)
    assert subscription_count(api, customer) == 0
    assert api.get("/v1/invoices", query={"customer_id": customer}).data == []


def test_a_subscription_mixing_currencies_is_422(api: ApiClient, catalog: Catalog) -> None:
    customer = new_customer(api)
    response = api.post(
        "/v1/subscriptions",
        {
            "customer_id": customer,
            "items": [{"price_id": catalog["fee10"]["id"]}, {"price_id": catalog["fee_usd"]["id"]}],
        },
    )
    assert_problem(response, 422, "validation_failed")
    assert_pointer(response, "/items")
    assert subscription_count(api, customer) == 0


# --- sandbox-only test clocks ---------------------------------------------------------------------


def test_test_clocks_are_refused_to_live_keys(api: ApiClient, api_handler: Any, catalog: Catalog) -> None:
    sandbox_clock = new_clock(api, "2026-03-01T00:00:00Z")
    live = new_tenant_client(api_handler, "Live Ltd", livemode=True)
    assert_problem(live.post("/v1/test-clocks", {"frozen_time": "2026-03-01T00:00:00Z"}), 403, "forbidden")
    assert_problem(live.get("/v1/test-clocks"), 403, "forbidden")
    assert_problem(live.get(f"/v1/test-clocks/{sandbox_clock}"), 403, "forbidden")
    live_catalog = Catalog(live)
    customer = new_customer(live)
    response = live.post(
        "/v1/subscriptions",
        {
            "customer_id": customer,
            "items": [{"price_id": live_catalog["fee10"]["id"]}],
            "test_clock_id": sandbox_clock,
        },
    )
    assert_problem(response, 422, "validation_failed")
    assert_pointer(response, "/test_clock_id")
    assert subscription_count(live, customer) == 0


def test_advancing_a_clock_backwards_is_422(api: ApiClient, active: dict[str, Any]) -> None:
    clock = active["clock"]
    before = api.get(f"/v1/test-clocks/{clock}").data
    unchanged = Unchanged(api, active["id"])
    for to in ("2026-03-15T08:59:59Z", "2026-03-15T09:00:00Z", "2026-03-01T00:00:00Z"):
        response = api.post(f"/v1/test-clocks/{clock}/advance", {"to": to})
        assert_problem(response, 422, "validation_failed")
        assert_pointer(response, "/to")
    assert api.get(f"/v1/test-clocks/{clock}").data == before
    unchanged.check()


# --- not found ------------------------------------------------------------------------------------


def test_unknown_and_foreign_subscriptions_are_404(
    api: ApiClient, other_api: ApiClient, active: dict[str, Any]
) -> None:
    unknown = "01900000-0000-7000-8000-000000000000"
    unchanged = Unchanged(api, active["id"])
    for sid in (unknown, active["id"]):
        client = other_api  # active["id"] belongs to tenant A: tenant B must not see it
        for response in (
            client.get(f"/v1/subscriptions/{sid}"),
            client.get(f"/v1/subscriptions/{sid}/upcoming-invoice"),
            client.get(f"/v1/subscriptions/{sid}/scheduled-changes"),
            client.post(f"/v1/subscriptions/{sid}/change", {"quantity": "5"}),
            client.post(f"/v1/subscriptions/{sid}/cancel", {"when": "immediately", "refund": "full"}),
            client.post(f"/v1/subscriptions/{sid}/pause", {}),
            client.post(f"/v1/subscriptions/{sid}/resume"),
            client.post(f"/v1/subscriptions/{sid}/add-ons", {"price_id": unknown}),
            client.patch(f"/v1/subscriptions/{sid}", {"metadata": {"k": "v"}}),
        ):
            assert_problem(response, 404, "not_found")
    assert other_api.get("/v1/invoices", query={"subscription_id": active["id"]}).data == []
    assert_problem(api.get(f"/v1/subscriptions/{unknown}"), 404, "not_found")
    unchanged.check()


# --- concurrency and idempotency ------------------------------------------------------------------


def test_stale_if_match_on_change_is_412(api: ApiClient, active: dict[str, Any]) -> None:
    sid = active["id"]
    stale = active["version"]
    assert api.patch(f"/v1/subscriptions/{sid}", {"metadata": {"k": "v"}}).status == 200
    unchanged = Unchanged(api, sid)
    for action, body in (("change", {"quantity": "5"}), ("cancel", {}), ("pause", {})):
        response = api.post(f"/v1/subscriptions/{sid}/{action}", body, headers={"If-Match": f'"{stale}"'})
        assert_problem(response, 412, "precondition_failed")
    unchanged.check()
    current = f'"{unchanged.before["version"]}"'
    ok = api.post(f"/v1/subscriptions/{sid}/change", {"quantity": "5"}, headers={"If-Match": current})
    assert ok.status == 200, ok.body
    assert ok.header("ETag") == f'"{ok.data["version"]}"'


def test_concurrent_changes_with_one_read_version_let_exactly_one_win(
    api: ApiClient, active: dict[str, Any]
) -> None:
    sid = active["id"]
    version = f'"{active["version"]}"'
    barrier = threading.Barrier(2)
    # 17 of 31 days: 3 seats -> 4 seats or 3 seats -> 6 seats.
    expected = {"4": ["-16.45", "21.94"], "6": ["-16.45", "32.90"]}

    def send(quantity: str) -> ApiResponse:
        barrier.wait()
        body = {"quantity": quantity}
        return api.post(f"/v1/subscriptions/{sid}/change", body, headers={"If-Match": version})

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(send, ["4", "6"]))
    winners = [r for r in responses if r.status == 200]
    losers = [r for r in responses if r.status != 200]
    assert len(winners) == 1, [r.body for r in responses]
    assert losers[0].status in (409, 412)
    assert losers[0].code in ("conflict", "precondition_failed")
    final = get_sub(api, sid)
    quantity = final["items"][0]["quantity"]
    assert quantity == winners[0].data["items"][0]["quantity"]
    assert final["version"] == active["version"] + 1
    assert amounts(final["pending_items"]) == expected[quantity]


def test_replayed_create_makes_one_subscription(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    customer = new_customer(api)
    body = {"customer_id": customer, "items": [{"price_id": catalog["fee10"]["id"]}], "test_clock_id": clock}
    first = api.post("/v1/subscriptions", body, idempotency_key="sub-create-1")
    second = api.post("/v1/subscriptions", body, idempotency_key="sub-create-1")
    assert first.status == second.status == 201
    assert second.body == first.body
    assert second.header("Idempotent-Replayed") == "true"
    assert subscription_count(api, customer) == 1
    assert len(invoices_of(api, first.data["id"])) == 1
    reused = api.post("/v1/subscriptions", {**body, "trial_days": 3}, idempotency_key="sub-create-1")
    assert_problem(reused, 422, "idempotency_key_reused")
    assert_problem(api.post("/v1/subscriptions", body, idempotency_key=None), 400, "idempotency_key_required")
    assert subscription_count(api, customer) == 1
