"""The tax-day index (gsi3) behind GET /v1/tax/exports: which documents carry an entry and
when they lose it, a tax point near midnight in a tenant's own zone, reads that stay the same
however many documents lie outside the period, and the backfill command for documents stored
before the index existed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from billow.adapters.aws import dynamodb_client
from billow.adapters.dynamodb.invoices import reindex_tax_day
from billow.api.container import container
from billow.cli import main
from billow.domain.tenancy import Scope
from tests.integration.tax.conftest import NOW, SELLER, address, customer, invoice
from tests.support.api_client import ApiClient, ApiResponse
from tests.support.aws import TABLE
from tests.support.subscriptions import advance, new_clock

JULY = {"period_start": "2026-07-01", "period_end": "2026-07-31", "format": "json"}
_deserializer = TypeDeserializer()


def stored(document_id: str) -> dict[str, Any]:
    """The item of an invoice or credit note as the table holds it (the tables are fresh per
    test, so a scan is small)."""
    response = boto3.client("dynamodb").scan(
        TableName=TABLE,
        FilterExpression="#id = :id AND #kind IN (:invoice, :note)",
        ExpressionAttributeNames={"#id": "id", "#kind": "kind"},
        ExpressionAttributeValues={
            ":id": {"S": document_id},
            ":invoice": {"S": "invoice"},
            ":note": {"S": "credit_note"},
        },
    )
    (item,) = response["Items"]
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def scope_prefix(document_id: str) -> str:
    item = stored(document_id)
    return str(item["pk"]).rsplit("#", 2)[0]


def export(api: ApiClient, **query: str) -> dict[str, Any]:
    response: ApiResponse = api.get("/v1/tax/exports", query=query)
    assert response.status == 200, response.body
    return dict(response.data)


def german_customer(api: ApiClient, clock: str) -> str:
    return customer(api, clock, billing_address=address("DE", "Hamburg", "20095"))


def credit(api: ApiClient, invoice_: dict[str, Any], amount: str) -> dict[str, Any]:
    response = api.post(
        "/v1/credit-notes",
        {
            "invoice_id": invoice_["id"],
            "reason": "order_change",
            "lines": [{"invoice_line_id": invoice_["lines"][0]["id"], "amount": amount}],
        },
    )
    assert response.status == 201, response.body
    return dict(response.data)


def void(api: ApiClient, invoice_: dict[str, Any]) -> None:
    assert api.post(f"/v1/invoices/{invoice_['id']}/void", idempotency_key=None).status == 200


# --- the entries -------------------------------------------------------------------------------


def test_documents_with_a_tax_point_have_an_entry_drafts_do_not_and_voiding_removes_it(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    buyer = german_customer(api, clock)
    draft = api.post(
        "/v1/invoices",
        {"customer_id": buyer, "lines": [{"description": "Draft", "quantity": "1", "unit_amount": "5.00"}]},
    )
    assert draft.status == 201, draft.body
    kept = invoice(api, buyer, ("Platform", "1", "100.00"))
    voided = invoice(api, buyer, ("Mistake", "1", "500.00"))
    note = credit(api, kept, "40.00")
    prefix = scope_prefix(kept["id"])

    assert "gsi3pk" not in stored(draft.data["id"])
    for document in (kept, voided, note):
        item = stored(document["id"])
        assert item["gsi3pk"] == f"{prefix}#TAX_DAY#2026-07-10"
        assert item["gsi3sk"] == f"{NOW}#{document['id']}"

    void(api, voided)

    assert "gsi3pk" not in stored(voided["id"])
    tenant_id = prefix.split("#")[1]
    found = container().invoices.tax_documents_between(
        Scope(tenant_id, livemode=False), datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
    )
    assert sorted(document.id for document in found) == sorted([kept["id"], note["id"]])
    assert export(api, **JULY)["totals_by_currency"]["EUR"]["net_amount"] == "60.00"


# --- the local day -----------------------------------------------------------------------------


@pytest.fixture
def berlin_api(api_handler: Any) -> ApiClient:
    """A sandbox key of a tenant in Europe/Berlin (UTC+2 in summer), with the seller's profile."""
    tenancy = container().tenancy
    tenant = tenancy.create_tenant("Berliner GmbH", "Europe/Berlin", "EUR")
    client = ApiClient(api_handler, tenancy.issue_api_key(tenant.id, livemode=False).secret)
    response = client.put("/v1/tax/profile", SELLER)
    assert response.status in (200, 201), response.body
    return client


def test_a_tax_point_near_midnight_counts_on_the_tenants_local_day(berlin_api: ApiClient) -> None:
    api = berlin_api
    clock = new_clock(api, "2026-06-30T22:30:00Z")
    buyer = german_customer(api, clock)
    # 00:30 on 1 July in Berlin, though 30 June in UTC.
    first = invoice(api, buyer, ("First of July", "1", "100.00"))
    advance(api, clock, "2026-07-31T21:30:00Z")
    last = invoice(api, buyer, ("Last of July", "1", "200.00"))  # 23:30 on 31 July in Berlin
    advance(api, clock, "2026-07-31T23:30:00Z")
    august = invoice(api, buyer, ("First of August", "1", "400.00"))  # 23:30 UTC, 01:30 in Berlin

    july = export(api, **JULY)
    august_report = export(api, period_start="2026-08-01", period_end="2026-08-31", format="json")
    june = export(api, period_start="2026-06-01", period_end="2026-06-30", format="json")

    assert [first["finalized_at"], last["finalized_at"], august["finalized_at"]] == [
        "2026-06-30T22:30:00Z",
        "2026-07-31T21:30:00Z",
        "2026-07-31T23:30:00Z",
    ]
    assert july["timezone"] == "Europe/Berlin"
    assert (july["totals_by_currency"]["EUR"]["invoice_count"], july["rows"][0]["taxable_amount"]) == (
        2,
        "300.00",
    )
    assert august_report["rows"][0]["taxable_amount"] == "400.00"
    assert june["rows"] == []


# --- what a report reads -----------------------------------------------------------------------


@dataclass
class DynamoReads:
    """(operation, index, items returned, items read) of every DynamoDB call of the process's
    client, through botocore's event hooks."""

    calls: list[tuple[str, str | None, int, int]] = field(default_factory=list)

    def before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["tax_day_probe"] = params.get("IndexName")

    def after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        index = context.get("tax_day_probe")
        self.calls.append((model.name, index, parsed.get("Count", 0), parsed.get("ScannedCount", 0)))

    def on_index(self, index: str) -> list[tuple[str, str | None, int, int]]:
        return [call for call in self.calls if call[1] == index]


@contextmanager
def dynamodb_reads() -> Iterator[DynamoReads]:
    client = dynamodb_client()
    reads = DynamoReads()
    hooks = [("before-parameter-build.dynamodb", reads.before), ("after-call.dynamodb", reads.after)]
    for event, handler in hooks:
        client.meta.events.register(event, handler, unique_id=f"tax-day-{event}")
    try:
        yield reads
    finally:
        for event, _ in hooks:
            client.meta.events.unregister(event, unique_id=f"tax-day-{event}")


def test_a_reports_reads_do_not_grow_with_documents_outside_its_period(
    api: ApiClient, seller: dict[str, Any], clock: str
) -> None:
    buyer = german_customer(api, clock)
    platform = invoice(api, buyer, ("Platform", "1", "100.00"))
    invoice(api, buyer, ("Seats", "2", "10.00"))
    credit(api, platform, "10.00")
    export(api, **JULY)  # warm: the key and the tenant are cached alike for both reports

    with dynamodb_reads() as before:
        first = export(api, **JULY)

    june_clock = new_clock(api, "2026-06-15T10:00:00Z")
    june_buyer = german_customer(api, june_clock)
    for n in range(4):
        june = invoice(api, june_buyer, (f"June {n}", "1", "50.00"))
    credit(api, june, "5.00")
    advance(api, clock, "2026-08-03T09:00:00Z")
    for n in range(4):
        invoice(api, buyer, (f"August {n}", "1", "70.00"))

    with dynamodb_reads() as after:
        second = export(api, **JULY)

    assert second == first
    assert after.calls == before.calls
    tax_day_reads = before.on_index("gsi3")
    # One Query per UTC day of July (the tenant is on UTC), and the three documents of July.
    assert len(tax_day_reads) == 31
    assert {operation for operation, *_ in tax_day_reads} == {"Query"}
    assert sum(scanned for *_, scanned in tax_day_reads) == 3
    assert not before.on_index("gsi1")


# --- the backfill ------------------------------------------------------------------------------


def drop_entry(document_id: str) -> None:
    """Make a document look as if stored before the index existed."""
    item = stored(document_id)
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}},
        UpdateExpression="REMOVE gsi3pk, gsi3sk",
    )


def reindex(capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    capsys.readouterr()
    assert main(["--table", TABLE, "reindex-tax-days", "--segments", "2"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_the_backfill_writes_the_entries_once_and_never_over_a_newer_write(
    api: ApiClient, seller: dict[str, Any], clock: str, capsys: pytest.CaptureFixture[str]
) -> None:
    buyer = german_customer(api, clock)
    kept = invoice(api, buyer, ("Platform", "1", "100.00"))
    later_voided = invoice(api, buyer, ("Seats", "2", "10.00"))
    voided = invoice(api, buyer, ("Mistake", "1", "500.00"))
    void(api, voided)
    note = credit(api, kept, "40.00")
    written = {d["id"]: stored(d["id"]) for d in (kept, later_voided, note)}
    for document_id in written:
        drop_entry(document_id)
    # An entry the void invoice should not have (by hand: no Billow write leaves one).
    void_item = stored(voided["id"])
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": void_item["pk"]}, "sk": {"S": void_item["sk"]}},
        UpdateExpression="SET gsi3pk = :pk, gsi3sk = :sk",
        ExpressionAttributeValues={":pk": {"S": "stale"}, ":sk": {"S": "stale"}},
    )
    assert export(api, **JULY)["rows"] == []

    first = reindex(capsys)
    again = reindex(capsys)

    assert first == {"documents": 4, "updated": 4, "changed_concurrently": 0}
    assert again == {"documents": 4, "updated": 0, "changed_concurrently": 0}
    for document_id, item in written.items():
        assert (stored(document_id)["gsi3pk"], stored(document_id)["gsi3sk"]) == (
            item["gsi3pk"],
            item["gsi3sk"],
        )
    assert "gsi3pk" not in stored(voided["id"])
    report = export(api, **JULY)
    assert report["totals_by_currency"]["EUR"]["net_amount"] == "80.00"  # 100 + 20 - 40

    # Read before a concurrent void: the backfill's write must not put the void invoice back.
    drop_entry(later_voided["id"])
    as_read = stored(later_voided["id"])
    void(api, later_voided)

    assert reindex_tax_day(container().table, as_read) == "changed_concurrently"
    assert "gsi3pk" not in stored(later_voided["id"])
    assert export(api, **JULY)["totals_by_currency"]["EUR"]["net_amount"] == "60.00"
