"""Subscription life cycle through the real API handler on moto, in test-clock time: trials,
quantity/price/plan changes and their prorations, scheduled changes, add-ons, pause and
resume, cancellation and refunds, fixed terms, the upcoming-invoice preview and plan-version
pinning. Every amount is exact (API.md "Billing periods and proration")."""

from __future__ import annotations

from typing import Any

from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient
from tests.support.subscriptions import (
    Catalog,
    advance,
    amounts,
    events_of,
    get_sub,
    invoices_of,
    new_clock,
    new_customer,
    periods,
    subscribe,
)


def change(api: ApiClient, subscription_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/v1/subscriptions/{subscription_id}/change", body, idempotency_key=None)
    assert response.status == 200, response.body
    return dict(response.data)


def swap_price(api: ApiClient, sub: dict[str, Any], price: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Change the subscription's only item to another price."""
    return change(
        api, sub["id"], {"items": [{"id": sub["items"][0]["id"], "price_id": price["id"]}], **extra}
    )


def credit_balance(api: ApiClient, customer_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/customers/{customer_id}/credit-balance")
    assert response.status == 200, response.body
    return dict(response.data)


def published_plan(api: ApiClient, name: str, *prices: dict[str, Any], trial_days: int = 0) -> dict[str, Any]:
    created = api.post(
        "/v1/plans",
        {
            "name": name,
            "currency": "EUR",
            "interval": "month",
            "trial_days": trial_days,
            "components": [{"price_id": p["id"]} for p in prices],
        },
    )
    assert created.status == 201, created.body
    published = api.post(f"/v1/plans/{created.data['id']}/versions/1/publish", idempotency_key=None)
    assert published.status == 200, published.body
    return dict(published.data)


def upcoming(api: ApiClient, subscription_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/subscriptions/{subscription_id}/upcoming-invoice")
    assert response.status == 200, response.body
    return dict(response.data)


def line_kinds(lines: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(line["kind"], line["amount"]["amount"]) for line in lines]


# --- trials -----------------------------------------------------------------------------------


def test_trial_sends_trial_will_end_three_days_before_then_activates(
    api: ApiClient, catalog: Catalog
) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"], trial_days=14)
    assert sub["status"] == "trialing"
    assert (sub["trial_start"], sub["trial_end"]) == ("2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z")
    assert sub["next_action"] == {"type": "trial_will_end", "at": "2026-03-12T00:00:00Z"}
    assert invoices_of(api, sub["id"]) == []

    advance(api, clock, "2026-03-12T00:00:00Z")
    noticed = get_sub(api, sub["id"])
    assert noticed["status"] == "trialing"
    assert noticed["trial_will_end_sent"] is True
    assert invoices_of(api, sub["id"]) == []

    advance(api, clock, "2026-03-15T00:00:00Z")
    active = get_sub(api, sub["id"])
    assert active["status"] == "active"
    # Anniversary billing starts at the trial end and keeps its day.
    assert (active["current_period_start"], active["current_period_end"]) == (
        "2026-03-15T00:00:00Z",
        "2026-04-15T00:00:00Z",
    )
    invoices = invoices_of(api, sub["id"])
    assert [(i["billing_reason"], i["total"]["amount"]) for i in invoices] == [
        ("subscription_create", "10.00")
    ]
    events = events_of(sub["id"])
    assert [(e["type"], e["created_at"], e["data"]["object"]["status"]) for e in events] == [
        ("subscription.created", "2026-03-01T00:00:00Z", "pending"),
        ("subscription.trial_started", "2026-03-01T00:00:00Z", "trialing"),
        ("subscription.trial_will_end", "2026-03-12T00:00:00Z", "trialing"),
        ("subscription.activated", "2026-03-15T00:00:00Z", "active"),
    ]
    assert [int(e["aggregate"]["sequence"]) for e in events] == [1, 2, 3, 4]


# --- immediate changes ------------------------------------------------------------------------


def test_quantity_change_mid_period_prorates_exactly(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["seat"], items=[{"price_id": catalog["seat"]["id"], "quantity": "3"}])
    assert invoices_of(api, sub["id"])[0]["total"]["amount"] == "30.00"
    advance(api, clock, "2026-03-15T09:00:00Z")
    changed = change(api, sub["id"], {"quantity": "5"})
    assert changed["items"][0]["quantity"] == "5"
    assert changed["items"][0]["id"] == sub["items"][0]["id"]
    # 17 of 31 days: -30.00 x 17/31 = -16.45, +50.00 x 17/31 = +27.42.
    pending = changed["pending_items"]
    assert amounts(pending) == ["-16.45", "27.42"]
    assert [p["quantity"] for p in pending] == ["3", "5"]
    assert {(p["period"]["start"], p["period"]["end"]) for p in pending} == {
        ("2026-03-15T09:00:00Z", "2026-04-01T00:00:00Z")
    }
    preview = upcoming(api, sub["id"])
    assert line_kinds(preview["lines"]) == [
        ("proration", "-16.45"),
        ("proration", "27.42"),
        ("recurring", "50.00"),
    ]
    assert preview["total"]["amount"] == "60.97"
    assert len(invoices_of(api, sub["id"])) == 1  # the preview stored nothing


def test_plan_change_via_plan_id_replaces_the_items_and_prorates(api: ApiClient, catalog: Catalog) -> None:
    basic = published_plan(api, "Basic", catalog["fee10"])
    pro = published_plan(api, "Pro", catalog["fee30"])
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    response = api.post(
        "/v1/subscriptions",
        {"customer_id": new_customer(api), "plan_id": basic["id"], "test_clock_id": clock},
    )
    assert response.status == 201, response.body
    sub = response.data
    assert (sub["plan_id"], sub["plan_version"]) == (basic["id"], 1)
    advance(api, clock, "2026-03-15T09:00:00Z")
    changed = change(api, sub["id"], {"plan_id": pro["id"]})
    assert (changed["plan_id"], changed["plan_version"]) == (pro["id"], 1)
    assert [i["price_id"] for i in changed["items"]] == [catalog["fee30"]["id"]]
    assert amounts(changed["pending_items"]) == ["-5.48", "16.45"]  # 17/31 of 10 and of 30
    assert upcoming(api, sub["id"])["total"]["amount"] == "40.97"


def test_always_invoice_bills_the_prorations_at_once(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2026-03-15T09:00:00Z")
    changed = swap_price(api, sub, catalog["fee20"], proration_behavior="always_invoice")
    assert changed["pending_items"] == []
    invoices = invoices_of(api, sub["id"])
    assert len(invoices) == 2
    proration = invoices[1]
    assert (proration["type"], proration["billing_reason"]) == ("proration", "subscription_update")
    assert line_kinds(proration["lines"]) == [("proration", "-5.48"), ("proration", "10.97")]
    assert proration["total"]["amount"] == "5.49"
    assert proration["amount_due"]["amount"] == "5.49"
    assert (proration["period_start"], proration["period_end"]) == (
        "2026-03-15T09:00:00Z",
        "2026-04-01T00:00:00Z",
    )
    # Nothing is billed twice: the renewal carries only the new price.
    assert line_kinds(upcoming(api, sub["id"])["lines"]) == [("recurring", "20.00")]


def test_two_always_invoice_changes_at_the_same_instant_make_two_invoices(
    api: ApiClient, catalog: Catalog
) -> None:
    """Found broken while writing these tests (the second proration invoice hit the first's
    uniqueness guard and the change was refused with 409); fixed concurrently."""
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2026-03-15T09:00:00Z")
    swap_price(api, sub, catalog["fee20"], proration_behavior="always_invoice")
    second = api.post(
        f"/v1/subscriptions/{sub['id']}/change",
        {
            "items": [{"id": sub["items"][0]["id"], "price_id": catalog["fee50"]["id"]}],
            "proration_behavior": "always_invoice",
        },
    )
    assert second.status == 200, second.body
    totals = [i["total"]["amount"] for i in invoices_of(api, sub["id"])]
    # 17/31: -10.97 + 27.42 = 16.45.
    assert totals == ["10.00", "5.49", "16.45"]


def test_proration_behavior_none_creates_nothing(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2026-03-15T09:00:00Z")
    changed = swap_price(api, sub, catalog["fee20"], proration_behavior="none")
    assert changed["items"][0]["price_id"] == catalog["fee20"]["id"]
    assert changed["pending_items"] == []
    assert len(invoices_of(api, sub["id"])) == 1
    advance(api, clock, "2026-04-01T00:00:00Z")
    renewal = invoices_of(api, sub["id"])[-1]
    assert line_kinds(renewal["lines"]) == [("recurring", "20.00")]


def test_downgrade_with_always_invoice_credits_the_balance(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    customer = new_customer(api)
    sub = subscribe(api, clock, catalog["fee50"], customer_id=customer)
    assert credit_balance(api, customer)["balances"] == []
    advance(api, clock, "2026-03-15T09:00:00Z")
    swap_price(api, sub, catalog["fee10"], proration_behavior="always_invoice")
    proration = invoices_of(api, sub["id"])[-1]
    # 17/31: -50 -> -27.42, +10 -> +5.48; the net -21.94 is owed to the customer.
    assert line_kinds(proration["lines"]) == [("proration", "-27.42"), ("proration", "5.48")]
    assert proration["total"]["amount"] == "-21.94"
    assert proration["amount_due"]["amount"] == "0.00"
    assert proration["credited_to_balance"]["amount"] == "21.94"
    balance = credit_balance(api, customer)
    assert balance["balances"] == [{"amount": "21.94", "currency": "EUR"}]
    assert [(t["amount"]["amount"], t["reason"], t["invoice_id"]) for t in balance["transactions"]] == [
        ("21.94", "invoice_credit", proration["id"])
    ]


# --- scheduled changes ------------------------------------------------------------------------


def test_next_period_change_applies_at_the_boundary_without_prorations(
    api: ApiClient, catalog: Catalog
) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2026-03-15T09:00:00Z")
    scheduled = swap_price(api, sub, catalog["fee20"], when="next_period")
    assert scheduled["items"][0]["price_id"] == catalog["fee10"]["id"]  # not yet
    assert scheduled["pending_items"] == []
    listed = api.get(f"/v1/subscriptions/{sub['id']}/scheduled-changes")
    assert listed.status == 200, listed.body
    assert [(c["action"], c["effective_at"], c["at_period_end"]) for c in listed.data] == [
        ("change", "2026-04-01T00:00:00Z", True)
    ]
    assert len(invoices_of(api, sub["id"])) == 1
    advance(api, clock, "2026-04-01T00:00:00Z")
    after = get_sub(api, sub["id"])
    assert after["items"][0]["price_id"] == catalog["fee20"]["id"]
    assert after["scheduled_changes"] == []
    assert after["pending_items"] == []
    renewal = invoices_of(api, sub["id"])[-1]
    assert renewal["period_start"] == "2026-04-01T00:00:00Z"
    assert line_kinds(renewal["lines"]) == [("recurring", "20.00")]


def test_change_at_a_future_time_runs_then_with_prorations(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    scheduled = swap_price(api, sub, catalog["fee20"], when="at", at="2026-03-20T00:00:00Z")
    assert [(c["effective_at"], c["at_period_end"]) for c in scheduled["scheduled_changes"]] == [
        ("2026-03-20T00:00:00Z", False)
    ]
    assert scheduled["next_action"] == {"type": "scheduled_change", "at": "2026-03-20T00:00:00Z"}
    advance(api, clock, "2026-03-25T00:00:00Z")
    after = get_sub(api, sub["id"])
    assert after["items"][0]["price_id"] == catalog["fee20"]["id"]
    assert after["scheduled_changes"] == []
    # 12 of 31 days from Mar 20: -3.87, +7.74.
    assert amounts(after["pending_items"]) == ["-3.87", "7.74"]
    assert after["pending_items"][0]["period"]["start"] == "2026-03-20T00:00:00Z"


def test_a_cancelled_scheduled_change_never_applies(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    scheduled = swap_price(api, sub, catalog["fee20"], when="at", at="2026-03-20T00:00:00Z")
    change_id = scheduled["scheduled_changes"][0]["id"]
    canceled = api.post(
        f"/v1/subscriptions/{sub['id']}/scheduled-changes/{change_id}/cancel", idempotency_key=None
    )
    assert canceled.status == 200, canceled.body
    assert canceled.data["scheduled_changes"] == []
    assert api.get(f"/v1/subscriptions/{sub['id']}/scheduled-changes").data == []
    assert_problem(
        api.post(f"/v1/subscriptions/{sub['id']}/scheduled-changes/{change_id}/cancel", idempotency_key=None),
        404,
        "not_found",
    )
    advance(api, clock, "2026-04-01T00:00:00Z")
    after = get_sub(api, sub["id"])
    assert after["items"][0]["price_id"] == catalog["fee10"]["id"]
    assert after["pending_items"] == []
    assert [i["total"]["amount"] for i in invoices_of(api, sub["id"])] == ["10.00", "10.00"]


# --- add-ons ----------------------------------------------------------------------------------


def test_recurring_add_on_adds_an_item_with_a_proration(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2026-03-15T09:00:00Z")
    response = api.post(f"/v1/subscriptions/{sub['id']}/add-ons", {"price_id": catalog["support"]["id"]})
    assert response.status == 201, response.body
    items = response.data["items"]
    assert [(i["price_id"], i["kind"]) for i in items] == [
        (catalog["fee10"]["id"], "item"),
        (catalog["support"]["id"], "add_on"),
    ]
    # Only the new item is charged, for 17 of 31 days of 31.00.
    assert [(p["kind"], p["amount"]["amount"]) for p in response.data["pending_items"]] == [
        ("proration", "17.00")
    ]
    assert line_kinds(upcoming(api, sub["id"])["lines"]) == [
        ("proration", "17.00"),
        ("recurring", "10.00"),
        ("recurring", "31.00"),
    ]


def test_one_off_add_on_waits_for_the_next_invoice(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2026-03-15T09:00:00Z")
    response = api.post(
        f"/v1/subscriptions/{sub['id']}/add-ons", {"price_id": catalog["setup"]["id"], "type": "one_off"}
    )
    assert response.status == 201, response.body
    assert len(response.data["items"]) == 1
    assert [(p["kind"], p["amount"]["amount"]) for p in response.data["pending_items"]] == [
        ("one_off", "99.00")
    ]
    assert len(invoices_of(api, sub["id"])) == 1
    advance(api, clock, "2026-04-01T00:00:00Z")
    renewal = invoices_of(api, sub["id"])[-1]
    assert line_kinds(renewal["lines"]) == [("one_off", "99.00"), ("recurring", "10.00")]
    assert renewal["total"]["amount"] == "109.00"
    assert get_sub(api, sub["id"])["pending_items"] == []


# --- pause and resume -------------------------------------------------------------------------


def test_pause_credits_unused_time_skips_renewals_and_resume_moves_the_anchor(
    api: ApiClient, catalog: Catalog
) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee30"])
    advance(api, clock, "2026-03-11T12:00:00Z")
    paused = api.post(f"/v1/subscriptions/{sub['id']}/pause", {}, idempotency_key=None)
    assert paused.status == 200, paused.body
    assert paused.data["status"] == "paused"
    assert paused.data["paused_at"] == "2026-03-11T12:00:00Z"
    assert paused.data["current_period_end"] is None
    # 21 of 31 days unused: -30.00 x 21/31 = -20.32, kept for the next invoice.
    assert [(p["description"], p["amount"]["amount"]) for p in paused.data["pending_items"]] == [
        ("Unused time while paused", "-20.32")
    ]
    advance(api, clock, "2026-05-11T12:00:00Z")
    assert len(invoices_of(api, sub["id"])) == 1  # no renewals while paused
    assert get_sub(api, sub["id"])["status"] == "paused"

    resumed = api.post(f"/v1/subscriptions/{sub['id']}/resume", idempotency_key=None)
    assert resumed.status == 200, resumed.body
    data = resumed.data
    assert data["status"] == "active"
    assert data["billing_anchor"] == {"type": "anniversary", "day_of_month": 11}
    assert (data["current_period_start"], data["current_period_end"]) == (
        "2026-05-11T12:00:00Z",
        "2026-06-11T00:00:00Z",
    )
    assert data["pending_items"] == []
    invoice = invoices_of(api, sub["id"])[-1]
    assert invoice["billing_reason"] == "subscription_resume"
    assert line_kinds(invoice["lines"]) == [("proration", "-20.32"), ("recurring", "30.00")]
    assert invoice["total"]["amount"] == "9.68"
    assert [e["type"] for e in events_of(sub["id"])][-2:] == ["subscription.paused", "subscription.resumed"]
    # The next renewal is on the new anchor day.
    assert upcoming(api, sub["id"])["period_start"] == "2026-06-11T00:00:00Z"


def test_pause_and_resume_on_the_renewal_instant(api: ApiClient, catalog: Catalog) -> None:
    """Advance to a boundary (the renewal runs), then pause and resume twice without the clock
    moving - or, in real time, within the same second."""
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee30"])
    advance(api, clock, "2026-04-01T00:00:00Z")
    url = f"/v1/subscriptions/{sub['id']}"
    statuses = []
    for action in ("pause", "resume", "pause", "resume"):
        response = api.post(f"{url}/{action}", {} if action == "pause" else None, idempotency_key=None)
        statuses.append((action, response.status, response.code))
    assert statuses == [
        ("pause", 200, None),
        ("resume", 200, None),
        ("pause", 200, None),
        ("resume", 200, None),
    ]
    # Each pause credits the whole April period (30/30), each resume charges it again.
    totals = [i["total"]["amount"] for i in invoices_of(api, sub["id"])]
    assert totals == ["30.00", "30.00", "0.00", "0.00"]
    assert get_sub(api, sub["id"])["status"] == "active"


# --- cancellation -----------------------------------------------------------------------------


def test_cancel_immediately_with_each_refund(api: ApiClient, catalog: Catalog) -> None:
    """30.00 a month from Mar 1, canceled on Mar 11 12:00 with 21 of 31 days left."""
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    expected = {"none": None, "prorate": "20.32", "full": "30.00"}
    subs = {}
    for refund in expected:
        customer = new_customer(api)
        subs[refund] = (customer, subscribe(api, clock, catalog["fee30"], customer_id=customer))
    advance(api, clock, "2026-03-11T12:00:00Z")
    for refund, refunded in expected.items():
        customer, sub = subs[refund]
        body = {"when": "immediately", "refund": refund}
        response = api.post(f"/v1/subscriptions/{sub['id']}/cancel", body, idempotency_key=None)
        assert response.status == 200, response.body
        data = response.data
        assert data["status"] == "canceled"
        assert data["canceled_at"] == data["ended_at"] == "2026-03-11T12:00:00Z"
        assert data["next_action"] is None
        money = None if refunded is None else {"amount": refunded, "currency": "EUR"}
        assert data["cancellation_refund"] == money, refund
        invoices = invoices_of(api, sub["id"])
        balances = credit_balance(api, customer)["balances"]
        if refunded is None:
            assert len(invoices) == 1
            assert balances == []
        else:
            assert len(invoices) == 2
            refund_invoice = invoices[1]
            assert (refund_invoice["type"], refund_invoice["billing_reason"]) == (
                "proration",
                "subscription_cancel",
            )
            assert refund_invoice["total"]["amount"] == f"-{refunded}"
            assert balances == [money]
    advance(api, clock, "2026-04-01T00:00:00Z")
    assert [len(invoices_of(api, sub["id"])) for _, sub in subs.values()] == [1, 2, 2]


def test_cancel_at_period_end_stays_active_until_the_boundary(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2026-03-15T09:00:00Z")
    response = api.post(f"/v1/subscriptions/{sub['id']}/cancel", {"when": "period_end"}, idempotency_key=None)
    assert response.status == 200, response.body
    assert response.data["status"] == "active"
    assert response.data["cancel_at"] == "2026-04-01T00:00:00Z"
    assert response.data["cancel_at_period_end"] is True
    advance(api, clock, "2026-04-01T00:00:00Z")
    after = get_sub(api, sub["id"])
    assert after["status"] == "canceled"
    assert after["ended_at"] == "2026-04-01T00:00:00Z"
    assert len(invoices_of(api, sub["id"])) == 1  # no renewal invoice
    assert events_of(sub["id"])[-1]["type"] == "subscription.canceled"


def test_cancel_at_a_date(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    response = api.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        {"when": "at", "at": "2026-03-20T00:00:00Z"},
        idempotency_key=None,
    )
    assert response.status == 200, response.body
    assert (response.data["status"], response.data["cancel_at"], response.data["cancel_at_period_end"]) == (
        "active",
        "2026-03-20T00:00:00Z",
        False,
    )
    advance(api, clock, "2026-04-01T00:00:00Z")
    after = get_sub(api, sub["id"])
    assert (after["status"], after["ended_at"]) == ("canceled", "2026-03-20T00:00:00Z")
    assert after["cancellation_refund"] is None
    assert len(invoices_of(api, sub["id"])) == 1


# --- fixed terms ------------------------------------------------------------------------------


def test_fixed_terms_expire_or_roll_over(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    ending = subscribe(api, clock, catalog["fee10"], end_at="2026-04-16T00:00:00Z", auto_renew=False)
    assert (ending["end_at"], ending["auto_renew"], ending["term_periods"]) == (
        "2026-04-16T00:00:00Z",
        False,
        None,
    )
    renewing = subscribe(api, clock, catalog["fee10"], end_at="2026-05-01T00:00:00Z", auto_renew=True)
    assert renewing["term_periods"] == 2
    advance(api, clock, "2026-05-01T00:00:00Z")

    expired = get_sub(api, ending["id"])
    assert (expired["status"], expired["ended_at"]) == ("expired", "2026-04-16T00:00:00Z")
    invoices = invoices_of(api, ending["id"])
    # The last period is cut at end_at and prorated: 10.00 x 15/30.
    assert periods(invoices) == [
        ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
        ("2026-04-01T00:00:00Z", "2026-04-16T00:00:00Z"),
    ]
    assert [i["total"]["amount"] for i in invoices] == ["10.00", "5.00"]
    events = events_of(ending["id"])
    assert (events[-1]["type"], events[-1]["created_at"]) == ("subscription.expired", "2026-04-16T00:00:00Z")

    rolled = get_sub(api, renewing["id"])
    assert rolled["status"] == "active"
    assert rolled["end_at"] == "2026-07-01T00:00:00Z"  # a new term of two periods
    assert (rolled["current_period_start"], rolled["current_period_end"]) == (
        "2026-05-01T00:00:00Z",
        "2026-06-01T00:00:00Z",
    )
    assert [i["total"]["amount"] for i in invoices_of(api, renewing["id"])] == ["10.00"] * 3
    assert "subscription.expired" not in [e["type"] for e in events_of(renewing["id"])]


def test_a_term_ending_while_paused_still_settles_the_pause_credit(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    customer = new_customer(api)
    sub = subscribe(
        api, clock, catalog["fee30"], customer_id=customer, end_at="2026-04-16T00:00:00Z", auto_renew=False
    )
    advance(api, clock, "2026-03-11T12:00:00Z")
    paused = api.post(f"/v1/subscriptions/{sub['id']}/pause", {}, idempotency_key=None)
    assert amounts(paused.data["pending_items"]) == ["-20.32"]
    advance(api, clock, "2026-05-01T00:00:00Z")
    after = get_sub(api, sub["id"])
    assert (after["status"], after["ended_at"]) == ("expired", "2026-04-16T00:00:00Z")
    final = invoices_of(api, sub["id"])[-1]
    assert final["billing_reason"] == "subscription_end"
    assert line_kinds(final["lines"]) == [("proration", "-20.32")]
    assert credit_balance(api, customer)["balances"] == [{"amount": "20.32", "currency": "EUR"}]


# --- upcoming invoice -------------------------------------------------------------------------


def test_upcoming_invoice_for_trialing_active_and_canceled(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    trialing = subscribe(api, clock, catalog["fee10"], trial_days=14)
    first = upcoming(api, trialing["id"])
    assert first["object"] == "upcoming_invoice"
    assert first["id"] is None
    assert (first["period_start"], first["period_end"]) == ("2026-03-15T00:00:00Z", "2026-04-15T00:00:00Z")
    assert first["total"]["amount"] == "10.00"

    active = subscribe(api, clock, catalog["fee10"])
    api.post(
        f"/v1/subscriptions/{active['id']}/add-ons", {"price_id": catalog["setup"]["id"], "type": "one_off"}
    )
    renewal = upcoming(api, active["id"])
    assert (renewal["period_start"], renewal["period_end"]) == (
        "2026-04-01T00:00:00Z",
        "2026-05-01T00:00:00Z",
    )
    assert line_kinds(renewal["lines"]) == [("one_off", "99.00"), ("recurring", "10.00")]
    assert renewal["total"]["amount"] == "109.00"
    assert len(invoices_of(api, active["id"])) == 1
    assert len(invoices_of(api, trialing["id"])) == 0

    assert (
        api.post(
            f"/v1/subscriptions/{active['id']}/cancel", {"when": "immediately"}, idempotency_key=None
        ).status
        == 200
    )
    assert_problem(api.get(f"/v1/subscriptions/{active['id']}/upcoming-invoice"), 404, "not_found")


# --- plan versions ----------------------------------------------------------------------------


def test_subscription_keeps_its_plan_version_after_a_new_one_is_published(
    api: ApiClient, catalog: Catalog
) -> None:
    plan = published_plan(api, "Team", catalog["fee10"])
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    body = {"customer_id": new_customer(api), "plan_id": plan["id"], "test_clock_id": clock}
    old = api.post("/v1/subscriptions", body).data
    assert old["plan_version"] == 1
    v2 = api.post(f"/v1/plans/{plan['id']}/versions", {"components": [{"price_id": catalog["fee20"]["id"]}]})
    assert v2.status == 201, v2.body
    assert api.post(f"/v1/plans/{plan['id']}/versions/2/publish", idempotency_key=None).status == 200
    new = api.post("/v1/subscriptions", {**body, "customer_id": new_customer(api)}).data
    assert new["plan_version"] == 2
    advance(api, clock, "2026-04-01T00:00:00Z")
    kept = get_sub(api, old["id"])
    assert kept["plan_version"] == 1
    assert [i["price_id"] for i in kept["items"]] == [catalog["fee10"]["id"]]
    assert [i["total"]["amount"] for i in invoices_of(api, old["id"])] == ["10.00", "10.00"]
    assert [i["total"]["amount"] for i in invoices_of(api, new["id"])] == ["20.00", "20.00"]
