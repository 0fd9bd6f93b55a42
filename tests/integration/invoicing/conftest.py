"""Fixtures of the invoicing tests: one moto backend per module, emptied before each test (the
subscription tests' fixtures), a customer on a test clock frozen at 2026-03-15 09:00 UTC (so
dates and numbers are fixed), and helpers to build, finalize and read one-off invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.subscriptions.conftest import api_handler, backend, catalog
from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient, ApiResponse
from tests.support.subscriptions import new_clock, new_customer

__all__ = ["api_handler", "backend", "catalog"]

NOW = "2026-03-15T09:00:00Z"
TODAY = "2026-03-15"


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def line(description: str, unit_amount: Any, quantity: Any = "1", **extra: Any) -> dict[str, Any]:
    return {"description": description, "unit_amount": unit_amount, "quantity": quantity, **extra}


def create_draft(api: ApiClient, customer_id: str, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/invoices", {"customer_id": customer_id, "lines": list(lines), **extra})
    assert response.status == 201, response.body
    return dict(response.data)


def finalize(api: ApiClient, invoice_id: str, **kw: Any) -> ApiResponse:
    # Idempotency-Key is optional on actions; leaving it out saves two writes per call.
    return api.post(f"/v1/invoices/{invoice_id}/finalize", idempotency_key=None, **kw)


def finalized(api: ApiClient, customer_id: str, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A one-off invoice, created and finalized."""
    draft = create_draft(api, customer_id, *lines, **extra)
    response = finalize(api, draft["id"])
    assert response.status == 200, response.body
    return dict(response.data)


def action(api: ApiClient, invoice_id: str, verb: str, **kw: Any) -> ApiResponse:
    return api.post(f"/v1/invoices/{invoice_id}/{verb}", idempotency_key=None, **kw)


def get_invoice(api: ApiClient, invoice_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/invoices/{invoice_id}")
    assert response.status == 200, response.body
    assert response.header("ETag") == f'"{response.data["version"]}"'
    return dict(response.data)


def balance(api: ApiClient, customer_id: str, currency: str = "EUR") -> Decimal:
    """The customer's credit balance in ``currency`` (0 when it never had one)."""
    response = api.get(f"/v1/customers/{customer_id}/credit-balance")
    assert response.status == 200, response.body
    found = [b["amount"] for b in response.data["balances"] if b["currency"] == currency]
    return Decimal(found[0]) if found else Decimal(0)


def credit_transactions(api: ApiClient, customer_id: str) -> list[tuple[str, str, str | None]]:
    """(amount, reason, invoice_id) of the customer's credit movements, newest first."""
    response = api.get(f"/v1/customers/{customer_id}/credit-balance", query={"limit": "100"})
    assert response.status == 200, response.body
    return [(t["amount"]["amount"], t["reason"], t["invoice_id"]) for t in response.data["transactions"]]


def all_invoices(api: ApiClient, **query: str) -> list[dict[str, Any]]:
    response = api.get("/v1/invoices", query={"limit": "100", **query})
    assert response.status == 200, response.body
    assert response.json()["pagination"]["has_more"] is False
    return list(response.data)


def pointers(response: ApiResponse) -> list[str]:
    return [e["pointer"] for e in response.json().get("errors") or []]


def assert_refused(response: ApiResponse, status: int, code: str, pointer: str | None = None) -> None:
    """The RFC 9457 problem with its stable code (and, for validation, the field it names)."""
    assert_problem(response, status, code)
    if pointer is not None:
        assert pointer in pointers(response), response.body


@pytest.fixture
def clock(api: ApiClient) -> str:
    return new_clock(api, NOW)


@pytest.fixture
def customer(api: ApiClient, clock: str) -> str:
    """A EUR customer whose invoices live in the test clock's time (2026-03-15 09:00 UTC)."""
    return new_customer(api, currency="EUR", test_clock_id=clock)
