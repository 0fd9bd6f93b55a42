"""Invoice and credit-note documents through the API: links to PDFs and XRechnung UBL and CII
kept in S3, every kind of invoice the project produces accepted by the official rules, the
422 naming missing business terms (and storing nothing), drafts, tenants, ZUGFeRD, branding."""

from __future__ import annotations

import base64
import io
from typing import Any

import boto3
import pytest
from pypdf import PdfReader

from billow.api.container import container
from tests.integration.tax.conftest import (
    FR_BUSINESS_VAT,
    address,
    assert_accepted,
    customer,
    download,
    invoice,
)
from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient
from tests.support.aws import ENV


def link(api: ApiClient, path: str, **query: str) -> dict[str, Any]:
    response = api.get(path, query=query or None)
    assert response.status == 200, response.body
    return dict(response.data)


def stored_keys() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=ENV["BILLOW_DOCUMENTS_BUCKET"])
    return [item["Key"] for item in listed.get("Contents", [])]


def cases(api: ApiClient, clock: str) -> dict[str, dict[str, Any]]:
    """One finalized invoice of each kind a German seller issues."""
    fr_business = customer(
        api,
        clock,
        type="company",
        billing_address=address("FR"),
        tax_ids=[{"type": "eu_vat", "value": FR_BUSINESS_VAT}],
    )
    fr_consumer = customer(api, clock, type="individual", billing_address=address("FR"))
    us = customer(api, clock, billing_address=address("US", "Austin", "73301", state="TX"))
    domestic = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    usd = customer(api, clock, currency="USD", billing_address=address("DE", "Hamburg", "20095"))
    books = api.post("/v1/products", {"name": "Handbook", "type": "one_time", "tax_category": "reduced"}).data
    container().fx.refresh_reference_rates()
    discount = {
        "description": "Loyalty discount",
        "quantity": "1",
        "unit_amount": "-10.00",
        "reason": "loyalty",
    }
    return {
        "reverse_charge": invoice(api, fr_business, ("Platform", "1", "100.00"), ("Seats", "3", "20.00")),
        "destination_vat": invoice(api, fr_consumer, ("Platform", "1", "49.99")),
        "export": invoice(api, us, ("Platform", "1", "100.00")),
        "several_rates_and_a_discount": invoice(
            api,
            domestic,
            ("Platform", "1", "100.00"),
            lines_extra=[
                {
                    "description": "Handbook",
                    "quantity": "2",
                    "unit_amount": "15.00",
                    "product_id": books["id"],
                },
                discount,
            ],
        ),
        "usd_with_vat_in_eur": invoice(api, usd, ("Platform", "1", "117.25"), currency="USD"),
    }


def test_every_kind_of_invoice_is_an_xrechnung_the_official_rules_accept(
    api: ApiClient, seller: dict[str, Any], clock: str, einvoice_validator: Any
) -> None:
    for name, done in cases(api, clock).items():
        for syntax in ("ubl", "cii"):
            found = link(api, f"/v1/invoices/{done['id']}/e-invoice", syntax=syntax)
            xml = download(found)
            assert found["file_name"] == f"{done['number']}-{syntax}.xml", name
            assert found["size"] == len(xml)
            assert found["content_type"] == "application/xml"
            assert_accepted(einvoice_validator, xml)
            assert done["number"].encode() in xml, name
            assert done["total"]["amount"].encode() in xml, name


def test_a_credit_note_is_an_xrechnung_credit_note_and_a_pdf(
    api: ApiClient, seller: dict[str, Any], clock: str, einvoice_validator: Any
) -> None:
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    done = invoice(api, buyer, ("Platform", "1", "100.00"), ("Seats", "2", "10.00"))
    note = api.post(
        "/v1/credit-notes", {"invoice_id": done["id"], "reason": "order_change", "amount": "23.80"}
    )
    assert note.status == 201, note.body

    for syntax in ("ubl", "cii"):
        xml = download(link(api, f"/v1/credit-notes/{note.data['id']}/e-invoice", syntax=syntax))
        assert_accepted(einvoice_validator, xml)
        assert done["number"].encode() in xml  # the invoice it corrects (BT-25)
    pdf = download(link(api, f"/v1/credit-notes/{note.data['id']}/pdf"))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert note.data["number"] in text
    assert done["number"] in text


def test_the_pdf_states_the_invoice_and_is_rendered_once(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    buyer = customer(
        api, clock, type="individual", billing_address=address("FR"), locale="fr-FR", name="Camille Martin"
    )
    done = invoice(api, buyer, ("Abonnement plateforme", "1", "49.99"))
    before = len(stored_keys())

    first = link(api, f"/v1/invoices/{done['id']}/pdf")
    again = link(api, f"/v1/invoices/{done['id']}/pdf")

    pdf = download(first)
    assert pdf.startswith(b"%PDF")
    assert first["file_name"] == f"{done['number']}.pdf"
    assert first["sha256"] == again["sha256"]
    assert len(stored_keys()) == before + 1
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert done["number"] in text
    assert "Camille Martin" in text
    assert "59,99" in text  # 49.99 + 20 % French VAT, written the French way


def test_missing_business_terms_are_a_422_naming_them_and_nothing_is_stored(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    done = invoice(api, buyer, ("Platform", "1", "100.00"), buyer_reference=None)
    before = stored_keys()

    response = api.get(f"/v1/invoices/{done['id']}/e-invoice", query={"syntax": "cii"})

    assert_problem(response, 422, "einvoice_incomplete")
    pointers = [e["pointer"] for e in response.json()["errors"]]
    assert "/business_terms/BT-10" in pointers
    assert stored_keys() == before


def test_a_seller_without_a_vat_id_or_contact_gets_the_missing_terms(api: ApiClient, clock: str) -> None:
    bare = {
        "legal_name": "Kleiner Laden",
        "address": {"line1": "Dorfstr. 1", "city": "Kiel", "postal_code": "24103", "country": "DE"},
        "tax_regime": "small_business",
    }
    assert api.put("/v1/tax/profile", bare).status in (200, 201)
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    done = invoice(api, buyer, ("Platform", "1", "100.00"))

    response = api.get(f"/v1/invoices/{done['id']}/e-invoice")

    assert_problem(response, 422, "einvoice_incomplete")
    pointers = sorted(e["pointer"] for e in response.json()["errors"])
    # The seller's VAT ID, its e-invoice address and its contact (name, phone, e-mail).
    assert pointers == [f"/business_terms/{term}" for term in ("BT-31", "BT-34", "BT-41", "BT-42", "BT-43")]
    assert "BT-31" in response.json()["detail"]


def test_no_tax_profile_no_document(api: ApiClient, clock: str) -> None:
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    done = invoice(api, buyer, ("Platform", "1", "100.00"))

    for path in (f"/v1/invoices/{done['id']}/pdf", f"/v1/invoices/{done['id']}/e-invoice"):
        response = api.get(path)
        assert_problem(response, 422, "einvoice_incomplete")
        assert "tax profile" in response.json()["detail"]


def test_a_draft_has_a_preview_pdf_but_no_e_invoice(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    draft = api.post(
        "/v1/invoices", {"customer_id": buyer, "lines": [{"description": "Platform", "unit_amount": "10.00"}]}
    ).data

    found = link(api, f"/v1/invoices/{draft['id']}/pdf")
    preview = download(found)
    refused = api.get(f"/v1/invoices/{draft['id']}/e-invoice")

    assert "/previews/" in found["url"]  # kept a day (the bucket's lifecycle rule)
    assert "DRAFT" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(preview)).pages)
    assert_problem(refused, 409, "invalid_state_transition")


def test_another_tenant_cannot_reach_the_documents(
    api: ApiClient, other_api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    done = invoice(api, buyer, ("Platform", "1", "100.00"))

    for path in (
        f"/v1/invoices/{done['id']}/pdf",
        f"/v1/invoices/{done['id']}/e-invoice",
        "/v1/credit-notes/x/pdf",
    ):
        assert_problem(other_api.get(path), 404, "not_found")


def test_zugferd_embeds_the_cii_in_a_pdf_a_3b_and_branding_shows(
    api: ApiClient, seller: dict[str, Any], clock: str, einvoice_validator: Any
) -> None:
    from PIL import Image

    logo = io.BytesIO()
    Image.new("RGB", (120, 40), (37, 99, 235)).save(logo, format="PNG")
    settings = {
        "embed_einvoice_in_pdf": True,
        "branding": {
            "primary_color": "#0F766E",
            "footer_text": "Wolkig Software GmbH · Geschäftsführerin Erika Muster",
            "logo_png": base64.b64encode(logo.getvalue()).decode(),
        },
    }
    assert api.patch("/v1/settings", settings).status == 200
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    done = invoice(api, buyer, ("Platform", "1", "100.00"))

    pdf = PdfReader(io.BytesIO(download(link(api, f"/v1/invoices/{done['id']}/pdf"))))

    attachments = pdf.attachments
    assert list(attachments) == ["factur-x.xml"]
    assert_accepted(einvoice_validator, attachments["factur-x.xml"][0])
    assert b"pdfaid" in pdf.xmp_metadata.stream.get_data() if pdf.xmp_metadata else False
    assert any(page.images for page in pdf.pages)
    assert "Erika Muster" in pdf.pages[0].extract_text()


def test_a_logo_that_is_not_a_png_is_refused(api: ApiClient) -> None:
    response = api.patch("/v1/settings", {"branding": {"logo_png": base64.b64encode(b"GIF89a....").decode()}})

    assert_problem(response, 422, "validation_failed")
    assert response.json()["errors"][0]["pointer"] == "/branding/logo_png"


@pytest.mark.parametrize("syntax", ["xml", "UBL", ""])
def test_an_unknown_syntax_is_a_problem(
    api: ApiClient, seller: dict[str, Any], clock: str, syntax: str
) -> None:
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    done = invoice(api, buyer, ("Platform", "1", "100.00"))

    assert api.get(f"/v1/invoices/{done['id']}/e-invoice", query={"syntax": syntax}).status == 422
