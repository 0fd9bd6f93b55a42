"""A customer billed in USD subscribing to a EUR price, through the API on moto with the ECB's
rates fetched from a local ECB (conftest): the invoice is in USD at the rate pinned at
finalization with the FX policy's markup, keeps its EUR source amounts, states its VAT in EUR
too, and never changes again, whatever happens to rates, policies and overrides afterwards;
without a rate, finalizing is a 422 and the billing cycle leaves the draft for a later run."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from billow.api.container import container
from tests.integration.tax.conftest import address, assert_accepted, customer, download
from tests.integration.test_api_conventions import assert_problem
from tests.support.api_client import ApiClient
from tests.support.subscriptions import advance, events_of, invoices_of

PAIR = {"base_currency": "EUR", "quote_currency": "USD"}


def eur_price(api: ApiClient, amount: str = "100.00") -> dict[str, Any]:
    product = api.post("/v1/products", {"name": "Platform", "type": "recurring"})
    assert product.status == 201, product.body
    price = api.post(
        "/v1/prices", {"product_id": product.data["id"], "currency": "EUR", "model": "flat", "amount": amount}
    )
    assert price.status == 201, price.body
    return dict(price.data)


def usd_customer(api: ApiClient, clock: str) -> str:
    return customer(api, clock, currency="USD", billing_address=address("DE", "Hamburg", "20095"))


def subscribe(api: ApiClient, clock: str, customer_id: str, price: dict[str, Any]) -> dict[str, Any]:
    body = {"customer_id": customer_id, "items": [{"price_id": price["id"]}], "test_clock_id": clock}
    created = api.post("/v1/subscriptions", body)
    assert created.status == 201, created.body
    return dict(created.data)


def money(document: dict[str, Any], *fields: str) -> dict[str, str]:
    return {name: document[name]["amount"] for name in fields}


AMOUNTS = ("subtotal", "tax_total", "total", "amount_due")


def test_a_usd_customer_on_a_eur_price_is_invoiced_in_usd_at_the_pinned_rate_for_ever(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    container().fx.refresh_reference_rates()  # 8 to 10 July 2026
    policy = api.post(
        "/v1/fx/policies",
        {"name": "EUR prices", "markup_percent": "2", "applies_to": {"currency_pairs": [PAIR]}},
    )
    assert policy.status == 201, policy.body
    buyer = usd_customer(api, clock)

    sub = subscribe(api, clock, buyer, eur_price(api))

    assert sub["currency"] == "EUR"  # the subscription keeps its prices' currency
    [first] = invoices_of(api, sub["id"])
    assert first["number"] is not None
    assert first["status"] != "draft"
    assert (first["currency"], first["source_currency"]) == ("USD", "EUR")
    [line] = first["lines"]
    # 100.00 EUR x 1.1725 (ECB, Friday 10 July 2026) x 1.02 = 119.595 -> 119.60 USD
    assert line["source_amount"] == {"amount": "100.00", "currency": "EUR"}
    assert line["amount"] == {"amount": "119.60", "currency": "USD"}
    # German VAT on the converted net: 19 % of 119.60 = 22.724 -> 22.72
    assert money(first, *AMOUNTS) == {
        "subtotal": "119.60",
        "tax_total": "22.72",
        "total": "142.32",
        "amount_due": "142.32",
    }
    assert first["fx"] == {
        "base_currency": "EUR",
        "quote_currency": "USD",
        "rate": "1.19595",
        "source": "ecb",
        "date": "2026-07-10",
        "reference_rate": "1.1725",
        "markup_percent": "2",
        "policy_id": policy.data["id"],
        "override_id": None,
        # The seller is German: the VAT is stated in EUR too, at the reference rate (no markup).
        "tax_currency": "EUR",
        "tax_rate": "0.8528784648",
        "tax_rate_date": "2026-07-10",
        "tax_rate_source": "ecb",
        "tax_total_in_tax_currency": "19.38",
    }
    pdf = api.get(f"/v1/invoices/{first['id']}/pdf")
    assert pdf.status == 200, pdf.body
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(download(pdf.data))).pages)
    assert "142.32" in text
    assert "119.60" in text

    # Everything that could move a rate moves: a higher markup, an override of the very day,
    # a later publication. The invoice, its events and its documents stay as they were.
    assert api.patch(f"/v1/fx/policies/{policy.data['id']}", {"markup_percent": "5"}).status == 200
    override = api.post("/v1/fx/overrides", {**PAIR, "rate": "1.5", "valid_from": "2026-07-01"})
    assert override.status == 201, override.body
    container().fx.refresh_reference_rates()

    again = api.get(f"/v1/invoices/{first['id']}")
    assert again.status == 200
    assert {k: again.data[k] for k in ("lines", "fx", *AMOUNTS)} == {
        k: first[k] for k in ("lines", "fx", *AMOUNTS)
    }
    finalized = [e["data"]["object"] for e in events_of(first["id"]) if e["type"] == "invoice.finalized"]
    assert [money(e, *AMOUNTS) for e in finalized] == [money(first, *AMOUNTS)]
    assert [(e["fx"], e["lines"]) for e in finalized] == [(first["fx"], first["lines"])]
    rerendered = api.get(f"/v1/invoices/{first['id']}/pdf")
    assert rerendered.status == 200
    assert rerendered.data["sha256"] == pdf.data["sha256"]

    # A credit note credits in the invoice's currency.
    note = api.post(
        "/v1/credit-notes", {"invoice_id": first["id"], "reason": "order_change", "amount": "11.90"}
    )
    assert note.status == 201, note.body
    assert note.data["currency"] == "USD"
    assert note.data["total"] == {"amount": "11.90", "currency": "USD"}

    # The next invoice, previewed, is in USD too (at today's override, a provisional rate).
    upcoming = api.get(f"/v1/subscriptions/{sub['id']}/upcoming-invoice")
    assert upcoming.status == 200, upcoming.body
    assert (upcoming.data["currency"], upcoming.data["source_currency"]) == ("USD", "EUR")
    assert upcoming.data["lines"][0]["source_amount"] == {"amount": "100.00", "currency": "EUR"}


def test_a_converted_invoice_is_an_xrechnung_the_official_rules_accept(
    api: ApiClient, seller: dict[str, Any], clock: str, einvoice_validator: Any
) -> None:
    container().fx.refresh_reference_rates()
    # A day's grace to give the draft the buyer reference an XRechnung needs (BT-10).
    assert api.patch("/v1/settings", {"invoice_grace_period_days": 1}).status == 200
    sub = subscribe(api, clock, usd_customer(api, clock), eur_price(api, "33.33"))
    [drafted] = invoices_of(api, sub["id"])
    assert api.patch(f"/v1/invoices/{drafted['id']}", {"buyer_reference": "PO-4711"}).status == 200
    done = api.post(f"/v1/invoices/{drafted['id']}/finalize", idempotency_key=None).data
    # 33.33 x 1.1725 = 39.079425 -> 39.08 USD (built-in policy: no markup)
    assert done["lines"][0]["amount"] == {"amount": "39.08", "currency": "USD"}

    for syntax in ("ubl", "cii"):
        found = api.get(f"/v1/invoices/{done['id']}/e-invoice", query={"syntax": syntax})
        assert found.status == 200, found.body
        xml = download(found.data)
        assert_accepted(einvoice_validator, xml)
        assert b"USD" in xml
        assert done["total"]["amount"].encode() in xml


def test_without_a_rate_for_the_day_finalizing_is_a_422_and_the_cycle_waits_for_one(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    container().fx.refresh_reference_rates()  # the newest publication is Friday 10 July
    # The draft waits ten days: by 20 July the newest rates are too old to be used.
    assert api.patch("/v1/settings", {"invoice_grace_period_days": 10}).status == 200
    buyer = usd_customer(api, clock)

    sub = subscribe(api, clock, buyer, eur_price(api))

    [drafted] = invoices_of(api, sub["id"])
    assert (drafted["status"], drafted["currency"], drafted["fx"]) == ("draft", "USD", None)
    # Provisionally at 10 July's rate, built-in policy (no markup): 117.25 USD.
    assert drafted["lines"][0]["amount"] == {"amount": "117.25", "currency": "USD"}

    # The billing cycle's finalization at the end of the grace period finds no rate: the
    # invoice stays a draft, nothing is numbered, and the clock still reaches its target.
    advance(api, clock, "2026-07-21T10:00:00Z")
    [waiting] = invoices_of(api, sub["id"])
    assert (waiting["status"], waiting["number"], waiting["version"]) == ("draft", None, drafted["version"])

    refused = api.post(f"/v1/invoices/{drafted['id']}/finalize", idempotency_key=None)
    assert_problem(refused, 422, "fx_rate_unavailable")
    assert "2026-07-21" in refused.json()["detail"]
    assert api.get(f"/v1/invoices/{drafted['id']}").data["status"] == "draft"

    # A rate arrives (here: an agreed rate for the pair); the next run finalizes the draft at
    # its own time, 20 July, with that rate as it is (an override takes no markup).
    override = api.post("/v1/fx/overrides", {**PAIR, "rate": "1.2", "valid_from": "2026-07-15"})
    assert override.status == 201, override.body
    advance(api, clock, "2026-07-22T10:00:00Z")

    [done] = invoices_of(api, sub["id"])
    assert done["number"] is not None
    assert done["status"] != "draft"
    assert done["lines"][0]["amount"] == {"amount": "120.00", "currency": "USD"}
    assert done["lines"][0]["source_amount"] == {"amount": "100.00", "currency": "EUR"}
    assert done["fx"]["source"] == "override"
    assert done["fx"]["override_id"] == override.data["id"]
    assert (done["fx"]["rate"], done["fx"]["date"]) == ("1.2", "2026-07-20")
    assert money(done, "subtotal", "tax_total", "total") == {
        "subtotal": "120.00",
        "tax_total": "22.80",
        "total": "142.80",
    }


def test_a_customer_in_a_currency_without_any_rate_is_refused_before_anything_is_written(
    api: ApiClient, clock: str
) -> None:
    # No rates fetched at all: EUR prices cannot be billed in USD.
    buyer = usd_customer(api, clock)
    price = eur_price(api)

    refused = api.post(
        "/v1/subscriptions",
        {"customer_id": buyer, "items": [{"price_id": price["id"]}], "test_clock_id": clock},
    )

    assert_problem(refused, 422, "fx_rate_unavailable")
    listed = api.get("/v1/subscriptions", query={"customer_id": buyer})
    assert listed.status == 200
    assert listed.data == []
