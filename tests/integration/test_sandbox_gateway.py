"""The sandbox gateway with its DynamoDB ledger on moto: outcomes chosen by the token, and one
charge per idempotency key however often and however concurrently it is sent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from billow.adapters.dynamodb.sandbox_ledger import DynamoSandboxLedger
from billow.adapters.gateways.sandbox import SandboxGateway
from billow.api.container import container
from billow.domain.money import Money
from billow.domain.payment import PaymentFailure, attempt_key
from billow.domain.tenancy import Scope
from billow.ports.gateways import ChargeRequest, GatewayRefused, GatewayUnavailable

SCOPE = Scope("0190d3b6-0000-7000-8000-00000000000a", False)


@pytest.fixture
def ledger(aws: None) -> DynamoSandboxLedger:
    return DynamoSandboxLedger(container().table, SCOPE, "gw-sandbox")


def request(token: str, *, key: str = "k-1", amount: str = "49.00") -> ChargeRequest:
    return ChargeRequest(
        amount=Money(Decimal(amount), "EUR"),
        payment_method_token=token,
        idempotency_key=key,
        description="INV-1",
    )


@pytest.mark.parametrize(
    ("token", "status", "failure"),
    [
        ("pm_sandbox_visa", "succeeded", None),
        ("pm_sandbox_debit", "processing", None),
        ("pm_sandbox_authentication_required", "requires_action", None),
        (
            "pm_sandbox_declined",
            "failed",
            PaymentFailure("card_declined", "The card was declined.", "generic_decline"),
        ),
        (
            "pm_sandbox_insufficient_funds",
            "failed",
            PaymentFailure("card_declined", "The card has insufficient funds.", "insufficient_funds"),
        ),
        ("pm_sandbox_expired", "failed", PaymentFailure("expired_card", "The card has expired.", None)),
    ],
)
def test_the_token_chooses_the_outcome(
    ledger: DynamoSandboxLedger, token: str, status: str, failure: PaymentFailure | None
) -> None:
    outcome = SandboxGateway(ledger).charge(request(token))
    assert (outcome.status, outcome.failure) == (status, failure)
    assert outcome.reference.startswith("sbx_ch_")
    assert (outcome.next_action_url is not None) == (status == "requires_action")
    [kept] = ledger.charges()
    assert (kept.outcome, kept.amount) == (outcome, Money(Decimal("49.00"), "EUR"))


def test_one_key_is_one_charge_however_often_and_concurrently_it_is_sent(ledger: DynamoSandboxLedger) -> None:
    gateway = SandboxGateway(ledger)
    key = attempt_key("inv-1", 1)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: gateway.charge(request("pm_sandbox_visa", key=key)), range(24)))
    assert len({o.reference for o in outcomes}) == 1
    assert len(ledger.charges()) == 1
    # The next attempt is a new charge.
    gateway.charge(request("pm_sandbox_visa", key=attempt_key("inv-1", 2)))
    assert len(ledger.charges()) == 2


def test_a_key_reused_for_another_charge_is_refused(ledger: DynamoSandboxLedger) -> None:
    gateway = SandboxGateway(ledger)
    gateway.charge(request("pm_sandbox_visa"))
    with pytest.raises(GatewayRefused, match="idempotency key"):
        gateway.charge(request("pm_sandbox_visa", amount="50.00"))
    assert len(ledger.charges()) == 1


def test_unknown_outcomes_and_refusals_record_no_charge(ledger: DynamoSandboxLedger) -> None:
    gateway = SandboxGateway(ledger)
    with pytest.raises(GatewayUnavailable):
        gateway.charge(request("pm_sandbox_unavailable"))
    with pytest.raises(GatewayRefused):
        gateway.charge(request("pm_1StripeToken"))
    with pytest.raises(GatewayRefused):
        gateway.charge(request("pm_sandbox_visa", amount="0.00"))
    assert ledger.charges() == []
