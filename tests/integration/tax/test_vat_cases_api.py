"""The VAT of a German seller's invoices through the API, each case finalized and pinned:
a French business with a VAT ID VIES confirms (reverse charge), a French consumer (French VAT),
a US customer (export), a domestic sale, a rate change in the middle of the month, a
tax-included price, compound taxes, VIES down, and a VAT ID VIES rejects."""

from __future__ import annotations

from typing import Any

from billow.api.container import container
from tests.integration.tax.conftest import (
    FR_BUSINESS_VAT,
    address,
    customer,
    groups,
    invoice,
)
from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient
from tests.support.subscriptions import advance
from tests.support.vies_server import ViesServer

REVERSE_NOTE = "Reverse charge"


def test_a_french_business_with_a_confirmed_vat_id_is_reverse_charged(
    api: ApiClient, seller: dict[str, Any], clock: str, vies: ViesServer
) -> None:
    buyer = customer(
        api,
        clock,
        type="company",
        billing_address=address("FR"),
        tax_ids=[{"type": "eu_vat", "value": FR_BUSINESS_VAT}],
    )

    done = invoice(api, buyer, ("Platform, July", "1", "100.00"), ("Seats", "3", "20.00"))

    assert groups(done) == [("AE", "0", "160.00", "0.00")]
    assert done["tax_breakdown"][0]["exemption_reason_code"] == "VATEX-EU-AE"
    assert (done["tax_total"]["amount"], done["total"]["amount"]) == ("0.00", "160.00")
    assert any(note.startswith(REVERSE_NOTE) for note in done["tax_notes"])
    assert any(r.get("countryCode") == "FR" for r in vies.requests)


def test_a_french_consumer_pays_french_vat(api: ApiClient, seller: dict[str, Any], clock: str) -> None:
    buyer = customer(api, clock, type="individual", billing_address=address("FR"))

    done = invoice(api, buyer, ("Platform, July", "1", "100.00"), ("Seats", "3", "19.99"))

    assert groups(done) == [("S", "20", "159.97", "31.99")]
    assert done["tax_breakdown"][0]["jurisdiction"] == "FR"
    assert done["total"]["amount"] == "191.96"
    assert done["tax_notes"] == []


def test_a_us_customer_is_an_export(api: ApiClient, seller: dict[str, Any], clock: str) -> None:
    buyer = customer(api, clock, billing_address=address("US", "San Francisco", "94105", state="CA"))

    done = invoice(api, buyer, ("Platform, July", "1", "100.00"))

    assert groups(done) == [("G", "0", "100.00", "0.00")]
    assert done["tax_breakdown"][0]["exemption_reason"] == "Export outside the EU"


def test_a_german_business_pays_german_vat_and_a_reduced_product_its_rate(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    books = api.post("/v1/products", {"name": "Handbook", "type": "one_time", "tax_category": "reduced"})
    assert books.status == 201, books.body
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    body = {
        "customer_id": buyer,
        "lines": [
            {"description": "Platform", "quantity": "1", "unit_amount": "100.00"},
            {
                "description": "Handbook",
                "quantity": "2",
                "unit_amount": "15.00",
                "product_id": books.data["id"],
            },
        ],
    }
    created = api.post("/v1/invoices", body)
    assert created.status == 201, created.body
    done = api.post(f"/v1/invoices/{created.data['id']}/finalize", idempotency_key=None).data

    assert groups(done) == [("S", "7", "30.00", "2.10"), ("S", "19", "100.00", "19.00")]
    assert done["total"]["amount"] == "151.10"


def test_a_rate_change_in_the_middle_of_the_month_applies_from_its_day(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    rule = {
        "jurisdiction": {"country": "DE"},
        "tax_type": "vat",
        "rate": "19",
        "effective_from": "2026-01-01",
    }
    assert api.post("/v1/tax-rules", rule).status == 201
    cut = api.post("/v1/tax-rules", {**rule, "rate": "16", "effective_from": "2026-07-15"})
    assert cut.status == 201, cut.body
    buyer = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))

    before = invoice(api, buyer, ("Platform", "1", "100.00"))
    advance(api, clock, "2026-07-16T10:00:00Z")
    after = invoice(api, buyer, ("Platform", "1", "100.00"))

    assert groups(before) == [("S", "19", "100.00", "19.00")]
    assert groups(after) == [("S", "16", "100.00", "16.00")]
    # Pinned: the first invoice keeps 19 % after the change.
    assert groups(api.get(f"/v1/invoices/{before['id']}").data) == [("S", "19", "100.00", "19.00")]


def test_a_tax_included_price_is_split_into_net_and_vat(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    assert api.patch("/v1/tax/profile", {"prices_include_tax": True}).status == 200
    buyer = customer(api, clock, type="individual", billing_address=address("DE", "Hamburg", "20095"))

    done = invoice(api, buyer, ("Platform", "1", "119.00"), ("Extra", "1", "9.99"))

    # 128.99 gross at 19 %: 108.39 net + 20.59 VAT = 128.98, the nearest the rounding allows
    # without charging more than the price (docs/tax.md).
    assert groups(done)[0][:2] == ("S", "19")
    net, tax = groups(done)[0][2:]
    assert (net, tax) in (("108.39", "20.59"), ("108.40", "20.60"))
    assert done["lines"][0]["net_amount"]["amount"] == "100.00"
    assert done["total"]["amount"] in ("128.98", "128.99")


def test_compound_taxes_are_computed_on_the_net_and_the_taxes_before(api: ApiClient, clock: str) -> None:
    canadian = {
        "legal_name": "Nimbus Logiciels Inc.",
        "address": {
            "line1": "1 rue Sainte-Catherine",
            "city": "Montréal",
            "postal_code": "H2X 1Z4",
            "country": "CA",
        },
        "tax_number": "123456789RT0001",
        "contact": {"name": "Marie Tremblay", "email": "billing@nimbus.test", "phone": "+1 514 555 0100"},
    }
    assert api.put("/v1/tax/profile", canadian).status in (200, 201)
    gst = {
        "jurisdiction": "CA",
        "tax_type": "gst",
        "rate": "5",
        "effective_from": "2020-01-01",
        "apply_order": 1,
    }
    qst = {
        "jurisdiction": {"country": "CA", "region": "QC"},
        "tax_type": "vat",
        "rate": "9.975",
        "compound": True,
        "apply_order": 2,
        "effective_from": "2020-01-01",
        "name": "QST",
    }
    for rule in (gst, qst):
        created = api.post("/v1/tax-rules", rule)
        assert created.status == 201, created.body
    buyer = customer(
        api, clock, currency="CAD", billing_address=address("CA", "Québec", "G1R 4P5", state="QC")
    )

    done = invoice(api, buyer, ("Platform", "1", "100.00"), currency="CAD")

    amounts = sorted((g["rate"], g["amount"]["amount"]) for g in done["tax_breakdown"])
    assert amounts == [("5", "5.00"), ("9.975", "10.47")]
    assert done["total"]["amount"] == "115.47"


def test_vies_down_never_blocks_invoicing_the_invoice_charges_vat_and_says_why(
    api: ApiClient, seller: dict[str, Any], clock: str, vies: ViesServer
) -> None:
    vies.set_unavailable("FR")
    buyer = customer(
        api,
        clock,
        type="company",
        billing_address=address("FR"),
        tax_ids=[{"type": "eu_vat", "value": FR_BUSINESS_VAT}],
    )

    done = invoice(api, buyer, ("Platform", "1", "100.00"))

    assert groups(done) == [("S", "20", "100.00", "20.00")]
    assert any("could not be verified with VIES" in note for note in done["tax_notes"])


def test_a_vat_id_vies_rejects_is_refused_with_the_reason_and_nothing_is_stored(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    unknown = "FR83404833048"  # a well-formed French VAT ID that the local VIES does not know

    response = api.post(
        "/v1/customers", {"name": "Ghost SARL", "tax_ids": [{"type": "eu_vat", "value": unknown}]}
    )

    assert_problem(response, 422, "validation_failed")
    errors = response.json()["errors"]
    assert errors[0]["pointer"] == "/tax_ids/0/value"
    assert "VIES" in errors[0]["message"]
    assert api.get("/v1/customers").data == []


def test_a_malformed_vat_id_is_refused_by_format_before_vies(api: ApiClient, vies: ViesServer) -> None:
    asked = vies.request_count

    response = api.post("/v1/customers", {"name": "Typo", "tax_ids": [{"type": "eu_vat", "value": "FR123"}]})

    assert_problem(response, 422, "validation_failed")
    assert response.json()["errors"][0]["pointer"] == "/tax_ids/0/value"
    assert vies.request_count == asked


def test_validate_vat_id_reports_format_and_vies(api: ApiClient, vies: ViesServer) -> None:
    valid = api.post("/v1/tax/validate-vat-id", {"value": FR_BUSINESS_VAT}, idempotency_key=None)
    vies.set_unavailable("DE")
    down = api.post("/v1/tax/validate-vat-id", {"value": "DE 811 569 869"}, idempotency_key=None)
    bad = api.post("/v1/tax/validate-vat-id", {"value": "DE123"}, idempotency_key=None)

    assert valid.status == 200, valid.body
    assert (valid.data["vies"]["status"], valid.data["vies"]["name"]) == ("valid", "Nuage SAS")
    assert (down.data["value"], down.data["vies"]["status"]) == ("DE811569869", "unavailable")
    assert_problem(bad, 422, "validation_failed")


def test_an_invoice_in_usd_states_its_german_vat_also_in_eur(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    container().fx.refresh_reference_rates()
    buyer = customer(api, clock, currency="USD", billing_address=address("DE", "Hamburg", "20095"))

    done = invoice(api, buyer, ("Platform", "1", "117.25"), currency="USD")

    assert groups(done) == [("S", "19", "117.25", "22.28")]
    fx = done["fx"]
    # 1 EUR = 1.1725 USD on 10 July: 22.28 USD is 19.00 EUR.
    assert (fx["tax_currency"], fx["tax_rate_date"], fx["tax_total_in_tax_currency"]) == (
        "EUR",
        "2026-07-10",
        "19.00",
    )
