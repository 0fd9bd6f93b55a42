"""Ingest through the real handlers: bad events beside good ones, duplicates under concurrency,
late events under each policy, tenant isolation, alerts, a crash half-way, and the guard that
keeps one subscription per customer and meter."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from billow.adapters.dynamodb.usage import DynamoUsageStore
from billow.api.container import container
from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient
from tests.support.subscriptions import advance, events_of, invoices_of, new_customer
from tests.support.usage import event, meter, metered_subscription, send, statuses, usage_lines, usage_price

T0 = "2026-03-01T00:00:00Z"
PER_UNIT = {"model": "per_unit", "unit_amount": "1.00"}


def quantity(api: ApiClient, subscription_id: str) -> str:
    usage = api.get(f"/v1/subscriptions/{subscription_id}/usage").data
    return str(usage["meters"][0]["groups"][0]["quantity"])


@pytest.fixture
def metered(api: ApiClient) -> dict[str, Any]:
    calls = meter(api, "calls")
    price = usage_price(api, calls["id"], PER_UNIT)
    clock, customer, sub = metered_subscription(api, T0, [price])
    return {"meter": calls, "price": price, "clock": clock, "customer": customer, "sub": sub}


def test_bad_events_are_rejected_one_by_one_and_the_rest_count(
    api: ApiClient, metered: dict[str, Any]
) -> None:
    customer = metered["customer"]
    archived = meter(api, "old")
    api.post(f"/v1/meters/{archived['id']}/archive")
    batch: list[Any] = [
        event("ok-1", "calls", customer, T0, value=2),
        {"meter_code": "calls", "customer_id": customer, "properties": {"value": 1}},  # no id
        event("no-meter", "nope", customer, T0, value=1),
        event("no-customer", "calls", "01900000-0000-7000-8000-000000000000", T0, value=1),
        event("future", "calls", customer, "2026-03-01T00:05:01Z", value=1),
        event("old", "calls", customer, "2026-01-24T23:59:59Z", value=1),
        event("no-value", "calls", customer, T0),
        event("nan", "calls", customer, T0, value="lots"),
        event("bad-time", "calls", customer, "yesterday", value=1),
        {**event("extra", "calls", customer, T0, value=1), "amount": 3},
        {**event("props", "calls", customer, T0), "properties": [1]},
        event("archived", "old", customer, T0, value=1),
        "not an object",
        event("ok-2", "calls", customer, "2026-03-01T00:04:59Z", value="0.5"),
    ]
    result = send(api, batch)
    assert statuses(result) == [
        ("accepted", None),
        ("rejected", "invalid_event"),
        ("rejected", "unknown_meter"),
        ("rejected", "unknown_customer"),
        ("rejected", "timestamp_in_future"),
        ("rejected", "timestamp_too_old"),
        ("rejected", "missing_value_property"),
        ("rejected", "invalid_value"),
        ("rejected", "invalid_timestamp"),
        ("rejected", "invalid_event"),
        ("rejected", "invalid_event"),
        ("rejected", "meter_archived"),
        ("rejected", "invalid_event"),
        ("accepted", None),
    ]
    assert (result["accepted"], result["rejected"], result["duplicate"]) == (2, 12, 0)
    assert all(r["detail"] for r in result["results"] if r["status"] == "rejected")
    assert quantity(api, metered["sub"]["id"]) == "2.5"
    # A rejected event left no marker: fixed, it is accepted.
    assert statuses(send(api, [event("no-value", "calls", customer, T0, value=1)])) == [("accepted", None)]


def test_the_envelope_fails_as_a_whole(api: ApiClient, metered: dict[str, Any]) -> None:
    one = event("x", "calls", metered["customer"], T0, value=1)
    too_many = api.post("/v1/usage/events", {"events": [one] * 1001}, idempotency_key=None)
    assert_problem(too_many, 422, "validation_failed")
    assert_problem(
        api.post("/v1/usage/events", {"events": []}, idempotency_key=None), 422, "validation_failed"
    )
    extra = api.post("/v1/usage/events", {"events": [one], "dry_run": True}, idempotency_key=None)
    assert_problem(extra, 422, "validation_failed")
    huge = api.request("POST", "/v1/usage/events", raw_body='{"events": ["' + "x" * (5 * 1024 * 1024) + '"]}')
    assert_problem(huge, 413, "payload_too_large")
    single = api.post("/v1/usage/events", one, idempotency_key=None)
    assert single.status == 202
    assert statuses(single.data) == [("accepted", None)]
    assert quantity(api, metered["sub"]["id"]) == "1"
    unauthenticated = api.request("POST", "/v1/usage/events", body={"events": [one]}, auth=False)
    assert_problem(unauthenticated, 401, "unauthenticated")


def test_the_same_thousand_events_sent_twice_at_once_count_once(
    api: ApiClient, metered: dict[str, Any]
) -> None:
    batch = [event(f"c-{i}", "calls", metered["customer"], T0, value=1) for i in range(1000)]
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def post() -> None:
        barrier.wait()
        answers.append(send(api, batch))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a["accepted"] + a["duplicate"] for a in answers) == [1000, 1000]
    assert sum(a["accepted"] for a in answers) == 1000
    assert quantity(api, metered["sub"]["id"]) == "1000"
    advance(api, metered["clock"], "2026-04-01T00:00:00Z")
    assert [line["quantity"] for line in usage_lines(invoices_of(api, metered["sub"]["id"]))] == ["1000"]


def test_a_crash_between_markers_and_counting_loses_nothing(
    api: ApiClient, metered: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [event(f"r-{i}", "calls", metered["customer"], T0, value=1) for i in range(40)]
    real_apply = DynamoUsageStore.apply

    def crash(self: DynamoUsageStore, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the function died here")

    monkeypatch.setattr(DynamoUsageStore, "apply", crash)
    failed = api.post("/v1/usage/events", {"events": batch}, idempotency_key=None)
    assert_problem(failed, 500, "internal_error")
    monkeypatch.setattr(DynamoUsageStore, "apply", real_apply)
    # The client retries: every event is already owned by the dead batch.
    assert send(api, batch)["duplicate"] == 40
    assert quantity(api, metered["sub"]["id"]) == "0"
    ingest = container().usage_ingest
    now = container().clock.now()
    assert ingest.recover_stale_batches(now) == 0  # too fresh: it might still be running
    assert ingest.recover_stale_batches(now + timedelta(minutes=6)) == 1
    assert ingest.recover_stale_batches(now + timedelta(minutes=6)) == 0
    assert quantity(api, metered["sub"]["id"]) == "40"
    assert send(api, batch)["duplicate"] == 40
    assert quantity(api, metered["sub"]["id"]) == "40"


def test_late_events_follow_the_meters_policy(api: ApiClient) -> None:
    strict = meter(api, "strict")
    lenient = meter(api, "lenient", late_event_policy="bill_next_period")
    prices = [usage_price(api, m["id"], PER_UNIT) for m in (strict, lenient)]
    clock, customer, sub = metered_subscription(api, T0, prices)
    advance(api, clock, "2026-04-01T00:02:00Z")
    late = "2026-03-31T23:59:00Z"  # in March, which the renewal closed
    result = send(
        api,
        [
            event("late-strict", "strict", customer, late, value=4),
            event("late-lenient", "lenient", customer, late, value=6),
            event("on-time", "strict", customer, "2026-04-01T00:01:00Z", value=1),
        ],
    )
    assert statuses(result) == [("rejected", "late_event"), ("accepted", None), ("accepted", None)]
    usage = api.get(f"/v1/subscriptions/{sub['id']}/usage").data
    by_code = {m["meter_code"]: m["groups"][0]["quantity"] for m in usage["meters"]}
    assert by_code == {"strict": "1", "lenient": "6"}  # the late one is billed in April
    march = usage_lines(invoices_of(api, sub["id"]))
    assert [line["quantity"] for line in march] == ["0", "0"]


def test_tenants_never_see_each_others_usage(
    api: ApiClient, other_api: ApiClient, metered: dict[str, Any]
) -> None:
    send(api, [event("mine", "calls", metered["customer"], T0, value=3)])
    meter(other_api, "calls")
    theirs = send(other_api, [event("mine", "calls", metered["customer"], T0, value=3)])
    assert statuses(theirs) == [("rejected", "unknown_customer")]
    assert_problem(other_api.get("/v1/usage/events/mine"), 404, "not_found")
    assert api.get("/v1/usage/events/mine").data["status"] == "accepted"
    assert_problem(other_api.get(f"/v1/subscriptions/{metered['sub']['id']}/usage"), 404, "not_found")
    # The same event id in another tenant is another event.
    other_customer = new_customer(other_api)
    assert statuses(send(other_api, [event("mine", "calls", other_customer, None, value=1)])) == [  # type: ignore[arg-type]
        ("accepted", None)
    ]
    assert quantity(api, metered["sub"]["id"]) == "3"


def test_one_subscription_per_customer_bills_a_meter(api: ApiClient, metered: dict[str, Any]) -> None:
    second = api.post(
        "/v1/subscriptions",
        {
            "customer_id": metered["customer"],
            "items": [{"price_id": metered["price"]["id"]}],
            "test_clock_id": metered["clock"],
        },
    )
    assert_problem(second, 409, "conflict")
    assert metered["meter"]["id"] in second.json()["detail"]
    api.post(f"/v1/subscriptions/{metered['sub']['id']}/cancel", {"when": "immediately"})
    again = api.post(
        "/v1/subscriptions",
        {
            "customer_id": metered["customer"],
            "items": [{"price_id": metered["price"]["id"]}],
            "test_clock_id": metered["clock"],
        },
    )
    assert again.status == 201, again.body
    accepted = send(api, [event("after", "calls", metered["customer"], T0, value=1)])
    assert accepted["results"][0]["subscription_id"] == again.data["id"]


def test_usage_prices_check_their_meter(api: ApiClient) -> None:
    product = api.post("/v1/products", {"name": "Calls", "type": "usage"}).data["id"]
    ghost = api.post(
        "/v1/prices",
        {
            "product_id": product,
            "currency": "EUR",
            "meter_id": "01900000-0000-7000-8000-000000000000",
            **PER_UNIT,
        },
    )
    assert_problem(ghost, 422, "validation_failed")
    assert ghost.json()["errors"][0]["pointer"] == "/meter_id"
    calls = meter(api, "grouped", group_by=["region"])
    wrong = api.post(
        "/v1/prices",
        {
            "product_id": product,
            "currency": "EUR",
            "meter_id": calls["id"],
            "meter_group": {"zone": "a"},
            **PER_UNIT,
        },
    )
    assert_problem(wrong, 422, "validation_failed")
    assert wrong.json()["errors"][0]["pointer"] == "/meter_group/zone"


def test_cancelling_bills_the_usage_so_far(api: ApiClient, metered: dict[str, Any]) -> None:
    send(api, [event("u1", "calls", metered["customer"], T0, value=7)])
    advance(api, metered["clock"], "2026-03-10T00:00:00Z")
    api.post(f"/v1/subscriptions/{metered['sub']['id']}/cancel", {"when": "immediately"})
    lines = usage_lines(invoices_of(api, metered["sub"]["id"]))
    assert [(line["quantity"], line["period"]["end"]) for line in lines] == [("7", "2026-03-10T00:00:00Z")]
    # Nothing counts after the end.
    after = send(api, [event("u2", "calls", metered["customer"], "2026-03-10T00:00:00Z", value=1)])
    assert after["results"][0]["subscription_id"] is None


class TestAlerts:
    def alert(self, api: ApiClient, metered: dict[str, Any], **body: Any) -> dict[str, Any]:
        response = api.post(
            "/v1/usage-alerts",
            {"subscription_id": metered["sub"]["id"], "meter_id": metered["meter"]["id"], **body},
        )
        assert response.status == 201, response.body
        return dict(response.data)

    def test_each_threshold_fires_once_per_period(self, api: ApiClient, metered: dict[str, Any]) -> None:
        alert = self.alert(api, metered, thresholds=["10", "20"], metric="units")
        customer = metered["customer"]
        send(api, [event("a", "calls", customer, T0, value=6)])
        send(api, [event("b", "calls", customer, T0, value=6)])  # 12: crosses 10
        send(api, [event("c", "calls", customer, T0, value=1)])  # 13: nothing new
        send(api, [event("d", "calls", customer, T0, value=30)])  # 43: crosses 20
        fired = [e for e in events_of(alert["id"]) if e["type"] == "usage.threshold_reached"]
        assert [e["data"]["object"]["crossing"]["threshold"] for e in fired] == ["10", "20"]
        assert [e["data"]["object"]["crossing"]["value"] for e in fired] == ["12", "43"]
        sequences = [int(e["aggregate"]["sequence"]) for e in events_of(alert["id"])]
        assert sequences == list(range(1, len(sequences) + 1))
        advance(api, metered["clock"], "2026-04-01T00:00:00Z")
        send(api, [event("e", "calls", customer, "2026-04-01T00:00:00Z", value=11)])
        fired = [e for e in events_of(alert["id"]) if e["type"] == "usage.threshold_reached"]
        assert [e["data"]["object"]["crossing"]["period"]["start"] for e in fired][
            -1
        ] == "2026-04-01T00:00:00Z"
        assert len(fired) == 3

    def test_an_amount_threshold(self, api: ApiClient, metered: dict[str, Any]) -> None:
        alert = self.alert(api, metered, thresholds=["5.00"], metric="amount")
        send(api, [event("a", "calls", metered["customer"], T0, value=5)])  # 5 x 1.00
        fired = [e for e in events_of(alert["id"]) if e["type"] == "usage.threshold_reached"]
        assert [e["data"]["object"]["crossing"]["value"] for e in fired] == ["5"]
        assert fired[0]["data"]["object"]["currency"] == "EUR"

    def test_block_refuses_the_meter_until_lifted_or_the_period_ends(
        self, api: ApiClient, metered: dict[str, Any]
    ) -> None:
        alert = self.alert(api, metered, thresholds=["100"], action="block")
        customer = metered["customer"]
        assert send(api, [event("a", "calls", customer, T0, value=150)])["accepted"] == 1
        blocked = send(api, [event("b", "calls", customer, T0, value=1)])
        assert statuses(blocked) == [("rejected", "usage_blocked")]
        assert alert["id"] in blocked["results"][0]["detail"]
        lifted = api.post(f"/v1/usage-alerts/{alert['id']}/lift")
        assert lifted.status == 200, lifted.body
        assert send(api, [event("b", "calls", customer, T0, value=1)])["accepted"] == 1
        assert_problem(api.post(f"/v1/usage-alerts/{alert['id']}/lift"), 409, "invalid_state_transition")
        assert quantity(api, metered["sub"]["id"]) == "151"

    def test_block_ends_with_the_period(self, api: ApiClient, metered: dict[str, Any]) -> None:
        self.alert(api, metered, thresholds=["1"], action="block")
        customer = metered["customer"]
        send(api, [event("a", "calls", customer, T0, value=1)])
        assert statuses(send(api, [event("b", "calls", customer, T0, value=1)])) == [
            ("rejected", "usage_blocked")
        ]
        advance(api, metered["clock"], "2026-04-01T00:00:00Z")
        later = send(api, [event("b", "calls", customer, "2026-04-01T00:00:00Z", value=1)])
        assert statuses(later) == [("accepted", None)]

    def test_bad_alerts_are_refused(self, api: ApiClient, metered: dict[str, Any]) -> None:
        base = {"subscription_id": metered["sub"]["id"], "meter_id": metered["meter"]["id"]}
        for body, pointer in [
            ({**base, "thresholds": ["0"]}, "/thresholds/0"),
            ({**base, "thresholds": ["5", "5"]}, "/thresholds/1"),
            ({**base, "thresholds": ["x"]}, "/thresholds/0"),
            ({**base, "meter_id": meter(api, "unbilled")["id"], "thresholds": ["1"]}, "/meter_id"),
        ]:
            response = api.post("/v1/usage-alerts", body)
            assert_problem(response, 422, "validation_failed")
            assert response.json()["errors"][0]["pointer"] == pointer
        assert api.get("/v1/usage-alerts").data == []


def test_a_chunk_refused_by_a_closed_period_leaves_no_trace_in_it(api: ApiClient) -> None:
    """Max, latest and distinct values are written in the same transaction as the fence check:
    a chunk that arrives after the close changes nothing of the closed period."""
    from billow.domain.tenancy import Scope
    from billow.domain.usage import UsageRecord
    from billow.ports.usage import UsageChunk
    from tests.integration.usage.test_usage_flow import api_tenant_of

    scope = Scope(api_tenant_of(api), livemode=False)
    store = container().usage_store
    store.close_period(scope, "sub-1", T0, "2026-04-01T00:00:00Z")
    records = tuple(
        UsageRecord(
            event_id=f"x{i}",
            customer_id="c",
            meter_id=meter_id,
            timestamp=T0,
            at_ms=1_772_323_200_000,
            properties={},
            value=Decimal(9),
            text="someone",
            subscription_id="sub-1",
            period_start=T0,
            period_start_ms=1_772_323_200_000,
        )
        for i, meter_id in enumerate(["m-max", "m-latest", "m-unique"])
    )
    chunk = UsageChunk(
        batch_id="b1",
        origin=f"sub-1#{T0}#0",
        subscription_id="sub-1",
        period_start=T0,
        records=records,
        aggregations={"m-max": "max", "m-latest": "latest", "m-unique": "unique_count"},
    )
    assert store.apply(scope, chunk) == "period_closed"
    assert store.period_usage(scope, "sub-1", T0).totals == {}
    assert store.apply(scope, replace(chunk, period_start="2026-04-01T00:00:00Z")) == "applied"
    assert store.apply(scope, replace(chunk, period_start="2026-04-01T00:00:00Z")) == "already_applied"
