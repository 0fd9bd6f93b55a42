"""/v1/invoices end to end through the API handler on moto: one-off drafts and their lines,
finalization (number, due date, pinned tax and FX, credit balance), void and uncollectible,
gap-free numbering under concurrency, number formats in /v1/settings, and refused requests
that must leave the invoice exactly as it was."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from billow.api.container import container
from billow.services import billing_cycle
from tests.integration.conftest import new_tenant_client
from tests.integration.invoicing.conftest import (
    NOW,
    TODAY,
    action,
    all_invoices,
    assert_refused,
    balance,
    create_draft,
    credit_transactions,
    finalize,
    finalized,
    get_invoice,
    line,
    money,
)
from tests.support.api_client import ApiClient
from tests.support.subscriptions import Catalog, advance, events_of, new_customer, subscribe

# A tenant without a tax profile charges no tax: outside the scope of VAT (docs/tax.md).
ZERO_RATE = {"category": "O", "rate": "0", "exemption_reason": "Not subject to VAT"}
OUTSIDE_SCOPE_GROUP = {
    **ZERO_RATE,
    "exemption_reason_code": "VATEX-EU-O",
    "tax_type": "vat",
    "jurisdiction": None,
    "compound": False,
    "name": "Not subject to VAT",
}
SAME_CURRENCY_FX = {
    "base_currency": "EUR",
    "quote_currency": "EUR",
    "rate": "1",
    "source": "same_currency",
    "date": TODAY,
}


def event_types(invoice_id: str) -> list[str]:
    return [e["type"] for e in events_of(invoice_id)]


# --- one-off drafts -----------------------------------------------------------------------------


def test_a_one_off_draft_totals_its_lines_to_the_cent(api: ApiClient, customer: str) -> None:
    response = api.post(
        "/v1/invoices",
        {
            "customer_id": customer,
            "lines": [
                line("Widget", "19.99", "3"),
                # Half-up, once per line: 0.125 is 0.13 (banker's rounding would give 0.12).
                line("Sample", "0.125"),
                line("Hours", "1.10", "2.5"),
            ],
            "memo": "Thanks",
            "metadata": {"order": "A-1"},
        },
    )
    assert response.status == 201, response.body
    assert response.header("ETag") == '"1"'
    invoice = response.data
    assert response.header("Location") == f"/v1/invoices/{invoice['id']}"
    assert [(x["quantity"], x["unit_amount"], x["amount"]) for x in invoice["lines"]] == [
        ("3", "19.99", money("59.97")),
        ("1", "0.125", money("0.13")),
        ("2.5", "1.10", money("2.75")),
    ]
    assert all(x["kind"] == "one_off" and x["manual"] for x in invoice["lines"])
    assert all(x["tax_rate"] == ZERO_RATE and x["tax"] == money("0.00") for x in invoice["lines"])
    assert invoice["subtotal"] == money("62.85")
    assert invoice["tax_total"] == money("0.00")
    assert invoice["total"] == money("62.85")
    assert invoice["amount_due"] == money("62.85")
    assert invoice["amount_remaining"] == money("62.85")
    assert invoice["tax_breakdown"] == [
        {**OUTSIDE_SCOPE_GROUP, "taxable_amount": money("62.85"), "amount": money("0.00")}
    ]
    assert (invoice["status"], invoice["type"], invoice["billing_reason"]) == ("draft", "one_off", "manual")
    assert invoice["number"] is None
    assert invoice["due_date"] is None
    assert invoice["fx"] is None
    assert (invoice["livemode"], invoice["currency"], invoice["version"]) == (False, "EUR", 1)
    assert (invoice["memo"], invoice["metadata"]) == ("Thanks", {"order": "A-1"})
    assert invoice["created_at"] == NOW  # the customer's test clock, not the wall clock
    assert get_invoice(api, invoice["id"]) == invoice
    assert event_types(invoice["id"]) == ["invoice.created"]
    listed = all_invoices(api, customer_id=customer, status="draft", type="one_off")
    assert [i["id"] for i in listed] == [invoice["id"]]


def test_lines_of_a_draft_can_be_added_changed_and_removed(api: ApiClient, customer: str) -> None:
    draft = create_draft(api, customer, line("Widget", "19.99", "3"))
    iid, first = draft["id"], draft["lines"][0]["id"]

    added = api.post(f"/v1/invoices/{iid}/lines", line("Setup", "100.00"))
    assert added.status == 200, added.body
    assert added.header("ETag") == '"2"'
    invoice = added.data
    assert [x["amount"]["amount"] for x in invoice["lines"]] == ["59.97", "100.00"]
    assert invoice["total"] == money("159.97")
    second = invoice["lines"][1]["id"]

    patched = api.patch(f"/v1/invoices/{iid}/lines/{first}", {"quantity": "2"})
    assert patched.status == 200, patched.body
    invoice = patched.data
    assert invoice["version"] == 3
    assert [(x["id"], x["description"], x["amount"]["amount"]) for x in invoice["lines"]] == [
        (first, "Widget", "39.98"),
        (second, "Setup", "100.00"),
    ]
    assert invoice["total"] == money("139.98")
    assert invoice["tax_breakdown"][0]["taxable_amount"] == money("139.98")

    patched = api.patch(
        f"/v1/invoices/{iid}/lines/{second}",
        {"unit_amount": "-20.00", "reason": "Goodwill", "description": "Off"},
    )
    assert patched.status == 200, patched.body
    changed = patched.data["lines"][1]
    assert (changed["id"], changed["description"], changed["unit_amount"], changed["quantity"]) == (
        second,
        "Off",
        "-20.00",
        "1",
    )
    assert (changed["amount"], changed["reason"]) == (money("-20.00"), "Goodwill")
    assert patched.data["total"] == money("19.98")

    removed = api.request("DELETE", f"/v1/invoices/{iid}/lines/{second}")
    assert removed.status == 200, removed.body
    invoice = removed.data
    assert [x["id"] for x in invoice["lines"]] == [first]
    assert (invoice["total"], invoice["version"]) == (money("39.98"), 5)
    assert get_invoice(api, iid) == invoice
    assert event_types(iid) == ["invoice.created"] + ["invoice.updated"] * 4


def test_patching_a_draft_changes_its_fields(api: ApiClient, customer: str) -> None:
    draft = create_draft(api, customer, line("Widget", "10.00"), metadata={"a": "1", "b": "2"})
    response = api.patch(
        f"/v1/invoices/{draft['id']}",
        {
            "memo": "Net 30",
            "buyer_reference": "PO-77",
            "payment_terms_days": 30,
            "collection_method": "charge_automatically",
            "metadata": {"a": "", "c": "3"},  # "" removes a key
        },
        headers={"If-Match": '"1"'},
    )
    assert response.status == 200, response.body
    invoice = response.data
    assert (invoice["memo"], invoice["buyer_reference"]) == ("Net 30", "PO-77")
    assert (invoice["payment_terms_days"], invoice["collection_method"]) == (30, "charge_automatically")
    assert invoice["metadata"] == {"b": "2", "c": "3"}
    assert invoice["version"] == 2
    assert response.header("ETag") == '"2"'
    # The same values again change nothing: no new version, no event.
    again = api.patch(f"/v1/invoices/{draft['id']}", {"memo": "Net 30", "payment_terms_days": 30})
    assert again.status == 200
    assert again.data["version"] == 2
    assert event_types(draft["id"]) == ["invoice.created", "invoice.updated"]
    # Null clears a nullable field.
    cleared = api.patch(f"/v1/invoices/{draft['id']}", {"memo": None})
    assert (cleared.status, cleared.data["memo"], cleared.data["version"]) == (200, None, 3)


def test_finalizing_numbers_the_invoice_pins_tax_and_fx_and_sets_the_due_date(
    api: ApiClient, customer: str
) -> None:
    draft = create_draft(api, customer, line("Widget", "19.99", "3"), payment_terms_days=14)
    response = finalize(api, draft["id"], headers={"If-Match": '"1"'})
    assert response.status == 200, response.body
    invoice = response.data
    assert invoice["status"] == "finalized"
    assert invoice["number"] == "INV-2026-000001"
    assert invoice["finalized_at"] == NOW
    assert invoice["due_date"] == "2026-03-29"  # 2026-03-15 + 14 days
    assert invoice["fx"] == SAME_CURRENCY_FX
    assert invoice["tax_breakdown"] == [
        {**OUTSIDE_SCOPE_GROUP, "taxable_amount": money("59.97"), "amount": money("0.00")}
    ]
    assert invoice["lines"][0]["tax_rate"] == ZERO_RATE
    assert (invoice["total"], invoice["amount_due"], invoice["amount_remaining"]) == (money("59.97"),) * 3
    assert invoice["credit_applied"] == money("0.00")
    assert invoice["paid_at"] is None
    assert invoice["version"] > draft["version"]
    assert response.header("ETag") == f'"{invoice["version"]}"'
    assert get_invoice(api, draft["id"]) == invoice

    events = events_of(draft["id"])
    assert [e["type"] for e in events] == ["invoice.created", "invoice.finalized"]
    assert [e["aggregate"]["sequence"] for e in events] == [1, 2]
    finalized_event = events[1]["data"]["object"]
    assert (finalized_event["status"], finalized_event["number"]) == ("finalized", "INV-2026-000001")
    assert finalized_event["due_date"] == "2026-03-29"

    # The next invoice takes the next number; the tenant's default terms (0 days) apply.
    second = finalized(api, customer, line("More", "1.00"))
    assert (second["number"], second["due_date"]) == ("INV-2026-000002", TODAY)
    assert [i["number"] for i in all_invoices(api, status="finalized")] == [
        "INV-2026-000002",
        "INV-2026-000001",
    ]


def test_an_invoice_with_nothing_to_collect_is_paid_when_finalized(api: ApiClient, customer: str) -> None:
    invoice = finalized(api, customer, line("Free sample", "0.00"))
    assert invoice["status"] == "paid"
    assert invoice["paid_at"] == NOW
    assert invoice["number"] == "INV-2026-000001"
    assert (invoice["amount_due"], invoice["amount_remaining"]) == (money("0.00"), money("0.00"))
    assert event_types(invoice["id"]) == ["invoice.created", "invoice.finalized", "invoice.paid"]
    assert_refused(action(api, invoice["id"], "void"), 409, "invalid_state_transition")


def test_refresh_keeps_a_current_draft_and_refuses_a_finalized_invoice(api: ApiClient, customer: str) -> None:
    draft = create_draft(api, customer, line("Widget", "10.00"))
    refreshed = action(api, draft["id"], "refresh")
    assert refreshed.status == 200, refreshed.body
    assert refreshed.data == draft  # nothing to recompute: no new version
    invoice = finalized(api, customer, line("Widget", "10.00"))
    assert_refused(action(api, invoice["id"], "refresh"), 409, "invalid_state_transition")
    assert get_invoice(api, invoice["id"]) == invoice


def test_an_auto_advancing_draft_is_finalized_by_the_clock_after_the_grace_period(
    api: ApiClient, clock: str, customer: str
) -> None:
    assert api.patch("/v1/settings", {"invoice_grace_period_days": 2}).status == 200
    draft = create_draft(api, customer, line("Widget", "10.00"), auto_advance=True)
    assert draft["finalize_at"] == "2026-03-17T09:00:00Z"
    advance(api, clock, "2026-03-16T09:00:00Z")
    assert get_invoice(api, draft["id"])["status"] == "draft"
    advance(api, clock, "2026-03-18T00:00:00Z")
    invoice = get_invoice(api, draft["id"])
    assert (invoice["status"], invoice["number"]) == ("finalized", "INV-2026-000001")
    assert (invoice["finalized_at"], invoice["due_date"], invoice["finalize_at"]) == (
        "2026-03-17T09:00:00Z",
        "2026-03-17",
        None,
    )
    # A draft without auto_advance waits for an explicit finalize.
    manual = create_draft(api, customer, line("Widget", "10.00"))
    advance(api, clock, "2026-04-30T00:00:00Z")
    assert get_invoice(api, manual["id"])["status"] == "draft"


def test_an_empty_auto_advancing_draft_does_not_hold_the_clock(
    api: ApiClient, clock: str, customer: str
) -> None:
    draft = create_draft(api, customer, auto_advance=True)
    advance(api, clock, "2026-03-20T00:00:00Z")  # asserts the clock is ready again
    assert get_invoice(api, draft["id"])["status"] == "draft"


def test_a_subscription_line_of_a_draft_can_be_renamed_but_not_repriced(
    api: ApiClient, clock: str, customer: str
) -> None:
    assert api.patch("/v1/settings", {"invoice_grace_period_days": 3}).status == 200
    seat = Catalog(api)["seat"]
    sub = subscribe(api, clock, seat, customer_id=customer, items=[{"price_id": seat["id"], "quantity": "4"}])
    [draft] = all_invoices(api, subscription_id=sub["id"])
    assert (draft["status"], draft["total"]["amount"]) == ("draft", "40.00")
    produced = draft["lines"][0]
    path = f"/v1/invoices/{draft['id']}/lines/{produced['id']}"
    before = get_invoice(api, draft["id"])

    repriced = api.patch(path, {"unit_amount": "1.00"})

    assert_refused(repriced, 409, "invalid_state_transition")
    assert get_invoice(api, draft["id"]) == before
    renamed = api.patch(path, {"description": "Seats (4)"})
    assert renamed.status == 200, renamed.body
    line_after = renamed.data["lines"][0]
    assert (line_after["description"], line_after["amount"]) == ("Seats (4)", produced["amount"])
    assert line_after["tier_breakdown"] == produced["tier_breakdown"]


def test_void_and_mark_uncollectible(api: ApiClient, customer: str) -> None:
    draft = create_draft(api, customer, line("Widget", "10.00"))
    voided = action(api, draft["id"], "void")
    assert voided.status == 200, voided.body
    assert (voided.data["status"], voided.data["number"], voided.data["voided_at"]) == ("void", None, NOW)

    invoice = finalized(api, customer, line("Widget", "10.00"))
    response = action(
        api, invoice["id"], "mark_uncollectible", headers={"If-Match": f'"{invoice["version"]}"'}
    )
    assert response.status == 200, response.body
    assert (response.data["status"], response.data["marked_uncollectible_at"]) == ("uncollectible", NOW)
    assert response.data["version"] == invoice["version"] + 1
    assert event_types(invoice["id"])[-1] == "invoice.marked_uncollectible"
    # An uncollectible invoice may still be voided; it keeps its number.
    response = action(api, invoice["id"], "void")
    assert response.status == 200, response.body
    assert (response.data["status"], response.data["number"]) == ("void", "INV-2026-000001")
    assert event_types(invoice["id"])[-1] == "invoice.voided"


# --- refused requests leave the invoice as it was -------------------------------------------------


@pytest.fixture
def open_invoice(api: ApiClient, customer: str) -> dict[str, Any]:
    """A finalized, unpaid one-off invoice of 59.97 EUR."""
    invoice = finalized(api, customer, line("Widget", "19.99", "3"), metadata={"k": "v"})
    assert invoice["status"] == "finalized"
    return invoice


def test_a_finalized_invoice_refuses_line_edits(api: ApiClient, open_invoice: dict[str, Any]) -> None:
    iid, line_id = open_invoice["id"], open_invoice["lines"][0]["id"]
    for response in (
        api.post(f"/v1/invoices/{iid}/lines", line("More", "1.00")),
        api.patch(f"/v1/invoices/{iid}/lines/{line_id}", {"quantity": "1"}),
        api.request("DELETE", f"/v1/invoices/{iid}/lines/{line_id}"),
    ):
        assert_refused(response, 409, "invalid_state_transition")
    assert get_invoice(api, iid) == open_invoice


def test_a_finalized_invoice_changes_only_its_metadata(api: ApiClient, open_invoice: dict[str, Any]) -> None:
    iid = open_invoice["id"]
    for body in (
        {"memo": "changed"},
        {"payment_terms_days": 30},
        {"collection_method": "charge_automatically"},
        {"auto_advance": True},
        {"metadata": {"k": "w"}, "buyer_reference": "PO-1"},  # metadata does not carry the rest
    ):
        assert_refused(api.patch(f"/v1/invoices/{iid}", body), 409, "invalid_state_transition")
    assert get_invoice(api, iid) == open_invoice

    # Metadata alone, or with fields sent unchanged, is fine.
    response = api.patch(f"/v1/invoices/{iid}", {"metadata": {"k": "w", "x": "y"}, "auto_advance": False})
    assert response.status == 200, response.body
    after = response.data
    assert after["metadata"] == {"k": "w", "x": "y"}
    assert after["version"] == open_invoice["version"] + 1
    unchanged = {k: v for k, v in open_invoice.items() if k not in ("metadata", "version", "updated_at")}
    assert {k: v for k, v in after.items() if k in unchanged} == unchanged
    assert event_types(iid)[-1] == "invoice.updated"


def test_finalize_at_stays_empty_on_a_finalized_invoice_whose_metadata_changes(
    api: ApiClient, customer: str
) -> None:
    invoice = finalized(api, customer, line("Widget", "10.00"), auto_advance=True)
    assert (invoice["auto_advance"], invoice["finalize_at"]) == (True, None)
    response = api.patch(f"/v1/invoices/{invoice['id']}", {"metadata": {"a": "b"}, "auto_advance": True})
    assert response.status == 200, response.body
    assert response.data["finalize_at"] is None
    assert response.data["status"] == "finalized"


def test_state_rules_of_finalize_void_and_mark_uncollectible(
    api: ApiClient, customer: str, open_invoice: dict[str, Any]
) -> None:
    iid = open_invoice["id"]
    assert_refused(finalize(api, iid), 409, "invalid_state_transition")  # finalizing twice
    assert get_invoice(api, iid) == open_invoice

    draft = create_draft(api, customer, line("Widget", "10.00"))
    assert_refused(action(api, draft["id"], "mark_uncollectible"), 409, "invalid_state_transition")
    assert get_invoice(api, draft["id"]) == draft

    paid = finalized(api, customer, line("Free", "0.00"))
    assert paid["status"] == "paid"
    for verb in ("void", "mark_uncollectible"):
        assert_refused(action(api, paid["id"], verb), 409, "invalid_state_transition")
    assert get_invoice(api, paid["id"]) == paid

    voided = action(api, iid, "void").data
    for verb in ("void", "mark_uncollectible", "finalize"):
        assert_refused(action(api, iid, verb), 409, "invalid_state_transition")
    assert get_invoice(api, iid) == voided
    # Refused transitions emit nothing.
    assert event_types(iid) == ["invoice.created", "invoice.finalized", "invoice.voided"]


def test_a_line_that_takes_money_off_needs_a_reason(api: ApiClient, customer: str) -> None:
    draft = create_draft(api, customer, line("Widget", "10.00"))
    response = api.post(f"/v1/invoices/{draft['id']}/lines", line("Discount", "-5.00"))
    assert_refused(response, 422, "validation_failed", "/reason")
    response = api.post(f"/v1/invoices/{draft['id']}/lines", line("Discount", "-5.00", reason="   "))
    assert_refused(response, 422, "validation_failed", "/reason")
    response = api.patch(f"/v1/invoices/{draft['id']}/lines/{draft['lines'][0]['id']}", {"unit_amount": "-1"})
    assert_refused(response, 422, "validation_failed", "/reason")
    assert get_invoice(api, draft["id"]) == draft
    response = api.post("/v1/invoices", {"customer_id": customer, "lines": [line("Discount", "-5.00")]})
    assert_refused(response, 422, "validation_failed", "/lines/0/reason")
    assert all_invoices(api) == [draft]


@pytest.mark.parametrize(
    ("bad", "pointer"),
    [
        ({"unit_amount": 19.99}, "/unit_amount"),  # a JSON number, not a decimal string
        ({"unit_amount": 20}, "/unit_amount"),
        ({"unit_amount": "1e3"}, "/unit_amount"),
        ({"unit_amount": "12.5.0"}, "/unit_amount"),
        ({"unit_amount": "0.0000000000001"}, "/unit_amount"),  # 13 decimals; at most 12
        ({"quantity": "0"}, "/quantity"),
        ({"quantity": "-1"}, "/quantity"),
        ({"quantity": 2}, "/quantity"),
        ({"description": "   "}, "/description"),
    ],
)
def test_bad_lines_are_refused(api: ApiClient, customer: str, bad: dict[str, Any], pointer: str) -> None:
    draft = create_draft(api, customer, line("Widget", "10.00"))
    body = {**line("Widget", "1.00"), **bad}
    assert_refused(api.post(f"/v1/invoices/{draft['id']}/lines", body), 422, "validation_failed", pointer)
    patch = api.patch(f"/v1/invoices/{draft['id']}/lines/{draft['lines'][0]['id']}", bad)
    assert_refused(patch, 422, "validation_failed", pointer)
    assert get_invoice(api, draft["id"]) == draft
    created = api.post("/v1/invoices", {"customer_id": customer, "lines": [body]})
    assert_refused(created, 422, "validation_failed", f"/lines/0{pointer}")
    assert all_invoices(api) == [draft]


def test_an_invoice_for_an_unknown_or_mismatched_customer_is_refused(
    api: ApiClient, other_api: ApiClient, customer: str
) -> None:
    for body, pointer in (
        ({"customer_id": "01a1fd2e-0000-7000-8000-000000000000"}, "/customer_id"),
        ({"customer_id": new_customer(other_api, currency="EUR")}, "/customer_id"),  # another tenant's
        ({"customer_id": customer, "currency": "USD"}, "/currency"),  # billed in EUR
        ({"customer_id": new_customer(api), "lines": [line("Widget", "1.00")]}, "/currency"),  # no currency
    ):
        assert_refused(api.post("/v1/invoices", body), 422, "validation_failed", pointer)
    assert all_invoices(api) == []
    disabled = new_customer(api, currency="EUR")
    assert api.post(f"/v1/customers/{disabled}/disable", idempotency_key=None).status == 200
    assert_refused(
        api.post("/v1/invoices", {"customer_id": disabled}), 422, "validation_failed", "/customer_id"
    )
    assert all_invoices(api) == []


def test_creating_an_invoice_or_a_line_needs_an_idempotency_key(api: ApiClient, customer: str) -> None:
    body = {"customer_id": customer, "lines": [line("Widget", "10.00")]}
    assert_refused(api.post("/v1/invoices", body, idempotency_key=None), 400, "idempotency_key_required")
    assert all_invoices(api) == []
    first = api.post("/v1/invoices", body, idempotency_key="inv-1")
    replay = api.post("/v1/invoices", body, idempotency_key="inv-1")
    assert (first.status, replay.status) == (201, 201)
    assert replay.header("Idempotent-Replayed") == "true"
    assert replay.data == first.data
    assert len(all_invoices(api)) == 1
    added = api.post(f"/v1/invoices/{first.data['id']}/lines", line("More", "1.00"), idempotency_key=None)
    assert_refused(added, 400, "idempotency_key_required")
    assert get_invoice(api, first.data["id"]) == first.data


def test_another_tenants_invoice_is_not_found(
    api: ApiClient, other_api: ApiClient, open_invoice: dict[str, Any], customer: str
) -> None:
    iid, line_id = open_invoice["id"], open_invoice["lines"][0]["id"]
    draft = create_draft(api, customer, line("Widget", "10.00"))
    for response in (
        other_api.get(f"/v1/invoices/{iid}"),
        other_api.patch(f"/v1/invoices/{iid}", {"metadata": {"x": "y"}}),
        other_api.patch(f"/v1/invoices/{draft['id']}", {"memo": "mine"}),
        other_api.post(f"/v1/invoices/{draft['id']}/lines", line("More", "1.00")),
        other_api.patch(f"/v1/invoices/{draft['id']}/lines/{draft['lines'][0]['id']}", {"quantity": "2"}),
        other_api.request("DELETE", f"/v1/invoices/{draft['id']}/lines/{draft['lines'][0]['id']}"),
        action(other_api, draft["id"], "finalize"),
        action(other_api, iid, "void"),
        action(other_api, iid, "mark_uncollectible"),
        other_api.get(f"/v1/customers/{customer}/credit-balance"),
        api.patch(f"/v1/invoices/{draft['id']}/lines/{line_id}", {"quantity": "2"}),  # not this draft's line
        api.request("DELETE", f"/v1/invoices/{draft['id']}/lines/nope"),
    ):
        assert_refused(response, 404, "not_found")
    assert other_api.get("/v1/invoices").data == []
    assert get_invoice(api, iid) == open_invoice
    assert get_invoice(api, draft["id"]) == draft


def test_a_stale_if_match_is_412_and_changes_nothing(
    api: ApiClient, customer: str, open_invoice: dict[str, Any]
) -> None:
    draft = create_draft(api, customer, line("Widget", "10.00"))
    assert api.patch(f"/v1/invoices/{draft['id']}", {"memo": "v2"}).status == 200
    draft = get_invoice(api, draft["id"])
    stale = {"If-Match": '"1"'}
    line_id = draft["lines"][0]["id"]
    for response in (
        api.patch(f"/v1/invoices/{draft['id']}", {"memo": "v3"}, headers=stale),
        api.post(f"/v1/invoices/{draft['id']}/lines", line("More", "1.00"), headers=stale),
        api.patch(f"/v1/invoices/{draft['id']}/lines/{line_id}", {"quantity": "2"}, headers=stale),
        api.request("DELETE", f"/v1/invoices/{draft['id']}/lines/{line_id}", headers=stale),
        action(api, draft["id"], "refresh", headers=stale),
        finalize(api, draft["id"], headers=stale),
        action(api, draft["id"], "void", headers=stale),
    ):
        assert_refused(response, 412, "precondition_failed")
    assert get_invoice(api, draft["id"]) == draft
    stale = {"If-Match": f'"{open_invoice["version"] - 1}"'}
    for response in (
        api.patch(f"/v1/invoices/{open_invoice['id']}", {"metadata": {"a": "b"}}, headers=stale),
        action(api, open_invoice["id"], "void", headers=stale),
        action(api, open_invoice["id"], "mark_uncollectible", headers=stale),
    ):
        assert_refused(response, 412, "precondition_failed")
    assert get_invoice(api, open_invoice["id"]) == open_invoice
    assert all_invoices(api, status="finalized") == [open_invoice]


def test_a_draft_without_lines_cannot_be_finalized(api: ApiClient, customer: str) -> None:
    draft = create_draft(api, customer)
    assert (draft["lines"], draft["total"]) == ([], money("0.00"))
    assert_refused(finalize(api, draft["id"]), 422, "validation_failed", "/lines")
    assert get_invoice(api, draft["id"]) == draft
    # Nor one whose lines were all removed; and the refusal used up no number.
    other = create_draft(api, customer, line("Widget", "10.00"))
    emptied = api.request("DELETE", f"/v1/invoices/{other['id']}/lines/{other['lines'][0]['id']}").data
    assert_refused(finalize(api, other["id"]), 422, "validation_failed", "/lines")
    assert get_invoice(api, other["id"]) == emptied
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "INV-2026-000001"


# --- numbering ----------------------------------------------------------------------------------


def test_concurrent_finalizations_take_every_number_exactly_once(api: ApiClient, customer: str) -> None:
    drafts = [create_draft(api, customer, line(f"Item {i}", "1.00"))["id"] for i in range(50)]
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda iid: finalize(api, iid), drafts))
    assert [r.status for r in responses] == [200] * 50, [r.body for r in responses if r.status != 200]
    numbers = [r.data["number"] for r in responses]
    assert sorted(numbers) == [f"INV-2026-{n:06d}" for n in range(1, 51)]
    stored = {i["id"]: i["number"] for i in all_invoices(api, status="finalized")}
    assert stored == {r.data["id"]: r.data["number"] for r in responses}
    assert finalized(api, customer, line("Next", "1.00"))["number"] == "INV-2026-000051"


def test_racing_finalizations_of_one_draft_number_it_once(api: ApiClient, customer: str) -> None:
    draft = create_draft(api, customer, line("Widget", "10.00"))
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: finalize(api, draft["id"]), range(6)))
    assert sorted(r.status for r in responses) == [200] + [409] * 5
    assert {r.code for r in responses if r.status == 409} == {"invalid_state_transition"}
    assert get_invoice(api, draft["id"])["number"] == "INV-2026-000001"
    assert event_types(draft["id"]).count("invoice.finalized") == 1
    assert finalized(api, customer, line("Next", "1.00"))["number"] == "INV-2026-000002"


def test_a_voided_invoice_keeps_its_number(api: ApiClient, customer: str) -> None:
    first = finalized(api, customer, line("Widget", "10.00"))
    voided = action(api, first["id"], "void")
    assert voided.status == 200, voided.body
    assert (voided.data["status"], voided.data["number"]) == ("void", "INV-2026-000001")
    # Voiding a draft uses up no number either.
    draft = create_draft(api, customer, line("Widget", "10.00"))
    assert action(api, draft["id"], "void").data["number"] is None
    assert finalized(api, customer, line("Widget", "10.00"))["number"] == "INV-2026-000002"
    assert get_invoice(api, first["id"])["number"] == "INV-2026-000001"


def test_a_custom_number_format_applies_to_the_next_invoice(api: ApiClient, customer: str) -> None:
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "INV-2026-000001"
    response = api.patch("/v1/settings", {"invoice_number_format": "ACME/{YY}/{SEQ}"})
    assert response.status == 200, response.body
    assert response.data["invoice_number_format"] == "ACME/{YY}/{SEQ}"
    assert response.data["credit_note_number_format"] == "CN-{YYYY}-{SEQ:06}"
    assert api.get("/v1/settings").data == response.data
    # The sequence does not restart with a new format.
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "ACME/26/2"
    assert api.patch("/v1/settings", {"invoice_number_format": "{YYYY}{MM}{DD}-{SEQ:04}"}).status == 200
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "20260315-0003"


@pytest.mark.parametrize(
    "fmt",
    [
        "INV-{YYYY}",  # no {SEQ}
        "{SEQ}-{SEQ:04}",  # two
        "INV-{SEQ}-{FOO}",  # unknown token
        "INV {SEQ}",  # a space
        "INV-{SEQ}?",
        "INV-{seq}",
        "INV-{SEQ:4}",  # the width needs its leading zero: {SEQ:04}
        "INV-{SEQ:00}",
        "INV-{SEQ:013}",
        "{YYYY:04}-{SEQ}",
        "A" * 37 + "{SEQ}",  # 42 characters; at most 40
    ],
)
def test_invalid_number_formats_are_refused(api: ApiClient, fmt: str) -> None:
    before = api.get("/v1/settings").data
    for field in ("invoice_number_format", "credit_note_number_format"):
        assert_refused(api.patch("/v1/settings", {field: fmt}), 422, "validation_failed", f"/{field}")
    assert api.get("/v1/settings").data == before


def test_settings_refuse_an_unknown_timezone_or_currency(api: ApiClient, customer: str) -> None:
    before = api.get("/v1/settings").data
    assert_refused(
        api.patch("/v1/settings", {"timezone": "Mars/Olympus"}), 422, "validation_failed", "/timezone"
    )
    xyz = api.patch("/v1/settings", {"default_currency": "XYZ"})
    assert_refused(xyz, 422, "validation_failed", "/default_currency")
    assert_refused(api.patch("/v1/settings", {"payment_terms_days": -1}), 422, "validation_failed")
    assert_refused(api.patch("/v1/settings", {"invoice_number_format": None}), 422, "validation_failed")
    assert_refused(api.patch("/v1/settings", {"memo": "x"}), 422, "validation_failed")
    assert api.get("/v1/settings").data == before
    # Finalizing (which needs the tenant's timezone) still works.
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "INV-2026-000001"
    ok = api.patch(
        "/v1/settings", {"timezone": "Europe/Berlin"}, headers={"If-Match": f'"{before["version"]}"'}
    )
    assert (ok.status, ok.data["timezone"], ok.data["version"]) == (
        200,
        "Europe/Berlin",
        before["version"] + 1,
    )
    stale = api.patch(
        "/v1/settings", {"payment_terms_days": 7}, headers={"If-Match": f'"{before["version"]}"'}
    )
    assert_refused(stale, 412, "precondition_failed")


def test_payment_terms_from_settings_set_the_due_date(api: ApiClient, customer: str) -> None:
    assert api.patch("/v1/settings", {"payment_terms_days": 30}).status == 200
    invoice = finalized(api, customer, line("Widget", "1.00"))
    assert (invoice["payment_terms_days"], invoice["due_date"]) == (30, "2026-04-14")
    # An invoice's own terms win, 0 included.
    invoice = finalized(api, customer, line("Widget", "1.00"), payment_terms_days=0)
    assert invoice["due_date"] == TODAY


def test_sandbox_and_live_keys_have_their_own_sequences(
    api: ApiClient, api_handler: Any, customer: str
) -> None:
    tenant_id = api.get("/v1/settings").data["tenant_id"]
    live = ApiClient(api_handler, container().tenancy.issue_api_key(tenant_id, livemode=True).secret)
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "INV-2026-000001"
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "INV-2026-000002"
    live_customer = new_customer(live, currency="EUR")
    first = finalized(live, live_customer, line("Widget", "1.00"))
    year = first["finalized_at"][:4]  # live mode has no test clocks: the wall clock's year
    assert (first["livemode"], first["number"]) == (True, f"INV-{year}-000001")
    assert finalized(live, live_customer, line("Widget", "1.00"))["number"] == f"INV-{year}-000002"
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "INV-2026-000003"
    # Neither mode sees the other's invoices.
    assert {i["livemode"] for i in all_invoices(live)} == {True}
    assert len(all_invoices(api)) == 3
    assert_refused(live.get(f"/v1/invoices/{all_invoices(api)[0]['id']}"), 404, "not_found")
    assert_refused(api.get(f"/v1/invoices/{first['id']}"), 404, "not_found")
    # Another tenant starts at 1 as well.
    other = new_tenant_client(api_handler, "Tenant C")
    assert finalized(other, new_customer(other, currency="EUR"), line("W", "1.00"))["number"].endswith(
        "-000001"
    )


def test_subscription_and_one_off_invoices_share_the_sequence(
    api: ApiClient, catalog: Catalog, clock: str, customer: str
) -> None:
    sub = subscribe(api, clock, catalog["fee10"], customer_id=customer)
    [invoice] = all_invoices(api, subscription_id=sub["id"])
    assert (invoice["number"], invoice["status"], invoice["type"]) == (
        "INV-2026-000001",
        "finalized",
        "subscription",
    )
    assert finalized(api, customer, line("Setup", "99.00"))["number"] == "INV-2026-000002"
    # A subscription invoice's lines are as immutable as any other once finalized.
    response = api.post(f"/v1/invoices/{invoice['id']}/lines", line("More", "1.00"))
    assert_refused(response, 409, "invalid_state_transition")
    assert get_invoice(api, invoice["id"]) == invoice


def test_a_run_past_its_round_limit_goes_on_where_it_stopped(
    api: ApiClient, catalog: Catalog, clock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process runs keep the state machine's round limit and carry on past it (the state
    machine continues in a new execution: tests/integration/test_billing_cycle_state_machine.py)."""
    subs = [subscribe(api, clock, catalog["fee10"]) for _ in range(3)]
    monkeypatch.setattr(billing_cycle, "ROUND_SIZE", 1)
    monkeypatch.setattr(billing_cycle, "ROUNDS_PER_EXECUTION", 1)
    advance(api, clock, "2026-05-20T00:00:00Z")  # two renewals each: six rounds at least
    numbers = sorted(i["number"] for sub in subs for i in all_invoices(api, subscription_id=sub["id"]))
    assert numbers == [f"INV-2026-{n:06}" for n in range(1, 10)]


# --- credit balance -------------------------------------------------------------------------------


def test_a_negative_invoice_credits_the_balance_which_the_next_finalize_applies(
    api: ApiClient, customer: str
) -> None:
    credit = finalized(api, customer, line("Goodwill", "-25.00", reason="Outage in March"))
    assert credit["status"] == "paid"  # nothing to collect
    assert (credit["total"], credit["amount_due"], credit["credited_to_balance"]) == (
        money("-25.00"),
        money("0.00"),
        money("25.00"),
    )
    assert balance(api, customer) == Decimal("25.00")

    invoice = finalized(api, customer, line("Widget", "19.99", "3"))
    assert invoice["status"] == "finalized"
    assert invoice["total"] == money("59.97")
    assert invoice["credit_applied"] == money("25.00")
    assert (invoice["amount_due"], invoice["amount_remaining"]) == (money("34.97"), money("34.97"))
    assert balance(api, customer) == Decimal(0)
    assert credit_transactions(api, customer) == [
        ("-25.00", "applied_to_invoice", invoice["id"]),
        ("25.00", "invoice_credit", credit["id"]),
    ]

    # Voiding the invoice gives the credit back; it stays numbered.
    voided = action(api, invoice["id"], "void")
    assert voided.status == 200, voided.body
    assert (voided.data["status"], voided.data["number"]) == ("void", invoice["number"])
    assert balance(api, customer) == Decimal("25.00")
    assert credit_transactions(api, customer)[0] == ("25.00", "invoice_voided", invoice["id"])


def test_a_balance_that_covers_the_invoice_pays_it_at_finalize(api: ApiClient, customer: str) -> None:
    finalized(api, customer, line("Goodwill", "-100.00", reason="Refund of setup"))
    invoice = finalized(api, customer, line("Widget", "19.99", "3"))
    assert invoice["status"] == "paid"
    assert invoice["paid_at"] == NOW
    assert invoice["credit_applied"] == money("59.97")
    assert (invoice["amount_due"], invoice["amount_remaining"]) == (money("0.00"), money("0.00"))
    assert balance(api, customer) == Decimal("40.03")
    assert event_types(invoice["id"]) == ["invoice.created", "invoice.finalized", "invoice.paid"]
    # A paid invoice cannot be voided, so the applied credit stays spent.
    assert_refused(action(api, invoice["id"], "void"), 409, "invalid_state_transition")
    assert balance(api, customer) == Decimal("40.03")


def test_the_balance_is_per_customer_and_currency(api: ApiClient, customer: str) -> None:
    finalized(api, customer, line("Goodwill", "-10.00", reason="Goodwill"))
    other = new_customer(api, currency="EUR")
    invoice = finalized(api, other, line("Widget", "10.00"))
    assert invoice["credit_applied"] == money("0.00")
    assert invoice["amount_due"] == money("10.00")
    assert (balance(api, customer), balance(api, other)) == (Decimal("10.00"), Decimal(0))
    # Drafts never touch the balance.
    create_draft(api, customer, line("Widget", "5.00"))
    assert balance(api, customer) == Decimal("10.00")
