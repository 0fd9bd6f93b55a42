"""/v1/credit-notes end to end: crediting a finalized invoice by lines, by line amount or by a
gross amount, the three outcomes (credit to the balance, offset against what is owed, refund),
the limits (never more than the invoice's total, only finalized/paid/uncollectible invoices),
the credit-note sequence, previews, and refused requests that change nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.invoicing.conftest import (
    NOW,
    action,
    assert_refused,
    balance,
    create_draft,
    credit_transactions,
    finalized,
    get_invoice,
    line,
    money,
)
from tests.support.api_client import ApiClient, ApiResponse
from tests.support.subscriptions import events_of


@pytest.fixture
def invoice(api: ApiClient, customer: str) -> dict[str, Any]:
    """A finalized, unpaid invoice: 3 x 19.99 + 40.00 = 99.97 EUR (zero-rated)."""
    found = finalized(api, customer, line("Widget", "19.99", "3"), line("Setup", "40.00"))
    assert (found["status"], found["total"]) == ("finalized", money("99.97"))
    return found


def issue(api: ApiClient, invoice_id: str, **body: Any) -> ApiResponse:
    return api.post("/v1/credit-notes", {"invoice_id": invoice_id, "reason": "other", **body})


def issued(api: ApiClient, invoice_id: str, **body: Any) -> dict[str, Any]:
    response = issue(api, invoice_id, **body)
    assert response.status == 201, response.body
    assert response.header("Location") == f"/v1/credit-notes/{response.data['id']}"
    return dict(response.data)


def notes(api: ApiClient, **query: str) -> list[dict[str, Any]]:
    response = api.get("/v1/credit-notes", query={"limit": "100", **query})
    assert response.status == 200, response.body
    return list(response.data)


class Unchanged:
    """The invoice, its credit notes and its customer's balance, to check a refused request
    left all of them as they were."""

    def __init__(self, api: ApiClient, invoice: dict[str, Any]) -> None:
        self.api = api
        self.invoice = get_invoice(api, invoice["id"])
        self.notes = notes(api)
        self.balance = balance(api, invoice["customer_id"])

    def check(self) -> None:
        assert get_invoice(self.api, self.invoice["id"]) == self.invoice
        assert notes(self.api) == self.notes
        assert balance(self.api, self.invoice["customer_id"]) == self.balance


# --- issuing --------------------------------------------------------------------------------------


def test_a_full_credit_by_lines_offsets_the_invoice_and_pays_it(
    api: ApiClient, invoice: dict[str, Any]
) -> None:
    widget, setup = (x["id"] for x in invoice["lines"])
    note = issued(
        api,
        invoice["id"],
        reason="duplicate",
        lines=[{"invoice_line_id": widget}, {"invoice_line_id": setup}],
        memo="Billed twice",
        metadata={"ticket": "T-1"},
    )
    assert (note["number"], note["status"], note["outcome"]) == ("CN-2026-000001", "issued", "offset")
    assert (note["invoice_id"], note["invoice_number"]) == (invoice["id"], "INV-2026-000001")
    assert (note["customer_id"], note["currency"], note["reason"]) == (
        invoice["customer_id"],
        "EUR",
        "duplicate",
    )
    assert [(x["invoice_line_id"], x["description"], x["amount"]) for x in note["lines"]] == [
        (widget, "Widget", money("59.97")),
        (setup, "Setup", money("40.00")),
    ]
    assert all(x["tax_rate"]["category"] == "O" for x in note["lines"])  # no tax profile: no tax
    assert (note["subtotal"], note["tax_total"], note["total"]) == (
        money("99.97"),
        money("0.00"),
        money("99.97"),
    )
    assert note["tax_breakdown"] == [
        {
            "category": "O",
            "rate": "0",
            "taxable_amount": money("99.97"),
            "amount": money("0.00"),
            "exemption_reason": "Not subject to VAT",
            "exemption_reason_code": "VATEX-EU-O",
            "tax_type": "vat",
            "jurisdiction": None,
            "compound": False,
            "name": "Not subject to VAT",
        }
    ]
    assert (note["memo"], note["metadata"], note["created_at"]) == ("Billed twice", {"ticket": "T-1"}, NOW)
    assert "sequence" not in note
    assert api.get(f"/v1/credit-notes/{note['id']}").data == note

    after = get_invoice(api, invoice["id"])
    assert (after["status"], after["paid_at"]) == ("paid", NOW)
    assert after["amount_credited"] == money("99.97")
    assert after["amount_remaining"] == money("0.00")
    assert after["amount_due"] == money("99.97")  # what was owed; the credit note settled it
    assert after["version"] == invoice["version"] + 1
    assert balance(api, invoice["customer_id"]) == Decimal(0)  # an offset is not a balance
    assert [e["type"] for e in events_of(note["id"])] == ["credit_note.created"]
    assert [e["type"] for e in events_of(invoice["id"])][-1] == "invoice.paid"
    # Nothing is left to credit, and a credited invoice can no longer be voided.
    assert_refused(
        issue(api, invoice["id"], outcome="credit", amount="0.01"), 422, "validation_failed", "/amount"
    )
    assert_refused(action(api, invoice["id"], "void"), 409, "invalid_state_transition")


def test_a_partial_credit_by_line_amount_to_the_balance(api: ApiClient, invoice: dict[str, Any]) -> None:
    widget = invoice["lines"][0]["id"]
    note = issued(
        api, invoice["id"], outcome="credit", lines=[{"invoice_line_id": widget, "amount": "19.99"}]
    )
    assert (note["outcome"], note["total"]) == ("credit", money("19.99"))
    assert [x["amount"] for x in note["lines"]] == [money("19.99")]
    after = get_invoice(api, invoice["id"])
    # A credit to the balance leaves what is owed on the invoice as it was.
    assert after["status"] == "finalized"
    assert (after["amount_credited"], after["amount_remaining"]) == (money("19.99"), money("99.97"))
    assert balance(api, invoice["customer_id"]) == Decimal("19.99")
    assert credit_transactions(api, invoice["customer_id"]) == [("19.99", "credit_note", invoice["id"])]
    assert [e["type"] for e in events_of(invoice["id"])][-1] == "invoice.updated"

    # What is left of the line can still be credited, and no more.
    over = issue(api, invoice["id"], lines=[{"invoice_line_id": widget, "amount": "39.99"}])
    assert_refused(over, 422, "validation_failed", "/lines/0/amount")
    rest = issued(api, invoice["id"], outcome="credit", lines=[{"invoice_line_id": widget}])
    assert rest["total"] == money("39.98")
    assert balance(api, invoice["customer_id"]) == Decimal("59.97")
    assert_refused(issue(api, invoice["id"], lines=[{"invoice_line_id": widget}]), 422, "validation_failed")


def test_a_credit_by_gross_amount_reduces_what_is_owed(api: ApiClient, invoice: dict[str, Any]) -> None:
    note = issued(api, invoice["id"], amount="30.00", memo="Price adjustment")
    assert (note["outcome"], note["total"]) == ("offset", money("30.00"))  # offset while something is owed
    assert [(x["invoice_line_id"], x["description"], x["amount"]) for x in note["lines"]] == [
        (None, "Price adjustment", money("30.00"))
    ]
    after = get_invoice(api, invoice["id"])
    assert after["status"] == "finalized"
    assert (after["amount_credited"], after["amount_remaining"]) == (money("30.00"), money("69.97"))
    # Offsetting the rest pays the invoice.
    last = issued(api, invoice["id"], amount="69.97", outcome="offset")
    assert last["number"] == "CN-2026-000002"
    after = get_invoice(api, invoice["id"])
    assert (after["status"], after["amount_remaining"], after["amount_credited"]) == (
        "paid",
        money("0.00"),
        money("99.97"),
    )
    assert balance(api, invoice["customer_id"]) == Decimal(0)


def test_an_offset_beyond_what_is_owed_is_refused(api: ApiClient, invoice: dict[str, Any]) -> None:
    issued(api, invoice["id"], amount="90.00", outcome="credit")  # to the balance: still owes 99.97
    issued(api, invoice["id"], amount="5.00", outcome="offset")
    unchanged = Unchanged(api, invoice)
    # 4.97 is still creditable, 94.97 still owed: 4.97 may be offset but 5.00 is over the total.
    assert_refused(issue(api, invoice["id"], amount="5.00", outcome="offset"), 422, "validation_failed")
    unchanged.check()
    assert issued(api, invoice["id"], amount="4.97", outcome="offset")["total"] == money("4.97")


def test_a_credit_on_a_paid_invoice_defaults_to_the_balance(api: ApiClient, customer: str) -> None:
    finalized(api, customer, line("Goodwill", "-100.00", reason="Migration credit"))
    paid = finalized(api, customer, line("Widget", "60.00"))
    assert (paid["status"], paid["credit_applied"]) == ("paid", money("60.00"))
    assert balance(api, customer) == Decimal("40.00")
    unchanged = Unchanged(api, paid)
    # Nothing is owed, so nothing can be offset.
    assert_refused(
        issue(api, paid["id"], amount="10.00", outcome="offset"), 422, "validation_failed", "/outcome"
    )
    unchanged.check()
    note = issued(api, paid["id"], amount="10.00")
    assert note["outcome"] == "credit"
    assert balance(api, customer) == Decimal("50.00")
    after = get_invoice(api, paid["id"])
    assert (after["status"], after["amount_credited"]) == ("paid", money("10.00"))


def test_an_uncollectible_invoice_can_be_credited(api: ApiClient, invoice: dict[str, Any]) -> None:
    assert action(api, invoice["id"], "mark_uncollectible").status == 200
    note = issued(api, invoice["id"], amount="99.97", reason="fraudulent")
    assert (note["outcome"], note["total"]) == ("offset", money("99.97"))
    after = get_invoice(api, invoice["id"])
    assert (after["status"], after["amount_remaining"]) == ("paid", money("0.00"))


# --- refused --------------------------------------------------------------------------------------


def test_a_refund_with_nothing_paid_is_refused(api: ApiClient, invoice: dict[str, Any]) -> None:
    unchanged = Unchanged(api, invoice)
    response = issue(api, invoice["id"], amount="10.00", outcome="refund")
    assert_refused(response, 422, "validation_failed", "/outcome")
    unchanged.check()
    # The refusal used up no number.
    assert issued(api, invoice["id"], amount="10.00")["number"] == "CN-2026-000001"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "99.98"},  # a cent over the total
        {"amount": "1000.00", "outcome": "credit"},
        {"lines": [{"invoice_line_id": "LINE0", "amount": "59.98"}]},  # over the line
        {"lines": [{"invoice_line_id": "LINE1", "amount": "40.01"}]},
        {"lines": [{"invoice_line_id": "LINE0"}, {"invoice_line_id": "LINE0"}]},  # one line twice
        {"lines": [{"invoice_line_id": "not-a-line"}]},
        {"lines": [{"invoice_line_id": "LINE0", "amount": "0"}]},
        {"lines": [{"invoice_line_id": "LINE0", "amount": 0}]},  # a JSON number, even zero
        {"lines": [{"invoice_line_id": "LINE0", "amount": ""}]},
        {"lines": [{"invoice_line_id": "LINE0", "amount": "-5.00"}]},
        {"lines": [{"invoice_line_id": "LINE0", "amount": "1.001"}]},  # EUR has 2 decimals
        {"lines": []},
        {"amount": 10},
        {"amount": "0.00"},
        {"amount": "-1.00"},
        {"amount": "abc"},
        {"amount": "10.00", "lines": [{"invoice_line_id": "LINE0"}]},  # lines and an amount
        {},  # neither
        {"amount": "10.00", "outcome": "burn"},
        {"amount": "10.00", "reason": "because"},
    ],
)
def test_invalid_credit_notes_are_refused_and_change_nothing(
    api: ApiClient, invoice: dict[str, Any], body: dict[str, Any]
) -> None:
    ids = {"LINE0": invoice["lines"][0]["id"], "LINE1": invoice["lines"][1]["id"]}
    if "lines" in body:
        body = {
            **body,
            "lines": [
                {**x, "invoice_line_id": ids.get(x["invoice_line_id"], x["invoice_line_id"])}
                for x in body["lines"]
            ],
        }
    unchanged = Unchanged(api, invoice)
    assert_refused(issue(api, invoice["id"], **body), 422, "validation_failed")
    preview = api.post("/v1/credit-notes/preview", {"invoice_id": invoice["id"], "reason": "other", **body})
    assert_refused(preview, 422, "validation_failed")
    unchanged.check()


def test_a_draft_or_void_invoice_cannot_be_credited(api: ApiClient, customer: str) -> None:
    draft = create_draft(api, customer, line("Widget", "10.00"))
    voided = finalized(api, customer, line("Widget", "10.00"))
    voided = action(api, voided["id"], "void").data
    for target in (draft, voided):
        unchanged = Unchanged(api, target)
        for response in (
            issue(api, target["id"], amount="1.00"),
            issue(api, target["id"], lines=[{"invoice_line_id": target["lines"][0]["id"]}]),
            api.post(
                "/v1/credit-notes/preview", {"invoice_id": target["id"], "reason": "other", "amount": "1.00"}
            ),
        ):
            assert_refused(response, 409, "invalid_state_transition")
        unchanged.check()


def test_two_partial_notes_never_credit_more_than_the_total(api: ApiClient, invoice: dict[str, Any]) -> None:
    first = issued(api, invoice["id"], amount="60.00", outcome="credit")
    unchanged = Unchanged(api, invoice)
    for response in (
        issue(api, invoice["id"], amount="40.00", outcome="credit"),  # 100.00 > 99.97
        issue(api, invoice["id"], lines=[{"invoice_line_id": invoice["lines"][1]["id"]}], outcome="credit"),
    ):
        assert_refused(response, 422, "validation_failed")
    unchanged.check()
    second = issued(api, invoice["id"], amount="39.97", outcome="credit")
    assert [n["id"] for n in notes(api, invoice_id=invoice["id"])] == [second["id"], first["id"]]
    assert get_invoice(api, invoice["id"])["amount_credited"] == money("99.97")
    assert balance(api, invoice["customer_id"]) == Decimal("99.97")


def test_an_unknown_or_foreign_invoice_is_not_found(
    api: ApiClient, other_api: ApiClient, invoice: dict[str, Any]
) -> None:
    note = issued(api, invoice["id"], amount="1.00")
    unchanged = Unchanged(api, invoice)
    for response in (
        issue(other_api, invoice["id"], amount="1.00"),
        other_api.post(
            "/v1/credit-notes/preview", {"invoice_id": invoice["id"], "reason": "other", "amount": "1"}
        ),
        other_api.get(f"/v1/credit-notes/{note['id']}"),
        issue(api, "01a1fd2e-0000-7000-8000-000000000000", amount="1.00"),
        api.get("/v1/credit-notes/01a1fd2e-0000-7000-8000-000000000000"),
    ):
        assert_refused(response, 404, "not_found")
    assert other_api.get("/v1/credit-notes").data == []
    unchanged.check()


def test_issuing_needs_an_idempotency_key_and_replays(api: ApiClient, invoice: dict[str, Any]) -> None:
    body = {"invoice_id": invoice["id"], "reason": "other", "amount": "10.00"}
    unchanged = Unchanged(api, invoice)
    assert_refused(api.post("/v1/credit-notes", body, idempotency_key=None), 400, "idempotency_key_required")
    unchanged.check()
    first = api.post("/v1/credit-notes", body, idempotency_key="cn-1")
    replay = api.post("/v1/credit-notes", body, idempotency_key="cn-1")
    assert (first.status, replay.status, replay.header("Idempotent-Replayed")) == (201, 201, "true")
    assert replay.data == first.data
    assert len(notes(api)) == 1
    assert get_invoice(api, invoice["id"])["amount_credited"] == money("10.00")


# --- numbering, preview, listing --------------------------------------------------------------------


def test_credit_note_numbers_are_their_own_gap_free_sequence(api: ApiClient, customer: str) -> None:
    first = finalized(api, customer, line("Widget", "10.00"))
    second = finalized(api, customer, line("Widget", "20.00"))
    third = finalized(api, customer, line("Widget", "30.00"))
    assert third["number"] == "INV-2026-000003"
    numbers = [
        issued(api, third["id"], amount="1.00")["number"],
        issued(api, first["id"], amount="1.00")["number"],
    ]
    assert_refused(issue(api, first["id"], amount="100.00"), 422, "validation_failed")  # uses no number
    numbers.append(issued(api, second["id"], amount="1.00")["number"])
    assert numbers == ["CN-2026-000001", "CN-2026-000002", "CN-2026-000003"]
    # Invoices go on with their own sequence.
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "INV-2026-000004"
    # A custom credit-note format applies to the next note; the sequence goes on.
    assert api.patch("/v1/settings", {"credit_note_number_format": "GS-{YYYY}{MM}-{SEQ:03}"}).status == 200
    assert issued(api, second["id"], amount="1.00")["number"] == "GS-202603-004"
    assert finalized(api, customer, line("Widget", "1.00"))["number"] == "INV-2026-000005"


def test_a_preview_shows_the_note_without_issuing_it(api: ApiClient, invoice: dict[str, Any]) -> None:
    unchanged = Unchanged(api, invoice)
    widget = invoice["lines"][0]["id"]
    for body in ({"amount": "25.50"}, {"lines": [{"invoice_line_id": widget, "amount": "19.99"}]}):
        response = api.post(
            "/v1/credit-notes/preview", {"invoice_id": invoice["id"], "reason": "other", **body}
        )
        assert response.status == 200, response.body
        preview = response.data
        assert preview["object"] == "credit_note_preview"
        assert "number" not in preview
        assert "id" not in preview
        unchanged.check()
        note = issued(api, invoice["id"], **body)
        assert (note["total"], note["tax_breakdown"]) == (preview["total"], preview["tax_breakdown"])
        assert [x["amount"] for x in note["lines"]] == [x["amount"] for x in preview["lines"]]
        unchanged = Unchanged(api, invoice)
    # Previews took no number.
    assert [n["number"] for n in notes(api)] == ["CN-2026-000002", "CN-2026-000001"]


def test_credit_notes_are_listed_per_invoice_and_customer(
    api: ApiClient, customer: str, invoice: dict[str, Any]
) -> None:
    other = finalized(api, customer, line("Other", "10.00"))
    a = issued(api, invoice["id"], amount="1.00")
    b = issued(api, other["id"], amount="2.00")
    c = issued(api, invoice["id"], amount="3.00")
    assert [n["id"] for n in notes(api, invoice_id=invoice["id"])] == [c["id"], a["id"]]
    assert [n["id"] for n in notes(api, invoice_id=other["id"])] == [b["id"]]
    assert [n["id"] for n in notes(api, customer_id=customer)] == [c["id"], b["id"], a["id"]]
    assert notes(api, customer_id="01a1fd2e-0000-7000-8000-000000000000") == []
    assert all("sequence" not in n for n in notes(api))
    page = api.get("/v1/credit-notes", query={"limit": "2"})
    assert page.json()["pagination"]["has_more"] is True
    rest = api.get(
        "/v1/credit-notes", query={"limit": "2", "cursor": page.json()["pagination"]["next_cursor"]}
    )
    assert [n["id"] for n in page.data + rest.data] == [c["id"], b["id"], a["id"]]
