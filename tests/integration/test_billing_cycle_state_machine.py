"""The billing cycle through its real state machine (statemachines/billing_cycle.asl.json) on
the local stack provisioned from template.yaml: a test clock's advance starts an execution,
the emulator runs the definition and calls the billing-cycle function in this process.

Fault injection: a step is made to crash after doing its work (as a Lambda timeout or crash
reports to Step Functions: ``Lambda.Unknown``), so the state machine retries it; a step that
fails for good fails the execution, and repeating the advance starts a new one. Whatever the
fault, each period is invoiced once, with the right total, and the numbers have no gap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from billow.api.container import container
from billow.local.stack import LocalAws
from billow.services import billing_cycle
from billow.services.billing_cycle import BillingCycleService
from tests.support.api_client import ApiClient
from tests.support.aws import reset_process_state
from tests.support.functions import gateway
from tests.support.subscriptions import invoices_of, new_clock, new_customer
from tests.support.usage import event, meter, send, usage_price

START = "2026-01-01T00:00:00Z"
MONTH_LATER = "2026-02-01T00:00:00Z"
# Lambda's own name for a function that crashed or timed out after doing its work.
LambdaCrash = type("Lambda.Unknown", (Exception,), {})
PermanentFailure = type("TaxServiceDown", (Exception,), {})


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalAws]:
    with LocalAws(port=0, stack_name=f"cycle-{uuid.uuid4().hex[:8]}", ticker=False) as aws:
        reset_process_state()
        yield aws
    reset_process_state()


@pytest.fixture
def api(stack: LocalAws) -> ApiClient:
    tenancy = container().tenancy
    tenant = tenancy.create_tenant(f"Cycle {uuid.uuid4().hex[:6]}")
    return ApiClient(gateway(), tenancy.issue_api_key(tenant.id, livemode=False).secret)


def catalog(api: ApiClient) -> dict[str, dict[str, Any]]:
    """A flat fee, a per-seat price and a graduated usage price."""
    base = api.post("/v1/products", {"name": "Platform", "type": "recurring"}).data
    seats = api.post("/v1/products", {"name": "Seats", "type": "seat"}).data
    flat = api.post(
        "/v1/prices", {"product_id": base["id"], "currency": "EUR", "model": "flat", "amount": "49.00"}
    ).data
    seat = api.post(
        "/v1/prices",
        {"product_id": seats["id"], "currency": "EUR", "model": "per_unit", "unit_amount": "7.50"},
    ).data
    calls = meter(api, f"calls-{uuid.uuid4().hex[:6]}")
    graduated = usage_price(
        api,
        calls["id"],
        {
            "model": "graduated",
            "tiers": [
                {"up_to": "100", "unit_amount": "0.10"},
                {"up_to": None, "unit_amount": "0.05"},
            ],
        },
    )
    return {"flat": flat, "seat": seat, "graduated": graduated, "meter": calls}


def three_subscriptions(api: ApiClient) -> tuple[str, list[str], dict[str, str]]:
    """A clock with a flat, a seats (4 seats) and a usage subscription, 150 calls used.
    Returns the clock, the subscriptions and the renewal total expected of each."""
    prices = catalog(api)
    clock = new_clock(api, START)
    subs, expected = [], {}
    for name, quantity, renewal in (("flat", "1", "49.00"), ("seat", "4", "30.00"), ("graduated", "0", None)):
        customer = new_customer(api, test_clock_id=clock)
        created = api.post(
            "/v1/subscriptions",
            {
                "customer_id": customer,
                "items": [{"price_id": prices[name]["id"], "quantity": quantity}],
                "test_clock_id": clock,
            },
        )
        assert created.status == 201, created.body
        subs.append(created.data["id"])
        if name == "graduated":
            # 100 x 0.10 + 50 x 0.05, billed in arrears when the month closes.
            events = [
                event(f"e{i}-{customer}", prices["meter"]["code"], customer, START, value="1")
                for i in range(150)
            ]
            result = send(api, events)
            assert {r["status"] for r in result["results"]} == {"accepted"}, result["results"][0]
            renewal = "12.50"
        expected[created.data["id"]] = str(renewal)
    return clock, subs, expected


def advance(api: ApiClient, clock: str, to: str) -> dict[str, Any]:
    response = api.post(f"/v1/test-clocks/{clock}/advance", {"to": to}, idempotency_key=None)
    assert response.status == 200, response.body
    return dict(response.data)


def assert_invoiced_once(api: ApiClient, subs: list[str], expected: dict[str, str]) -> None:
    numbers = []
    for sub in subs:
        invoices = invoices_of(api, sub)
        cycle = [i for i in invoices if i["billing_reason"] == "subscription_cycle"]
        assert len(cycle) == 1, [(i["billing_reason"], i["period_start"]) for i in invoices]
        assert cycle[0]["period_start"] == MONTH_LATER
        assert cycle[0]["total"]["amount"] == expected[sub]
        assert all(i["status"] in ("finalized", "paid") for i in invoices), [i["status"] for i in invoices]
        numbers += [i["number"] for i in invoices]
    sequence = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert sequence == list(range(1, len(numbers) + 1)), numbers


def executions(stack: LocalAws) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    arn = stack.stack.physical_ids["BillingCycleStateMachine"]
    return list(sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"])


def test_an_advance_runs_the_billing_cycle_state_machine(stack: LocalAws, api: ApiClient) -> None:
    clock, subs, expected = three_subscriptions(api)
    before = {e["name"] for e in executions(stack)}

    advanced = advance(api, clock, MONTH_LATER)

    assert (advanced["status"], advanced["frozen_time"]) == ("ready", MONTH_LATER)
    new = [e for e in executions(stack) if e["name"] not in before]
    assert [(e["name"].startswith(f"clock-{clock}-v"), e["status"]) for e in new] == [(True, "SUCCEEDED")]
    assert_invoiced_once(api, subs, expected)


def crash_after(method: str, times: int) -> Callable[..., Any]:
    original = getattr(BillingCycleService, method)
    calls = {"n": 0}

    def wrapped(self: BillingCycleService, state: Any) -> Any:
        result = original(self, state)
        calls["n"] += 1
        if calls["n"] <= times:
            raise LambdaCrash(f"simulated crash after {method}")
        return result

    return wrapped


@pytest.mark.parametrize("step", ["list_due", "close_period", "finalize_due", "collect"])
def test_a_crash_after_any_step_is_retried_without_a_second_invoice(
    stack: LocalAws, api: ApiClient, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    clock, subs, expected = three_subscriptions(api)
    monkeypatch.setattr(BillingCycleService, step, crash_after(step, times=1))

    advanced = advance(api, clock, MONTH_LATER)

    assert advanced["status"] == "ready"
    assert_invoiced_once(api, subs, expected)


def test_a_failed_run_is_started_again_by_repeating_the_advance(
    stack: LocalAws, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, subs, expected = three_subscriptions(api)
    original = BillingCycleService.finalize_due

    def broken(self: BillingCycleService, state: Any) -> Any:
        original(self, state)  # the round's invoices are finalized, then the step fails for good
        raise PermanentFailure("the tax service is down")

    monkeypatch.setattr(BillingCycleService, "finalize_due", broken)
    stuck = advance(api, clock, MONTH_LATER)
    assert stuck["status"] == "advancing"  # the run failed; the clock waits for a new one
    assert any(e["status"] == "FAILED" and clock in e["name"] for e in executions(stack))

    monkeypatch.setattr(BillingCycleService, "finalize_due", original)
    finished = advance(api, clock, MONTH_LATER)

    assert (finished["status"], finished["frozen_time"]) == ("ready", MONTH_LATER)
    names = [e["name"] for e in executions(stack) if clock in e["name"]]
    assert any(name.endswith("-retry1") for name in names), names
    assert_invoiced_once(api, subs, expected)


def test_duplicated_runs_invoice_each_period_once(stack: LocalAws, api: ApiClient) -> None:
    clock, subs, expected = three_subscriptions(api)
    begun = api.post(f"/v1/test-clocks/{clock}/advance", {"to": MONTH_LATER}, idempotency_key=None)
    assert begun.status == 200
    runner = container().billing_cycle_runner
    tenant_scope = container().tenancy.authenticate(str(api.api_key)).scope

    def run(i: int) -> str:
        return runner.wait(runner.start(MONTH_LATER, (tenant_scope, clock), name=f"dup-{clock}-{i}"), 60)

    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(run, range(3)))

    assert outcomes == ["succeeded"] * 3
    assert_invoiced_once(api, subs, expected)


def test_a_long_run_continues_in_new_executions_and_a_retried_hand_over_starts_only_one(
    stack: LocalAws, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One subscription per round and one round per execution: the run goes on in numbered
    executions, the advance waits through all of them, and the continuation step crashing
    after it started the next execution joins that execution when retried."""
    clock, subs, expected = three_subscriptions(api)
    monkeypatch.setattr(billing_cycle, "ROUND_SIZE", 1)
    monkeypatch.setattr(billing_cycle, "ROUNDS_PER_EXECUTION", 1)
    monkeypatch.setattr(BillingCycleService, "continue_run", crash_after("continue_run", times=1))

    advanced = advance(api, clock, MONTH_LATER)

    assert (advanced["status"], advanced["frozen_time"]) == ("ready", MONTH_LATER)
    runs = sorted((e["name"], e["status"]) for e in executions(stack) if clock in e["name"])
    base = runs[0][0]
    assert len(runs) >= 3, runs
    assert runs == [(base, "SUCCEEDED")] + [(f"{base}-p{n}", "SUCCEEDED") for n in range(1, len(runs))]
    assert_invoiced_once(api, subs, expected)


def test_retried_collect_and_dunning_steps_charge_once(
    stack: LocalAws, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A charge's step crashing after the gateway charged is retried by the state machines; the
    attempt's key makes the retry find the same charge, so the sandbox ledger holds each once."""
    from billow.adapters.dynamodb.sandbox_ledger import DynamoSandboxLedger
    from billow.services.dunning import DunningService

    gateway_id = api.post("/v1/payment-gateways", {"provider": "sandbox"}).data["id"]
    clock = new_clock(api, START)
    customer = new_customer(api, test_clock_id=clock, currency="EUR")
    card = {
        "customer_id": customer,
        "gateway_id": gateway_id,
        "type": "card",
        "gateway_token": "pm_sandbox_visa",
    }
    method = api.post("/v1/payment-methods", card).data["id"]
    price = catalog(api)["flat"]
    sub = api.post(
        "/v1/subscriptions",
        {"customer_id": customer, "items": [{"price_id": price["id"]}], "test_clock_id": clock},
    ).data
    assert api.api_key is not None
    scope = container().tenancy.authenticate(api.api_key).scope
    ledger = DynamoSandboxLedger(container().table, scope, gateway_id)
    assert len(ledger.charges()) == 1

    monkeypatch.setattr(BillingCycleService, "collect", crash_after("collect", times=1))
    assert advance(api, clock, MONTH_LATER)["status"] == "ready"
    renewal = next(i for i in invoices_of(api, sub["id"]) if i["period_start"] == MONTH_LATER)
    assert (renewal["status"], renewal["attempt_count"]) == ("paid", 1)
    assert len(ledger.charges()) == 2

    # The next renewal is declined; its dunning retry crashes after charging, once.
    api.post("/v1/test-payment-simulations", {"payment_method_id": method, "outcome": "fail"})
    assert advance(api, clock, "2026-03-01T00:00:00Z")["status"] == "ready"
    original = DunningService.run_step
    calls = {"n": 0}

    def crashing(self: DunningService, state: Any) -> Any:
        result = original(self, state)
        calls["n"] += 1
        if calls["n"] == 1:
            raise LambdaCrash("simulated crash after the retry charged")
        return result

    monkeypatch.setattr(DunningService, "run_step", crashing)
    assert advance(api, clock, "2026-03-05T00:00:00Z")["status"] == "ready"
    second = next(i for i in invoices_of(api, sub["id"]) if i["period_start"] == "2026-03-01T00:00:00Z")
    assert (second["status"], second["attempt_count"], second["dunning"]["status"]) == (
        "paid",
        2,
        "recovered",
    )
    assert calls["n"] == 2
    keys = [c.idempotency_key for c in ledger.charges()]
    assert len(keys) == 4
    assert sorted(k for k in keys if second["id"] in k) == [
        f"billow-{second['id']}-attempt-1",
        f"billow-{second['id']}-attempt-2",
    ]
