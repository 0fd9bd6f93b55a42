"""Billing-period edge cases of subscriptions, through the real API handler on moto.

Month ends and leap years, local midnights across daylight-saving changes, changes on the
anchor day, trials and day-of-month anchors, and a long test-clock advance whose renewals and
events must come out exactly once each, in order. Time is a test clock, so every date and
amount is exact.

The helpers live in tests/support/subscriptions.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_client import ApiClient
from tests.support.subscriptions import (
    Catalog,
    advance,
    amounts,
    events_of,
    get_sub,
    invoices_of,
    new_clock,
    periods,
    subscribe,
    tenant_client,
)

# --- month ends and leap years ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "february_end"),
    [(2026, "2026-02-28"), (2028, "2028-02-29")],
    ids=["common-year", "leap-year"],
)
def test_monthly_from_january_31_clamps_and_returns_to_the_31st(
    api: ApiClient, catalog: Catalog, year: int, february_end: str
) -> None:
    clock = new_clock(api, f"{year}-01-31T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    assert sub["billing_anchor"] == {"type": "anniversary", "day_of_month": 31}
    advance(api, clock, f"{year}-03-31T00:00:00Z")
    invoices = invoices_of(api, sub["id"])
    assert periods(invoices) == [
        (f"{year}-01-31T00:00:00Z", f"{february_end}T00:00:00Z"),
        (f"{february_end}T00:00:00Z", f"{year}-03-31T00:00:00Z"),
        (f"{year}-03-31T00:00:00Z", f"{year}-04-30T00:00:00Z"),
    ]
    # Every period is a whole period: no proration on a clamped month.
    assert [i["total"]["amount"] for i in invoices] == ["10.00"] * 3
    assert all(line["proration"] is None for i in invoices for line in i["lines"])
    assert [i["billing_reason"] for i in invoices] == ["subscription_create"] + ["subscription_cycle"] * 2
    assert get_sub(api, sub["id"])["billing_anchor"]["day_of_month"] == 31


def test_yearly_from_february_29_clamps_to_the_28th_and_returns_in_leap_years(
    api: ApiClient, catalog: Catalog
) -> None:
    clock = new_clock(api, "2028-02-29T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee50"], interval="year")
    assert sub["current_period_end"] == "2029-02-28T00:00:00Z"
    advance(api, clock, "2032-02-29T00:00:00Z")
    invoices = invoices_of(api, sub["id"])
    assert [i["period_start"] for i in invoices] == [
        "2028-02-29T00:00:00Z",
        "2029-02-28T00:00:00Z",
        "2030-02-28T00:00:00Z",
        "2031-02-28T00:00:00Z",
        "2032-02-29T00:00:00Z",
    ]
    assert invoices[-1]["period_end"] == "2033-02-28T00:00:00Z"
    assert [i["total"]["amount"] for i in invoices] == ["50.00"] * 5


def test_anniversary_on_april_30_keeps_day_30_not_the_month_end(api: ApiClient, catalog: Catalog) -> None:
    """Finding (documented here): the anniversary anchor is the start's day *number*, 30, not
    "the last day of the month": Apr 30 -> May 30 -> Jun 30 -> Jul 30 (Stripe's
    billing_cycle_anchor does the same); only a shorter month clamps (see the Jan 31 test)."""
    clock = new_clock(api, "2026-04-30T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    assert sub["billing_anchor"] == {"type": "anniversary", "day_of_month": 30}
    assert sub["current_period_end"] == "2026-05-30T00:00:00Z"
    advance(api, clock, "2026-06-30T00:00:00Z")
    assert periods(invoices_of(api, sub["id"])) == [
        ("2026-04-30T00:00:00Z", "2026-05-30T00:00:00Z"),
        ("2026-05-30T00:00:00Z", "2026-06-30T00:00:00Z"),
        ("2026-06-30T00:00:00Z", "2026-07-30T00:00:00Z"),
    ]


# --- daylight saving time ---------------------------------------------------------------------

DST_CASES = {
    # CET (+1) until Mar 29, CEST (+2) until Oct 25 03:00, then CET again.
    "Europe/Berlin": (
        ["2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z", "2026-04-30T22:00:00Z"],
        ["2026-09-30T22:00:00Z", "2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z"],
    ),
    # PST (-8) until Mar 8, PDT (-7) until Nov 1 02:00: Nov 1's midnight is still PDT.
    "America/Los_Angeles": (
        ["2026-03-01T08:00:00Z", "2026-04-01T07:00:00Z", "2026-05-01T07:00:00Z"],
        ["2026-10-01T07:00:00Z", "2026-11-01T07:00:00Z", "2026-12-01T08:00:00Z"],
    ),
}


@pytest.mark.parametrize("timezone", sorted(DST_CASES), ids=["los-angeles", "berlin"])
def test_period_boundaries_are_local_midnights_across_dst(api_handler: Any, timezone: str) -> None:
    """Monthly from local midnight of Mar 1 (spring-forward inside March) and of Oct 1 (fall-back
    inside October or right after Nov 1's midnight): every boundary is a local midnight."""
    client = tenant_client(api_handler, f"Tenant in {timezone}", timezone)
    catalog = Catalog(client)
    for boundaries in DST_CASES[timezone]:
        clock = new_clock(client, boundaries[0])
        sub = subscribe(client, clock, catalog["fee10"])
        assert sub["timezone"] == timezone
        assert (sub["current_period_start"], sub["current_period_end"]) == (boundaries[0], boundaries[1])
        advance(client, clock, boundaries[1])
        invoices = invoices_of(client, sub["id"])
        assert periods(invoices) == [(boundaries[0], boundaries[1]), (boundaries[1], boundaries[2])]
        # A month of 743 or 745 hours is still one whole month.
        assert [i["total"]["amount"] for i in invoices] == ["10.00", "10.00"]
        assert all(line["proration"] is None for i in invoices for line in i["lines"])


def test_berlin_mid_day_start_and_mid_period_change_use_local_days(api_handler: Any) -> None:
    """A start at 10:00Z on Mar 15 in Berlin runs to the local midnight beginning Apr 15 (CEST).
    Period Mar 1 - Apr 1 (spring-forward inside it), a change at local Mar 15 00:30 leaves 17 of
    31 local days: -5.48 and +10.97 as in API.md."""
    client = tenant_client(api_handler, "Berlin GmbH", "Europe/Berlin")
    catalog = Catalog(client)
    mid_day = subscribe(client, new_clock(client, "2026-03-15T10:00:00Z"), catalog["fee10"])
    assert mid_day["billing_anchor"] == {"type": "anniversary", "day_of_month": 15}
    assert (mid_day["current_period_start"], mid_day["current_period_end"]) == (
        "2026-03-15T10:00:00Z",
        "2026-04-14T22:00:00Z",
    )

    clock = new_clock(client, "2026-02-28T23:00:00Z")
    sub = subscribe(client, clock, catalog["fee10"])
    # Mar 14 23:30Z is already Mar 15 00:30 in Berlin.
    advance(client, clock, "2026-03-14T23:30:00Z")
    changed = client.post(
        f"/v1/subscriptions/{sub['id']}/change",
        {"items": [{"id": sub["items"][0]["id"], "price_id": catalog["fee20"]["id"]}]},
    )
    assert changed.status == 200, changed.body
    assert amounts(changed.data["pending_items"]) == ["-5.48", "10.97"]
    assert changed.data["pending_items"][0]["period"] == {
        "start": "2026-03-14T23:30:00Z",
        "end": "2026-03-31T22:00:00Z",
    }


# --- anchors, trials and changes on boundaries ------------------------------------------------


def test_change_exactly_on_the_anchor_day_renews_first_and_prorates_a_full_period(
    api: ApiClient, catalog: Catalog
) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2026-04-01T00:00:00Z")
    changed = api.post(
        f"/v1/subscriptions/{sub['id']}/change",
        {"items": [{"id": sub["items"][0]["id"], "price_id": catalog["fee20"]["id"]}]},
    )
    assert changed.status == 200, changed.body
    assert changed.data["current_period_start"] == "2026-04-01T00:00:00Z"
    assert changed.data["current_period_end"] == "2026-05-01T00:00:00Z"
    pending = changed.data["pending_items"]
    # The whole April period is credited at the old price and charged at the new one.
    assert amounts(pending) == ["-10.00", "20.00"]
    assert {p["period"]["start"] for p in pending} == {"2026-04-01T00:00:00Z"}
    invoices = invoices_of(api, sub["id"])
    # The April renewal was billed at the old price before the change.
    assert [(i["period_start"], i["total"]["amount"]) for i in invoices] == [
        ("2026-03-01T00:00:00Z", "10.00"),
        ("2026-04-01T00:00:00Z", "10.00"),
    ]
    advance(api, clock, "2026-05-01T00:00:00Z")
    may = invoices_of(api, sub["id"])[-1]
    assert [(line["kind"], line["amount"]["amount"]) for line in may["lines"]] == [
        ("proration", "-10.00"),
        ("proration", "20.00"),
        ("recurring", "20.00"),
    ]
    assert may["total"]["amount"] == "30.00"


def test_trial_ending_on_the_anchor_day_gives_a_full_first_period(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-03-27T00:00:00Z")
    sub = subscribe(
        api, clock, catalog["fee50"], trial_days=5, billing_anchor={"type": "day_of_month", "day_of_month": 1}
    )
    assert sub["status"] == "trialing"
    assert sub["trial_end"] == "2026-04-01T00:00:00Z"
    assert invoices_of(api, sub["id"]) == []
    advance(api, clock, "2026-04-01T00:00:00Z")
    invoices = invoices_of(api, sub["id"])
    assert len(invoices) == 1
    first = invoices[0]
    assert periods(invoices) == [("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z")]
    assert first["total"]["amount"] == "50.00"
    assert first["lines"][0]["proration"] is None
    assert get_sub(api, sub["id"])["status"] == "active"


def test_api_md_trial_then_day_of_month_anchor_example(api: ApiClient, catalog: Catalog) -> None:
    """Monthly 50.00, anchor day 1, trial of 5 days from April 1: first invoice 50 x 25/30."""
    clock = new_clock(api, "2026-04-01T00:00:00Z")
    sub = subscribe(
        api, clock, catalog["fee50"], trial_days=5, billing_anchor={"type": "day_of_month", "day_of_month": 1}
    )
    assert sub["status"] == "trialing"
    assert sub["trial_end"] == "2026-04-06T00:00:00Z"
    advance(api, clock, "2026-04-06T00:00:00Z")
    invoices = invoices_of(api, sub["id"])
    assert periods(invoices) == [("2026-04-06T00:00:00Z", "2026-05-01T00:00:00Z")]
    assert invoices[0]["total"]["amount"] == "41.67"
    assert invoices[0]["lines"][0]["proration"] == {"days": 25, "days_in_period": 30}
    advance(api, clock, "2026-05-01T00:00:00Z")
    invoices = invoices_of(api, sub["id"])
    assert [(i["period_start"], i["total"]["amount"]) for i in invoices] == [
        ("2026-04-06T00:00:00Z", "41.67"),
        ("2026-05-01T00:00:00Z", "50.00"),
    ]


def test_day_of_month_anchor_without_trial_prorates_the_first_period(
    api: ApiClient, catalog: Catalog
) -> None:
    clock = new_clock(api, "2026-04-10T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee50"], billing_anchor={"type": "day_of_month", "day_of_month": 1})
    assert sub["status"] == "active"
    assert sub["billing_anchor"] == {"type": "day_of_month", "day_of_month": 1}
    assert (sub["current_period_start"], sub["current_period_end"]) == (
        "2026-04-10T00:00:00Z",
        "2026-05-01T00:00:00Z",
    )
    invoices = invoices_of(api, sub["id"])
    assert len(invoices) == 1
    assert invoices[0]["total"]["amount"] == "35.00"  # 50.00 x 21/30
    assert invoices[0]["lines"][0]["proration"] == {"days": 21, "days_in_period": 30}


def test_two_immediate_changes_in_one_period_leave_two_proration_sets(
    api: ApiClient, catalog: Catalog
) -> None:
    clock = new_clock(api, "2026-03-01T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    item_id = sub["items"][0]["id"]
    advance(api, clock, "2026-03-15T09:00:00Z")
    first = api.post(
        f"/v1/subscriptions/{sub['id']}/change",
        {"items": [{"id": item_id, "price_id": catalog["fee20"]["id"]}]},
    )
    assert first.status == 200, first.body
    advance(api, clock, "2026-03-20T09:00:00Z")
    second = api.post(
        f"/v1/subscriptions/{sub['id']}/change",
        {"items": [{"id": item_id, "price_id": catalog["fee50"]["id"]}]},
    )
    assert second.status == 200, second.body
    # Mar 15: 17/31 of 10 and 20; Mar 20: 12/31 of 20 and 50, each line rounded once.
    assert amounts(second.data["pending_items"]) == ["-5.48", "10.97", "-7.74", "19.35"]
    assert invoices_of(api, sub["id"])[-1]["period_start"] == "2026-03-01T00:00:00Z"  # nothing billed yet
    advance(api, clock, "2026-04-01T00:00:00Z")
    april = invoices_of(api, sub["id"])[-1]
    assert amounts(april["lines"]) == ["-5.48", "10.97", "-7.74", "19.35", "50.00"]
    assert april["total"]["amount"] == "67.10"
    assert get_sub(api, sub["id"])["pending_items"] == []


# --- a long advance ---------------------------------------------------------------------------


def test_fourteen_months_give_fourteen_renewals_and_ordered_events(api: ApiClient, catalog: Catalog) -> None:
    clock = new_clock(api, "2026-01-15T00:00:00Z")
    sub = subscribe(api, clock, catalog["fee10"])
    advance(api, clock, "2027-03-15T00:00:00Z")
    invoices = invoices_of(api, sub["id"])
    cycles = [i for i in invoices if i["billing_reason"] == "subscription_cycle"]
    assert len(cycles) == 14
    assert [i["billing_reason"] for i in invoices] == ["subscription_create"] + ["subscription_cycle"] * 14
    expected_starts = [f"{2026 + (m // 12)}-{m % 12 + 1:02d}-15T00:00:00Z" for m in range(1, 15)]
    assert [i["period_start"] for i in cycles] == expected_starts
    assert [i["total"]["amount"] for i in cycles] == ["10.00"] * 14

    events = events_of(sub["id"])
    assert [e["type"] for e in events] == [
        "subscription.created",
        "subscription.activated",
        *["subscription.renewed"] * 14,
    ]
    assert [int(e["aggregate"]["sequence"]) for e in events] == list(range(1, 17))
    assert {e["aggregate"]["type"] for e in events} == {"subscription"}
    renewed = [e["data"]["object"]["current_period_start"] for e in events[2:]]
    assert renewed == expected_starts
    # Event times follow the simulated time, one per boundary.
    assert [e["created_at"] for e in events[2:]] == expected_starts
    # The clock's own events are a separate aggregate with its own sequence.
    clock_events = events_of(clock)
    assert {e["aggregate"]["type"] for e in clock_events} == {"test_clock"}
    assert (clock_events[0]["type"], clock_events[-1]["type"]) == (
        "test_clock.created",
        "test_clock.advanced",
    )


def test_test_clock_event_sequence_increases_by_one(api: ApiClient) -> None:
    """API.md: sequence increases by one per aggregate. (Found broken while writing these tests:
    the advance's first write bumped the version without an event, leaving 1, 3, 5; fixed
    concurrently by the test_clock.advancing event.)"""
    clock = new_clock(api, "2026-01-15T00:00:00Z")
    advance(api, clock, "2026-02-15T00:00:00Z")
    advance(api, clock, "2026-03-15T00:00:00Z")
    clock_events = events_of(clock)
    sequences = [int(e["aggregate"]["sequence"]) for e in clock_events]
    assert sequences == list(range(1, len(clock_events) + 1))
    types = [e["type"] for e in clock_events]
    assert types[0] == "test_clock.created"
    assert types.count("test_clock.advanced") == 2
    assert types[-1] == "test_clock.advanced"
    assert clock_events[-1]["data"]["object"]["frozen_time"] == "2026-03-15T00:00:00Z"
