"""Fixtures of the payment tests: one moto backend per module (emptied before each test), a
sandbox gateway, a EUR customer on a test clock with a sandbox card as default, and helpers to
make finalized invoices and count what the sandbox gateway charged."""

from __future__ import annotations

from typing import Any

import pytest

from billow.adapters.aws import dynamodb_client
from billow.adapters.dynamodb.sandbox_ledger import DynamoSandboxLedger
from billow.adapters.dynamodb.table import DynamoTable
from billow.adapters.gateways.sandbox import SandboxCharge, SandboxRefund
from billow.api.container import container
from billow.domain.tenancy import Scope
from tests.integration.conftest import new_tenant_client
from tests.integration.invoicing.conftest import NOW, finalized, line
from tests.integration.subscriptions.conftest import api_handler, backend, catalog
from tests.support.api_client import ApiClient
from tests.support.aws import TABLE
from tests.support.subscriptions import new_clock, new_customer

__all__ = ["api_handler", "backend", "catalog"]


@pytest.fixture
def live_api(api_handler: Any) -> ApiClient:
    """A live API key of another tenant."""
    return new_tenant_client(api_handler, "Live tenant", livemode=True)


@pytest.fixture
def clock(api: ApiClient) -> str:
    return new_clock(api, NOW)


@pytest.fixture
def sandbox(api: ApiClient) -> str:
    response = api.post("/v1/payment-gateways", {"provider": "sandbox"})
    assert response.status == 201, response.body
    return str(response.data["id"])


def attach_card(
    api: ApiClient,
    customer: str,
    gateway: str,
    token: str = "pm_sandbox_visa",  # noqa: S107 - a sandbox test token
    **extra: Any,
) -> str:
    body = {"customer_id": customer, "gateway_id": gateway, "type": "card", "gateway_token": token, **extra}
    response = api.post("/v1/payment-methods", body)
    assert response.status == 201, response.body
    return str(response.data["id"])


@pytest.fixture
def customer(api: ApiClient, clock: str, sandbox: str) -> str:
    """A EUR customer in the clock's time with a sandbox card as its default method."""
    customer_id = new_customer(api, currency="EUR", test_clock_id=clock)
    attach_card(api, customer_id, sandbox)
    return customer_id


def open_invoice(api: ApiClient, customer: str, amount: str = "100.00", **extra: Any) -> dict[str, Any]:
    """A finalized one-off invoice sent to the customer (nothing charges it on its own)."""
    return finalized(api, customer, line("Consulting", amount), collection_method="send_invoice", **extra)


def scope_of(api: ApiClient) -> Scope:
    assert api.api_key is not None
    return container().tenancy.authenticate(api.api_key).scope


def ledger(api: ApiClient, gateway_id: str) -> DynamoSandboxLedger:
    return DynamoSandboxLedger(DynamoTable(dynamodb_client(), TABLE), scope_of(api), gateway_id)


def charges(api: ApiClient, gateway_id: str) -> list[SandboxCharge]:
    return ledger(api, gateway_id).charges()


def refunds(api: ApiClient, gateway_id: str) -> list[SandboxRefund]:
    return ledger(api, gateway_id).refunds()
