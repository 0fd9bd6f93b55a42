"""/v1/payment-methods through the API handler on moto: a gateway's token attached to a
customer, one default per customer, detaching, and what is refused without a trace: card and
account numbers anywhere in the body, a token of the wrong gateway, a method the gateway does
not take, another tenant's customer or gateway."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.integration.invoicing.conftest import assert_refused
from tests.support.api_client import ApiClient
from tests.support.aws import TABLE
from tests.support.subscriptions import new_customer

CARD_NUMBER = "4242424242424242"
SPACED_CARD_NUMBER = "4242 4242 4242 4242"
IBAN = "DE89370400440532013000"


@pytest.fixture
def sandbox(api: ApiClient) -> str:
    response = api.post("/v1/payment-gateways", {"provider": "sandbox"})
    assert response.status == 201, response.body
    return str(response.data["id"])


@pytest.fixture
def customer(api: ApiClient) -> str:
    return new_customer(api, currency="EUR")


def card(customer: str, gateway: str, token: str = "pm_sandbox_visa", **extra: Any) -> dict[str, Any]:  # noqa: S107
    return {
        "customer_id": customer,
        "gateway_id": gateway,
        "type": "card",
        "gateway_token": token,
        "details": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        **extra,
    }


def attach(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/payment-methods", body)
    assert response.status == 201, response.body
    return dict(response.data)


def methods_of(api: ApiClient, customer: str) -> list[dict[str, Any]]:
    response = api.get("/v1/payment-methods", query={"customer_id": customer})
    assert response.status == 200, response.body
    return list(response.data)


def test_the_first_method_is_the_customers_default(api: ApiClient, sandbox: str, customer: str) -> None:
    first = attach(api, card(customer, sandbox))
    assert {
        k: first[k] for k in ("customer_id", "gateway_id", "type", "gateway_token", "is_default", "status")
    } == {
        "customer_id": customer,
        "gateway_id": sandbox,
        "type": "card",
        "gateway_token": "pm_sandbox_visa",
        "is_default": True,
        "status": "active",
    }
    assert first["details"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}
    second = attach(api, card(customer, sandbox, "pm_sandbox_mastercard", is_default=True))
    by_id = {m["id"]: m for m in methods_of(api, customer)}
    assert (by_id[first["id"]]["is_default"], by_id[second["id"]]["is_default"]) == (False, True)
    assert api.get(f"/v1/payment-methods/{second['id']}").data == by_id[second["id"]]
    # Another customer's methods are their own.
    other = new_customer(api, currency="EUR")
    assert attach(api, card(other, sandbox))["is_default"] is True
    assert [m["id"] for m in methods_of(api, customer)] == [second["id"], first["id"]]


def test_making_another_default_and_detaching(api: ApiClient, sandbox: str, customer: str) -> None:
    first = attach(api, card(customer, sandbox))
    second = attach(api, card(customer, sandbox, "pm_sandbox_amex"))
    made = api.patch(f"/v1/payment-methods/{second['id']}", {"is_default": True})
    assert made.status == 200
    assert made.data["is_default"] is True
    assert api.get(f"/v1/payment-methods/{first['id']}").data["is_default"] is False
    assert_refused(
        api.patch(f"/v1/payment-methods/{second['id']}", {"is_default": False}),
        422,
        "validation_failed",
        "/is_default",
    )
    detached = api.post(f"/v1/payment-methods/{second['id']}/detach", idempotency_key=None)
    assert detached.status == 200
    assert (detached.data["status"], detached.data["is_default"]) == ("detached", False)
    assert_refused(
        api.post(f"/v1/payment-methods/{second['id']}/detach", idempotency_key=None),
        409,
        "invalid_state_transition",
    )
    assert_refused(
        api.patch(f"/v1/payment-methods/{second['id']}", {"is_default": True}),
        409,
        "invalid_state_transition",
    )
    active = api.get("/v1/payment-methods", query={"customer_id": customer, "status": "active"}).data
    assert [m["id"] for m in active] == [first["id"]]
    renewed = api.patch(f"/v1/payment-methods/{first['id']}", {"details": {"exp_year": 2031}})
    assert renewed.data["details"]["exp_year"] == 2031
    assert renewed.data["details"]["last4"] == "4242"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"gateway_token": CARD_NUMBER}, "/gateway_token"),
        (
            {
                "gateway_token": "pm_sandbox_x",
                "metadata": {"note": f"card {SPACED_CARD_NUMBER}"},
            },
            "/metadata/note",
        ),
        ({"metadata": {"iban": IBAN}}, "/metadata/iban"),
        ({"details": {"brand": "visa", "last4": "42424"}}, "/details/last4"),
        ({"details": {"last4": "4242", "exp_month": 13}}, "/details/exp_month"),
        ({"gateway_token": "pm_1AbCdEfGh"}, "/gateway_token"),  # a Stripe token on the sandbox gateway
        ({"type": "bacs_debit"}, "/type"),
        ({"customer_id": "0190d3b6-0000-7000-8000-000000000000"}, "/customer_id"),
        ({"gateway_id": "0190d3b6-0000-7000-8000-000000000000"}, "/gateway_id"),
        ({"card_number": CARD_NUMBER}, "/card_number"),
    ],
)
def test_bad_methods_are_refused_and_no_account_number_is_kept(
    api: ApiClient, sandbox: str, customer: str, change: dict[str, Any], pointer: str
) -> None:
    response = api.post("/v1/payment-methods", {**card(customer, sandbox), **change})
    assert_refused(response, 422, "validation_failed", pointer)
    assert CARD_NUMBER not in response.body
    assert SPACED_CARD_NUMBER not in response.body
    assert IBAN not in response.body
    assert methods_of(api, customer) == []
    stored = json.dumps(boto3.client("dynamodb").scan(TableName=TABLE)["Items"])
    assert CARD_NUMBER not in stored
    assert SPACED_CARD_NUMBER not in stored
    assert IBAN not in stored


def test_a_disabled_gateway_or_customer_takes_no_method(api: ApiClient, sandbox: str, customer: str) -> None:
    assert api.post(f"/v1/customers/{customer}/disable", idempotency_key=None).status == 200
    assert_refused(api.post("/v1/payment-methods", card(customer, sandbox)), 409, "invalid_state_transition")
    active = new_customer(api, currency="EUR")
    other = api.post("/v1/payment-gateways", {"provider": "sandbox"}).data["id"]
    assert api.patch(f"/v1/payment-gateways/{other}", {"status": "disabled"}).status == 200
    assert_refused(api.post("/v1/payment-methods", card(active, other)), 409, "invalid_state_transition")
    assert methods_of(api, active) == []


def test_another_tenants_customer_gateway_and_method_are_not_theirs(
    api: ApiClient, other_api: ApiClient, sandbox: str, customer: str
) -> None:
    method = attach(api, card(customer, sandbox))
    theirs_gateway = other_api.post("/v1/payment-gateways", {"provider": "sandbox"}).data["id"]
    theirs_customer = new_customer(other_api, currency="EUR")
    assert_refused(
        other_api.post("/v1/payment-methods", card(customer, theirs_gateway)),
        422,
        "validation_failed",
        "/customer_id",
    )
    assert_refused(
        other_api.post("/v1/payment-methods", card(theirs_customer, sandbox)),
        422,
        "validation_failed",
        "/gateway_id",
    )
    assert_refused(other_api.get(f"/v1/payment-methods/{method['id']}"), 404, "not_found")
    assert_refused(
        other_api.post(f"/v1/payment-methods/{method['id']}/detach", idempotency_key=None), 404, "not_found"
    )
    assert other_api.get("/v1/payment-methods", query={"customer_id": customer}).data == []
    assert api.get(f"/v1/payment-methods/{method['id']}").data == method
