"""The tax and documents issue's "done when", on the running local stack over HTTP: a German
seller invoices a French business (reverse charge, its VAT ID confirmed by the local VIES), a
French consumer (French VAT), a US customer (export) and a German customer (German VAT); each
invoice is downloaded through its presigned link as a branded PDF and as XRechnung UBL and
CII, and the official rules accept both XML files."""

from __future__ import annotations

import io
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.e2e.conftest import Http, RunningStack

EINVOICE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "einvoice"
SELLER = {
    "legal_name": "Wolkig Software GmbH",
    "address": {"line1": "Friedrichstr. 12", "city": "Berlin", "postal_code": "10117", "country": "DE"},
    "vat_id": "DE136695976",
    "contact": {"name": "Erika Muster", "email": "billing@wolkig.test", "phone": "+49 30 1234567"},
    "electronic_address": "invoices@wolkig.test",
    "payment_details": {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
}
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    # customer fields, expected category, expected tax on 100.00
    "french_business": (
        {
            "type": "company",
            "billing_address": {
                "line1": "1 rue de la Paix",
                "city": "Paris",
                "postal_code": "75002",
                "country": "FR",
            },
            "tax_ids": [{"type": "eu_vat", "value": "FR40303265045"}],
        },
        "AE",
        "0.00",
    ),
    "french_consumer": (
        {
            "type": "individual",
            "billing_address": {
                "line1": "1 rue de la Paix",
                "city": "Paris",
                "postal_code": "75002",
                "country": "FR",
            },
        },
        "S",
        "20.00",
    ),
    "us_customer": (
        {
            "billing_address": {
                "line1": "1 Main St",
                "city": "Austin",
                "postal_code": "73301",
                "country": "US",
            }
        },
        "G",
        "0.00",
    ),
    "german_customer": (
        {
            "billing_address": {
                "line1": "Hafenstr. 1",
                "city": "Hamburg",
                "postal_code": "20095",
                "country": "DE",
            }
        },
        "S",
        "19.00",
    ),
}


@pytest.fixture(scope="module")
def validator() -> Any:
    if not EINVOICE_DIR.is_dir():
        pytest.skip(f"../shared/einvoice is absent ({EINVOICE_DIR}): e-invoices are not validated here")
    sys.path.insert(0, str(EINVOICE_DIR))
    try:
        from validate import Validator  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EINVOICE_DIR))
    return Validator()


@pytest.fixture
def http(stack: RunningStack) -> Http:
    tenant = stack.cli("tenants", "create", "--name", f"Documents {uuid.uuid4().hex[:6]}")
    return stack.client(stack.cli("api-keys", "create", "--tenant", tenant["id"])["secret"])


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - a presigned URL of the local S3
        body: bytes = response.read()
        return body


def test_documents_are_rendered_by_the_documents_function(http: Http, stack: RunningStack) -> None:
    """The local API asks DocumentsFunction through Lambda's Invoke, as in AWS; its refusal
    (an invoice XRechnung cannot describe) comes back as the same problem."""
    assert http.request("PUT", "/v1/tax/profile", SELLER).status in (200, 201)
    customer = http.post_data("/v1/customers", {"name": "No reference GmbH", "currency": "EUR"})
    draft = http.post_data(
        "/v1/invoices",
        {"customer_id": customer["id"], "lines": [{"description": "Platform", "unit_amount": "10.00"}]},
    )
    invoice = http.post_data(f"/v1/invoices/{draft['id']}/finalize", None, status=200)

    refused = http.request("GET", f"/v1/invoices/{invoice['id']}/e-invoice")
    pdf = http.get_data(f"/v1/invoices/{invoice['id']}/pdf")

    assert refused.status == 422, refused.body
    assert refused.code == "einvoice_incomplete"
    assert "/business_terms/BT-10" in {e["pointer"] for e in refused.json()["errors"]}
    assert fetch(pdf["url"]).startswith(b"%PDF")
    assert "DocumentsFunction" in stack.state()["env"].get("BILLOW_DOCUMENTS_FUNCTION", "")


def test_a_branded_pdf_and_xrechnung_ubl_and_cii_of_each_case(http: Http, validator: Any) -> None:
    assert http.request("PUT", "/v1/tax/profile", SELLER).status in (200, 201)
    branding = {"primary_color": "#0F766E", "footer_text": "Wolkig Software GmbH, Berlin"}
    assert http.request("PATCH", "/v1/settings", {"branding": branding}).status == 200

    for name, (fields, category, tax) in CASES.items():
        customer = http.post_data(
            "/v1/customers", {"name": name, "currency": "EUR", "email": "ap@x.test", **fields}
        )
        draft = http.post_data(
            "/v1/invoices",
            {
                "customer_id": customer["id"],
                "lines": [{"description": "Platform, November", "unit_amount": "100.00"}],
                "collection_method": "send_invoice",
                "payment_terms_days": 14,
                "buyer_reference": "04011000-12345-03",
            },
        )
        invoice = http.post_data(f"/v1/invoices/{draft['id']}/finalize", None, status=200)
        assert [(g["category"], g["amount"]["amount"]) for g in invoice["tax_breakdown"]] == [
            (category, tax)
        ], name

        pdf_link = http.get_data(f"/v1/invoices/{invoice['id']}/pdf")
        pdf = PdfReader(io.BytesIO(fetch(pdf_link["url"])))
        text = "".join(page.extract_text() for page in pdf.pages)
        assert invoice["number"] in text, name
        assert "Wolkig Software GmbH, Berlin" in text, name
        for syntax in ("ubl", "cii"):
            xml_link = http.get_data(f"/v1/invoices/{invoice['id']}/e-invoice?syntax={syntax}")
            result = validator.validate(fetch(xml_link["url"]))
            assert result.accepted, (name, syntax, [str(m) for m in result.messages])
