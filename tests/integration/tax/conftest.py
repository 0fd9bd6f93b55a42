"""Fixtures of the tax and documents tests: one moto backend per module with a local VIES and
a local ECB behind the settings (never the real services), emptied tables per test, a German
seller's tax profile, customers on a test clock frozen at 2026-07-10 10:00 UTC, and helpers
that fetch a document through its presigned link and validate e-invoices with the official
rules in ../shared/einvoice when that folder is present."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest

from tests.support.api_client import ApiClient
from tests.support.aws import ENV
from tests.support.ecb_server import EcbServer
from tests.support.subscriptions import fresh_tables, module_backend, new_clock
from tests.support.vies_server import ViesServer

NOW = "2026-07-10T10:00:00Z"
SELLER_VAT = "DE136695976"
FR_BUSINESS_VAT = "FR40303265045"
EINVOICE_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "einvoice"

SELLER: dict[str, Any] = {
    "legal_name": "Wolkig Software GmbH",
    "address": {"line1": "Friedrichstr. 12", "city": "Berlin", "postal_code": "10117", "country": "DE"},
    "vat_id": SELLER_VAT,
    "tax_number": "30/123/45678",
    "legal_registration": "HRB 123456 B, Amtsgericht Charlottenburg",
    "contact": {"name": "Erika Muster", "email": "billing@wolkig.test", "phone": "+49 30 1234567"},
    "electronic_address": "invoices@wolkig.test",
    "payment_details": {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
}
# ECB publications around the clock's day (10 July 2026 is a Friday).
ECB_DAYS = {
    date(2026, 7, 8): {"USD": "1.1650", "GBP": "0.8590"},
    date(2026, 7, 9): {"USD": "1.1702", "GBP": "0.8601"},
    date(2026, 7, 10): {"USD": "1.1725", "GBP": "0.8612"},
}


@pytest.fixture(scope="module")
def vies() -> Iterator[ViesServer]:
    with ViesServer(
        {SELLER_VAT: ("Wolkig Software GmbH", "Berlin"), FR_BUSINESS_VAT: ("Nuage SAS", "Paris")}
    ) as server:
        yield server


@pytest.fixture(scope="module")
def backend(vies: ViesServer) -> Iterator[Any]:
    with EcbServer(ECB_DAYS) as ecb, pytest.MonkeyPatch.context() as patch:
        patch.setitem(ENV, "BILLOW_VIES_BASE_URL", vies.url)
        patch.setenv("BILLOW_ECB_BASE_URL", ecb.url)
        with module_backend() as handler:
            yield handler


@pytest.fixture
def api_handler(backend: Any, vies: ViesServer) -> Any:
    fresh_tables()
    for prefix in ("FR", "DE"):
        vies.set_unavailable(prefix, False)
    return backend


@pytest.fixture
def clock(api: ApiClient) -> str:
    return new_clock(api, NOW)


@pytest.fixture
def seller(api: ApiClient) -> dict[str, Any]:
    response = api.put("/v1/tax/profile", SELLER)
    assert response.status in (200, 201), response.body
    return dict(response.data)


def customer(api: ApiClient, clock: str, **fields: Any) -> str:
    body = {
        "name": "Customer",
        "email": "ap@customer.test",
        "currency": "EUR",
        "test_clock_id": clock,
        **fields,
    }
    response = api.post("/v1/customers", body)
    assert response.status == 201, response.body
    return str(response.data["id"])


def address(country: str, city: str = "Paris", postal_code: str = "75002", **extra: str) -> dict[str, str]:
    return {"line1": "1 Main Street", "city": city, "postal_code": postal_code, "country": country, **extra}


def invoice(
    api: ApiClient,
    customer_id: str,
    *lines: tuple[str, str, str],
    lines_extra: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A one-off invoice of (description, quantity, unit amount) lines (and ``lines_extra`` as
    the API takes them), finalized."""
    body = {
        "customer_id": customer_id,
        "lines": [{"description": d, "quantity": q, "unit_amount": u} for d, q, u in lines]
        + (lines_extra or []),
        "collection_method": "send_invoice",
        "payment_terms_days": 14,
        "buyer_reference": "04011000-12345-03",
        **extra,
    }
    created = api.post("/v1/invoices", body)
    assert created.status == 201, created.body
    done = api.post(f"/v1/invoices/{created.data['id']}/finalize", idempotency_key=None)
    assert done.status == 200, done.body
    return dict(done.data)


def groups(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(category, rate, taxable, tax) of each group of the tax breakdown."""
    return [
        (g["category"], g["rate"], g["taxable_amount"]["amount"], g["amount"]["amount"])
        for g in document["tax_breakdown"]
    ]


def download(link: dict[str, Any]) -> bytes:
    """The stored object behind a presigned link (moto serves S3 in this process)."""
    parts = urlsplit(link["url"])
    bucket = ENV["BILLOW_DOCUMENTS_BUCKET"]
    key = unquote(parts.path.lstrip("/"))
    if key.startswith(f"{bucket}/"):
        key = key[len(bucket) + 1 :]
    body: bytes = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


@pytest.fixture(scope="session")
def einvoice_validator() -> Any:
    if not EINVOICE_DIR.is_dir():
        pytest.skip(f"../shared/einvoice is absent ({EINVOICE_DIR}): e-invoices are not validated here")
    sys.path.insert(0, str(EINVOICE_DIR))
    try:
        from validate import Validator  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EINVOICE_DIR))
    return Validator()


def assert_accepted(validator: Any, xml: bytes) -> None:
    result = validator.validate(xml)
    assert result.accepted, "\n".join(str(m) for m in result.messages)
