"""GET /v1/tax/exports through the API: a German seller's July on a test clock (a French
business reverse-charged, a French consumer at 20 %, a German customer at 19 % and 7 %, a US
customer exported to, a USD invoice stating its VAT in EUR, a credit note, a void invoice, and
an invoice finalized in August), as CSV and as JSON; bad periods; another tenant sees none of
it."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from billow.api.container import container
from billow.domain.tax_report import CSV_COLUMNS
from tests.integration.tax.conftest import FR_BUSINESS_VAT, address, customer, invoice
from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient, ApiResponse
from tests.support.subscriptions import advance

JULY = {"period_start": "2026-07-01", "period_end": "2026-07-31"}


def export(api: ApiClient, **query: str) -> ApiResponse:
    return api.get("/v1/tax/exports", query=query)


def csv_rows(response: ApiResponse) -> list[dict[str, str]]:
    assert response.status == 200, response.body
    reader = csv.DictReader(io.StringIO(response.body, newline=""))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def brief(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return [
        (
            r["currency"],
            r["jurisdiction"],
            r["category"],
            r["rate"],
            r["exemption_reason_code"],
            r["document_count"],
            r["taxable_amount"],
            r["tax_amount"],
            r["tax_currency"],
            r["tax_amount_in_tax_currency"],
        )
        for r in rows
    ]


JULY_ROWS = [
    ("EUR", "DE", "G", "0", "VATEX-EU-G", "1", "100.00", "0.00", "", ""),
    ("EUR", "DE", "S", "7", "", "1", "30.00", "2.10", "", ""),
    # 100.00 invoiced, 40.00 credited: 19.00 - 7.60.
    ("EUR", "DE", "S", "19", "", "2", "60.00", "11.40", "", ""),
    ("EUR", "FR", "AE", "0", "VATEX-EU-AE", "1", "160.00", "0.00", "", ""),
    ("EUR", "FR", "S", "20", "", "1", "159.97", "31.99", "", ""),
    # 22.28 USD is 19.00 EUR at the ECB rate of 10 July (1 EUR = 1.1725 USD).
    ("USD", "DE", "S", "19", "", "1", "117.25", "22.28", "EUR", "19.00"),
]


@pytest.fixture
def july(api: ApiClient, seller: dict[str, Any], clock: str) -> dict[str, Any]:
    """The July documents, and one invoice finalized on 3 August."""
    container().fx.refresh_reference_rates()
    french_business = customer(
        api,
        clock,
        type="company",
        billing_address=address("FR"),
        tax_ids=[{"type": "eu_vat", "value": FR_BUSINESS_VAT}],
    )
    french_consumer = customer(api, clock, type="individual", billing_address=address("FR"))
    german = customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))
    german_usd = customer(api, clock, currency="USD", billing_address=address("DE", "Hamburg", "20095"))
    american = customer(api, clock, billing_address=address("US", "San Francisco", "94105", state="CA"))
    books = api.post("/v1/products", {"name": "Handbook", "type": "one_time", "tax_category": "reduced"})
    assert books.status == 201, books.body

    invoice(api, french_business, ("Platform, July", "1", "100.00"), ("Seats", "3", "20.00"))
    invoice(api, french_consumer, ("Platform, July", "1", "100.00"), ("Seats", "3", "19.99"))
    domestic = invoice(
        api,
        german,
        ("Platform", "1", "100.00"),
        lines_extra=[
            {
                "description": "Handbook",
                "quantity": "2",
                "unit_amount": "15.00",
                "product_id": books.data["id"],
            }
        ],
    )
    invoice(api, american, ("Platform, July", "1", "100.00"))
    usd = invoice(api, german_usd, ("Platform", "1", "117.25"), currency="USD")
    assert usd["fx"]["tax_total_in_tax_currency"] == "19.00"
    voided = invoice(api, german, ("Mistake", "1", "500.00"))
    assert api.post(f"/v1/invoices/{voided['id']}/void", idempotency_key=None).status == 200
    platform = next(line for line in domestic["lines"] if line["description"] == "Platform")
    note = api.post(
        "/v1/credit-notes",
        {
            "invoice_id": domestic["id"],
            "reason": "order_change",
            "lines": [{"invoice_line_id": platform["id"], "amount": "40.00"}],
        },
    )
    assert note.status == 201, note.body

    advance(api, clock, "2026-08-03T09:00:00Z")
    august = invoice(api, german, ("Platform, August", "1", "200.00"))
    return {"august": august, "voided": voided, "note": note.data}


def test_the_csv_report_of_july_has_a_row_per_jurisdiction_and_rate(
    api: ApiClient, july: dict[str, Any]
) -> None:
    response = export(api, **JULY)

    assert response.header("content-type") == "text/csv; charset=utf-8"
    assert response.header("content-disposition") == (
        'attachment; filename="tax-report-2026-07-01-2026-07-31.csv"'
    )
    assert response.body.startswith(",".join(CSV_COLUMNS) + "\r\n")
    rows = csv_rows(response)
    assert brief(rows) == JULY_ROWS
    german19 = rows[2]
    assert (german19["invoice_count"], german19["credit_note_count"], german19["tax_type"]) == (
        "1",
        "1",
        "vat",
    )
    assert rows[3]["exemption_reason"] == "Reverse charge"
    # The lines as docs/tax.md shows them.
    for line in (
        "EUR,DE,vat,G,0,VATEX-EU-G,Export outside the EU,1,1,0,100.00,0.00,,",
        "EUR,DE,vat,S,19,,,2,1,1,60.00,11.40,,",
        "EUR,FR,vat,AE,0,VATEX-EU-AE,Reverse charge,1,1,0,160.00,0.00,,",
        "USD,DE,vat,S,19,,,1,1,0,117.25,22.28,EUR,19.00",
    ):
        assert f"\r\n{line}\r\n" in response.body


def test_the_json_report_has_the_same_rows_and_totals_by_currency(
    api: ApiClient, july: dict[str, Any]
) -> None:
    response = export(api, **JULY, format="json")

    assert response.status == 200, response.body
    report = response.data
    assert (report["object"], report["period_start"], report["period_end"]) == (
        "tax_report",
        "2026-07-01",
        "2026-07-31",
    )
    as_csv = csv_rows(export(api, **JULY))
    assert [{k: "" if v is None else str(v) for k, v in row.items()} for row in report["rows"]] == as_csv
    assert report["totals_by_currency"] == {
        "EUR": {
            "invoice_count": 4,
            "credit_note_count": 1,
            # 160.00 + 159.97 + 130.00 + 100.00 - 40.00
            "net_amount": "509.97",
            # 31.99 + 19.00 + 2.10 - 7.60
            "tax_amount": "45.49",
            "total": "555.46",
            "tax_amount_in_tax_currency": {},
        },
        "USD": {
            "invoice_count": 1,
            "credit_note_count": 0,
            "net_amount": "117.25",
            "tax_amount": "22.28",
            "total": "139.53",
            "tax_amount_in_tax_currency": {"EUR": "19.00"},
        },
    }


def test_a_currency_filter_and_another_period(api: ApiClient, july: dict[str, Any]) -> None:
    usd = csv_rows(export(api, **JULY, currency="USD"))
    august = csv_rows(export(api, period_start="2026-08-01", period_end="2026-08-31"))
    june = csv_rows(export(api, period_start="2026-06-01", period_end="2026-06-30"))
    summer = csv_rows(export(api, period_start="2026-07-01", period_end="2026-08-31", currency="EUR"))

    assert brief(usd) == JULY_ROWS[-1:]
    assert brief(august) == [("EUR", "DE", "S", "19", "", "1", "200.00", "38.00", "", "")]
    assert june == []
    german19 = next(r for r in summer if r["jurisdiction"] == "DE" and r["rate"] == "19")
    assert (german19["document_count"], german19["taxable_amount"], german19["tax_amount"]) == (
        "3",
        "260.00",
        "49.40",
    )


@pytest.mark.parametrize(
    ("query", "pointers"),
    [
        ({}, ["/period_start", "/period_end"]),
        ({"period_start": "2026-07-31", "period_end": "2026-07-01"}, ["/period_end"]),
        ({"period_start": "2026-01-01", "period_end": "2027-01-02"}, ["/period_end"]),
        ({"period_start": "2026-02-30", "period_end": "2026-03-31"}, ["/period_start"]),
        (
            {"period_start": "July", "period_end": "2026-07-31", "format": "xlsx"},
            ["/period_start", "/format"],
        ),
        ({**JULY, "currency": "EURO"}, ["/currency"]),
    ],
)
def test_bad_periods_are_a_validation_problem(
    api: ApiClient, query: dict[str, str], pointers: list[str]
) -> None:
    response = export(api, **query)

    assert_problem(response, 422, "validation_failed")
    assert [error["pointer"] for error in response.json()["errors"]] == pointers


def test_the_366_days_of_a_leap_year_are_allowed(api: ApiClient) -> None:
    response = export(api, period_start="2027-03-01", period_end="2028-02-29", format="json")

    assert response.status == 200, response.body
    assert response.data["rows"] == []


def test_another_tenant_sees_none_of_it(api: ApiClient, other_api: ApiClient, july: dict[str, Any]) -> None:
    csv_response = export(other_api, **JULY)
    json_response = export(other_api, **JULY, format="json")

    assert csv_rows(csv_response) == []
    assert csv_response.body == ",".join(CSV_COLUMNS) + "\r\n"
    assert json_response.data["rows"] == []
    assert json_response.data["totals_by_currency"] == {}


def test_without_a_key_it_is_unauthenticated(api: ApiClient) -> None:
    response = api.get("/v1/tax/exports", query=JULY, auth=False)

    assert_problem(response, 401, "unauthenticated")
