"""Usage from ingest to the invoice that closes the period, through the real handlers: each
aggregation against hand-computed values."""

from __future__ import annotations

from tests.support.api_client import ApiClient
from tests.support.subscriptions import advance, invoices_of
from tests.support.usage import event, meter, metered_subscription, send, usage_lines, usage_price

PER_CALL = {"model": "per_unit", "unit_amount": "0.10"}


def test_events_show_in_usage_and_on_the_closing_invoice(api: ApiClient) -> None:
    calls = meter(api, "api_calls")
    price = usage_price(api, calls["id"], PER_CALL)
    clock, customer, sub = metered_subscription(api, "2026-03-01T00:00:00Z", [price])
    events = [event(f"evt-{i}", "api_calls", customer, "2026-03-01T00:00:00Z", value=3) for i in range(10)]
    result = send(api, events)
    assert result["accepted"] == 10, result["results"][:2]
    assert {r["subscription_id"] for r in result["results"]} == {sub["id"]}
    assert send(api, events)["duplicate"] == 10
    usage = api.get(f"/v1/subscriptions/{sub['id']}/usage").data
    assert usage["period"] == {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
    group = usage["meters"][0]["groups"][0]
    assert (group["events"], group["quantity"], group["amount"]["amount"]) == (10, "30", "3.00")
    # 30 units on day 0 of 31: linear projection 30 x 31 days / (5 minutes... ) is capped by the
    # elapsed time, so look at it after some days instead.
    advance(api, clock, "2026-03-11T00:00:00Z")
    projected = api.get(f"/v1/subscriptions/{sub['id']}/usage").data["meters"][0]["groups"][0]
    # 30 units in 10 of 31 days -> 93 units at the same pace -> 9.30
    assert (projected["projected_quantity"], projected["projected_amount"]["amount"]) == ("93", "9.30")
    advance(api, clock, "2026-04-01T00:00:00Z")
    lines = usage_lines(invoices_of(api, sub["id"]))
    assert [(line["quantity"], line["amount"]["amount"], line["period"]) for line in lines] == [
        ("30", "3.00", {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"})
    ]
    fresh = api.get(f"/v1/subscriptions/{sub['id']}/usage").data
    assert fresh["period"]["start"] == "2026-04-01T00:00:00Z"
    assert fresh["meters"][0]["groups"][0]["quantity"] == "0"


def test_count_unique_max_latest_on_one_invoice(api: ApiClient) -> None:
    meters = {
        "requests": meter(api, "requests", "count"),
        "users": meter(api, "users", "unique_count", value_property="user"),
        "peak": meter(api, "peak", "max"),
        "plan_level": meter(api, "plan_level", "latest"),
    }
    prices = [
        usage_price(api, m["id"], {"model": "per_unit", "unit_amount": "1.00"}) for m in meters.values()
    ]
    clock, customer, sub = metered_subscription(api, "2026-03-01T00:00:00Z", prices)
    t0, t1 = "2026-03-01T00:00:00Z", "2026-03-01T00:01:00Z"
    send(
        api,
        [
            event("r1", "requests", customer, t0),
            event("r2", "requests", customer, t0),
            event("r3", "requests", customer, t1),
            event("u1", "users", customer, t0, user="ann"),
            event("u2", "users", customer, t0, user="bob"),
            event("u3", "users", customer, t1, user="ann"),
            event("p1", "peak", customer, t0, value="3"),
            event("p2", "peak", customer, t1, value="9.5"),
            event("p3", "peak", customer, t1, value=4),
            # the latest by timestamp wins, whatever the order of arrival
            event("l2", "plan_level", customer, t1, value=7),
            event("l1", "plan_level", customer, t0, value=5),
        ],
    )
    advance(api, clock, "2026-04-01T00:00:00Z")
    by_meter = {line["meter_id"]: line["quantity"] for line in usage_lines(invoices_of(api, sub["id"]))}
    assert by_meter == {
        meters["requests"]["id"]: "3",
        meters["users"]["id"]: "2",
        meters["peak"]["id"]: "9.5",
        meters["plan_level"]["id"]: "7",
    }


def test_weighted_sum_integrates_seats_over_the_period_and_carries_the_level(api: ApiClient) -> None:
    seats = meter(api, "seats", "weighted_sum", value_property="delta")
    price = usage_price(api, seats["id"], {"model": "per_unit", "unit_amount": "10.00"})
    clock, customer, sub = metered_subscription(api, "2026-03-01T00:00:00Z", [price])
    send(api, [event("s1", "seats", customer, "2026-03-01T00:00:00Z", delta=10)])
    advance(api, clock, "2026-03-11T00:00:00Z")
    send(api, [event("s2", "seats", customer, "2026-03-11T00:00:00Z", delta=5)])
    advance(api, clock, "2026-03-21T00:00:00Z")
    send(api, [event("s3", "seats", customer, "2026-03-21T00:00:00Z", delta=-3)])
    advance(api, clock, "2026-04-01T00:00:00Z")
    # 10 seats x 10 days + 15 x 10 + 12 x 11 = 382 seat-days over 31 days = 12.3225806452 seats
    # x 10.00 = 123.225806452 -> 123.23
    march = usage_lines(invoices_of(api, sub["id"]))
    assert [(line["quantity"], line["amount"]["amount"]) for line in march] == [("12.3225806452", "123.23")]
    # April has no events: the 12 seats carried over are billed for the whole month.
    advance(api, clock, "2026-05-01T00:00:00Z")
    april = usage_lines(invoices_of(api, sub["id"]))[1:]
    assert [(line["quantity"], line["amount"]["amount"]) for line in april] == [("12", "120.00")]


def test_groups_carry_their_own_price(api: ApiClient) -> None:
    calls = meter(api, "calls", group_by=["region"])
    product = api.post("/v1/products", {"name": "Calls", "type": "usage"}).data["id"]
    default = usage_price(api, calls["id"], {"model": "per_unit", "unit_amount": "1.00"}, product)
    eu = usage_price(
        api, calls["id"], {"model": "per_unit", "unit_amount": "2.00"}, product, meter_group={"region": "eu"}
    )
    clock, customer, sub = metered_subscription(api, "2026-03-01T00:00:00Z", [default, eu])
    t = "2026-03-01T00:00:00Z"
    send(
        api,
        [
            event("a", "calls", customer, t, value=5, region="eu"),
            event("b", "calls", customer, t, value=7, region="us"),
            event("c", "calls", customer, t, value=1, region="eu"),
            event("d", "calls", customer, t, value=2),
        ],
    )
    usage = api.get(f"/v1/subscriptions/{sub['id']}/usage").data
    assert usage["amount"]["amount"] == "21.00"  # eu 6 x 2 + us 7 x 1 + (none) 2 x 1
    advance(api, clock, "2026-04-01T00:00:00Z")
    lines = sorted(
        (str(line["group"]), line["price_id"], line["quantity"], line["amount"]["amount"])
        for line in usage_lines(invoices_of(api, sub["id"]))
    )
    assert lines == sorted(
        [
            ("{'region': 'eu'}", eu["id"], "6", "12.00"),
            ("{'region': 'us'}", default["id"], "7", "7.00"),
            ("{'region': None}", default["id"], "2", "2.00"),
        ]
    )


def test_invoice_usage_is_reproducible_from_the_kept_events(api: ApiClient) -> None:
    from billow.api.container import container
    from billow.domain.tenancy import Scope

    calls = meter(api, "kept", group_by=["region"])
    price = usage_price(api, calls["id"], PER_CALL)
    clock, customer, sub = metered_subscription(api, "2026-03-01T00:00:00Z", [price])
    batch = [
        event(f"k{i}", "kept", customer, "2026-03-01T00:00:00Z", value=i, region=["eu", "us"][i % 2])
        for i in range(250)
    ]
    send(api, batch)
    send(api, batch[:100])  # duplicates change nothing
    advance(api, clock, "2026-04-01T00:00:00Z")
    billed = {line["group"]["region"]: line["quantity"] for line in usage_lines(invoices_of(api, sub["id"]))}
    tenant_scope = Scope(api_tenant_of(api), livemode=False)
    kept = container().usage.reproduce(tenant_scope, sub["id"], "2026-03-01T00:00:00Z")
    from_events = {group[0][1]: str(totals.sum) for group, totals in kept[calls["id"]].items()}
    assert billed == from_events == {"eu": str(sum(range(0, 250, 2))), "us": str(sum(range(1, 250, 2)))}


def api_tenant_of(api: ApiClient) -> str:
    from billow.api.container import container

    assert api.api_key is not None
    return container().tenancy.authenticate(api.api_key).tenant_id
