"""/v1/tax-rules through the API handler on moto: versions of a series and which one is in force
on a date, one version per series and date (also under concurrent creates), labels the only
thing a version changes, deleting only what never took effect, and the API conventions (problems,
If-Match, idempotency, pagination, tenancy)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from billow.adapters.system import new_id
from billow.api.app import build_api, openapi_json
from billow.api.container import Container, container, use_container
from billow.domain.errors import Conflict
from billow.domain.tenancy import Scope
from tests.integration.test_api_conventions import assert_problem, stored_items
from tests.support.api_client import ApiClient, ApiResponse
from tests.support.functions import gateway
from tests.unit.fakes import FixedClock

PATH = "/v1/tax-rules"
IN_FORCE = f"{PATH}/in-force"
# Sunday 15 March 2026, 12:00 UTC: "today" for every tenant in UTC.
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
UNKNOWN_ID = "0190a000-0000-7000-8000-000000000000"


@pytest.fixture
def clock(aws: None) -> FixedClock:
    fixed = FixedClock(NOW)
    use_container(Container(clock=fixed, new_id=new_id))
    return fixed


@pytest.fixture
def api_handler(clock: FixedClock) -> Any:
    return gateway()


def rule_body(
    jurisdiction: Any = "DE", rate: Any = "19", effective_from: str = "2026-01-01", **extra: Any
) -> dict[str, Any]:
    return {
        "jurisdiction": jurisdiction,
        "tax_type": "vat",
        "rate": rate,
        "effective_from": effective_from,
        **extra,
    }


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(PATH, body)
    assert response.status == 201, response.body
    return dict(response.data)


def fetch(api: ApiClient, rule_id: str) -> dict[str, Any]:
    response = api.get(f"{PATH}/{rule_id}")
    assert response.status == 200, response.body
    return dict(response.data)


def listed(api: ApiClient, **query: str) -> list[dict[str, Any]]:
    response = api.get(PATH, query=query or None)
    assert response.status == 200, response.body
    return list(response.data)


def in_force(api: ApiClient, **query: str) -> list[str]:
    """The ids of the rules in force, in apply order."""
    response = api.get(IN_FORCE, query=query)
    assert response.status == 200, response.body
    return [rule["id"] for rule in response.data["rules"]]


def delete(api: ApiClient, rule_id: str, **kw: Any) -> ApiResponse:
    return api.request("DELETE", f"{PATH}/{rule_id}", **kw)


def refused(response: ApiResponse, status: int, code: str, pointer: str | None = None) -> dict[str, Any]:
    assert_problem(response, status, code)
    body: dict[str, Any] = response.json()
    if pointer is not None:
        assert pointer in [error.get("pointer") for error in body.get("errors", [])], response.body
    return body


def kinds() -> list[str]:
    return sorted(item["kind"]["S"] for item in stored_items() if item["kind"]["S"].startswith("tax_rule"))


def event_types(aggregate_id: str) -> list[str]:
    events = [
        item
        for item in stored_items()
        if item["kind"]["S"] == "event" and item["aggregate_id"]["S"] == aggregate_id
    ]
    events.sort(key=lambda item: int(item["envelope"]["M"]["aggregate"]["M"]["sequence"]["N"]))
    return [item["event_type"]["S"] for item in events]


def scope_of(api: ApiClient) -> Scope:
    return container().tenancy.authenticate(str(api.api_key)).scope


# --- the lifecycle -----------------------------------------------------------------------------


def test_create_get_list_and_relabel(api: ApiClient) -> None:
    created = api.post(
        PATH,
        rule_body(
            {"country": "US", "region": "CA"},
            rate="7.25",
            tax_type="sales_tax",
            category="digital_services",
            apply_order=1,
            name="California sales tax",
            metadata={"source": "cdtfa"},
        ),
    )
    assert created.status == 201, created.body
    rule = created.data
    assert created.header("Location") == f"{PATH}/{rule['id']}"
    assert created.header("ETag") == '"1"'
    assert {key: rule[key] for key in rule if key not in ("id", "created_at", "updated_at")} == {
        "object": "tax_rule",
        "livemode": False,
        "jurisdiction": {"country": "US", "region": "CA", "code": "US-CA"},
        "tax_type": "sales_tax",
        "rate": "7.25",
        "category": "digital_services",
        "inclusive": False,
        "compound": False,
        "apply_order": 1,
        "effective_from": "2026-01-01",
        "active": True,
        "name": "California sales tax",
        "description": None,
        "metadata": {"source": "cdtfa"},
        "version": 1,
    }
    assert rule["created_at"] == "2026-03-15T12:00:00Z"
    assert fetch(api, rule["id"]) == rule
    # Rates are kept without trailing zeros; the jurisdiction may be given as "US-CA" text.
    vat = create(api, rule_body("DE", rate="19.00"))
    assert (vat["rate"], vat["category"], vat["jurisdiction"]["code"]) == ("19", "*", "DE")
    assert [r["id"] for r in listed(api)] == [vat["id"], rule["id"]]  # newest first

    patched = api.patch(
        f"{PATH}/{rule['id']}",
        {"description": "State rate", "metadata": {"source": "", "team": "tax"}},
        headers={"If-Match": '"1"'},
    )
    assert patched.status == 200, patched.body
    assert patched.header("ETag") == '"2"'
    assert (patched.data["description"], patched.data["metadata"]) == ("State rate", {"team": "tax"})
    assert patched.data["rate"] == "7.25"
    cleared = api.patch(f"{PATH}/{rule['id']}", {"name": None})
    assert (cleared.data["name"], cleared.data["version"]) == (None, 3)
    assert event_types(rule["id"]) == ["tax_rule.created", "tax_rule.updated", "tax_rule.updated"]


def test_a_patch_that_changes_nothing_writes_nothing(api: ApiClient) -> None:
    rule = create(api, rule_body(name="VAT", metadata={"k": "v"}))
    same = api.patch(f"{PATH}/{rule['id']}", {"name": "VAT", "metadata": {"k": "v"}})
    assert same.status == 200, same.body
    assert same.data == rule
    assert event_types(rule["id"]) == ["tax_rule.created"]


def test_what_a_version_charges_never_changes(api: ApiClient) -> None:
    rule = create(api, rule_body())
    for field, value in [
        ("rate", "20"),
        ("effective_from", "2026-02-01"),
        ("active", False),
        ("jurisdiction", "AT"),
    ]:
        body = refused(
            api.patch(f"{PATH}/{rule['id']}", {field: value}), 422, "validation_failed", f"/{field}"
        )
        assert "new version" in json.dumps(body["errors"])
    refused(api.patch(f"{PATH}/{rule['id']}", {"name": 7}), 422, "validation_failed", "/name")
    refused(
        api.patch(f"{PATH}/{rule['id']}", {"metadata": {"k": 1}}), 422, "validation_failed", "/metadata/k"
    )
    assert fetch(api, rule["id"]) == rule
    assert event_types(rule["id"]) == ["tax_rule.created"]


# --- versions ---------------------------------------------------------------------------------


def test_a_new_version_takes_over_from_its_date(api: ApiClient) -> None:
    old = create(api, rule_body(rate="19", effective_from="2025-01-01"))
    new = create(api, rule_body(rate="21", effective_from="2026-07-01"))
    assert in_force(api, country="DE", date="2024-12-31") == []
    assert in_force(api, country="DE", date="2025-01-01") == [old["id"]]
    assert in_force(api, country="DE", date="2026-06-30") == [old["id"]]
    assert in_force(api, country="DE", date="2026-07-01") == [new["id"]]
    # Without a date: today in the tenant's zone.
    today = api.get(IN_FORCE, query={"country": "DE"})
    assert (today.data["date"], [r["id"] for r in today.data["rules"]]) == ("2026-03-15", [old["id"]])
    assert today.data["category"] == "standard"
    # Both versions stay listed: the history is what invoices were taxed with.
    assert [r["id"] for r in listed(api, country="DE")] == [new["id"], old["id"]]


def test_an_inactive_version_ends_the_series(api: ApiClient) -> None:
    rule = create(api, rule_body(rate="19", effective_from="2025-01-01"))
    end = create(api, rule_body(rate="0", effective_from="2026-06-01", active=False))
    assert in_force(api, country="DE", date="2026-05-31") == [rule["id"]]
    assert in_force(api, country="DE", date="2026-06-01") == []
    assert [r["id"] for r in listed(api, active="false")] == [end["id"]]
    assert [r["id"] for r in listed(api, active="true")] == [rule["id"]]


def test_categories_and_regions(api: ApiClient) -> None:
    standard = create(api, rule_body(rate="19"))
    reduced = create(api, rule_body(rate="7", category="reduced"))
    state = create(api, rule_body("US", rate="0", tax_type="sales_tax"))
    california = create(api, rule_body("US-CA", rate="7.25", tax_type="sales_tax", apply_order=1))
    on = "2026-03-01"
    assert in_force(api, country="DE", category="standard", date=on) == [standard["id"]]
    assert in_force(api, country="DE", category="reduced", date=on) == [reduced["id"]]
    assert in_force(api, country="US", region="CA", date=on) == [state["id"], california["id"]]
    assert in_force(api, country="US", region="NY", date=on) == [state["id"]]
    assert in_force(api, country="FR", date=on) == []
    assert [r["id"] for r in listed(api, country="US", region="CA")] == [california["id"]]
    assert [r["id"] for r in listed(api, category="reduced")] == [reduced["id"]]
    assert [r["id"] for r in listed(api, tax_type="sales_tax")] == [california["id"], state["id"]]


def test_a_second_version_on_the_same_day_is_a_conflict(api: ApiClient) -> None:
    first = create(api, rule_body(rate="19", effective_from="2026-01-01"))
    stored = kinds()
    body = refused(
        api.post(PATH, rule_body(rate="20", effective_from="2026-01-01")), 409, "conflict", "/effective_from"
    )
    assert first["id"] in body["detail"]
    assert kinds() == stored
    # Another series on that day is no conflict: another category, region, type or apply order.
    create(api, rule_body(rate="7", category="reduced"))
    create(api, rule_body("DE", rate="1", apply_order=2))
    assert len(listed(api)) == 3


def test_concurrent_versions_on_one_day_let_exactly_one_win(api: ApiClient) -> None:
    # Through the service: each request's list read finds no version on the day; the series'
    # date guard lets one write win.
    service = container().tax_rules
    scope = scope_of(api)
    barrier = threading.Barrier(4)

    def send(rate: int) -> str:
        barrier.wait()
        try:
            return service.create(scope, rule_body(rate=str(rate))).id
        except Conflict as conflict:
            return f"conflict: {conflict.detail}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(send, range(10, 14)))
    winners = [outcome for outcome in outcomes if not outcome.startswith("conflict")]
    assert len(winners) == 1, outcomes
    assert [r["id"] for r in listed(api)] == winners
    for outcome in outcomes:
        if outcome not in winners:
            assert winners[0] in outcome


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (rule_body(rate=19), "/rate"),  # a JSON number
        (rule_body(rate=19.5), "/rate"),
        (rule_body(rate="101"), "/rate"),
        (rule_body(rate="-1"), "/rate"),
        (rule_body(rate="19.12345"), "/rate"),
        (rule_body(rate="19%"), "/rate"),
        (rule_body(tax_type="income_tax"), "/tax_type"),
        (rule_body("Germany"), "/jurisdiction/country"),
        (rule_body({"country": "XX"}), "/jurisdiction/country"),
        (rule_body({"country": "US", "region": "california"}), "/jurisdiction/region"),
        (rule_body({"country": "US", "city": "LA"}), "/jurisdiction/city"),
        (rule_body(7), "/jurisdiction"),
        (rule_body(effective_from="2026-02-30"), "/effective_from"),
        (rule_body(effective_from="1 March 2026"), "/effective_from"),
        (rule_body(category="Standard"), "/category"),
        (rule_body(inclusive=True, compound=True), "/compound"),
        (rule_body(inclusive="yes"), "/inclusive"),
        (rule_body(apply_order=100), "/apply_order"),
        (rule_body(apply_order="1"), "/apply_order"),
        (rule_body(name=""), "/name"),
        (rule_body(metadata={"k": 1}), "/metadata/k"),
        (rule_body(status="active"), "/status"),
        ({"jurisdiction": "DE", "tax_type": "vat", "rate": "19"}, "/effective_from"),
        ({"tax_type": "vat", "rate": "19", "effective_from": "2026-01-01"}, "/jurisdiction"),
    ],
)
def test_invalid_rules_are_refused_and_nothing_is_stored(
    api: ApiClient, body: dict[str, Any], pointer: str
) -> None:
    refused(api.post(PATH, body), 422, "validation_failed", pointer)
    assert kinds() == []
    assert [item for item in stored_items() if item["kind"]["S"] == "event"] == []


def test_every_problem_is_reported_at_once(api: ApiClient) -> None:
    body = refused(
        api.post(PATH, rule_body(rate=19, tax_type="income", effective_from="soon")), 422, "validation_failed"
    )
    assert {error["pointer"] for error in body["errors"]} == {"/rate", "/tax_type", "/effective_from"}
    assert "decimal string" in json.dumps(body["errors"])


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({}, "country"),
        ({"country": "de"}, "country"),
        ({"country": "DE", "date": "2026-02-30"}, "date"),
        ({"country": "DE", "date": "tomorrow"}, "date"),
        ({"country": "DE", "category": "*"}, "category"),
        ({"country": "US", "region": "california"}, "region"),
    ],
)
def test_in_force_checks_its_parameters(api: ApiClient, query: dict[str, str], parameter: str) -> None:
    body = refused(api.get(IN_FORCE, query=query), 422, "validation_failed")
    assert parameter in [error.get("parameter") for error in body["errors"]], body


# --- delete ------------------------------------------------------------------------------------


def test_a_version_not_yet_in_force_can_be_deleted(api: ApiClient) -> None:
    current = create(api, rule_body(rate="19", effective_from="2025-01-01"))
    planned = create(api, rule_body(rate="21", effective_from="2026-07-01"))
    deleted = delete(api, planned["id"], headers={"If-Match": '"1"'})
    assert deleted.status == 200, deleted.body
    assert deleted.data["deleted"] is True
    assert deleted.data["version"] == 2
    refused(api.get(f"{PATH}/{planned['id']}"), 404, "not_found")
    refused(delete(api, planned["id"]), 404, "not_found")
    assert in_force(api, country="DE", date="2026-08-01") == [current["id"]]
    assert event_types(planned["id"]) == ["tax_rule.created", "tax_rule.deleted"]
    # Its date is free again for another version.
    again = create(api, rule_body(rate="20", effective_from="2026-07-01"))
    assert in_force(api, country="DE", date="2026-08-01") == [again["id"]]


@pytest.mark.parametrize("effective_from", ["2020-01-01", "2026-03-15"])
def test_a_version_that_took_effect_cannot_be_deleted(api: ApiClient, effective_from: str) -> None:
    rule = create(api, rule_body(effective_from=effective_from))
    body = refused(delete(api, rule["id"]), 409, "invalid_state_transition")
    assert '"active": false' in body["detail"]
    assert fetch(api, rule["id"]) == rule
    assert event_types(rule["id"]) == ["tax_rule.created"]


def test_today_is_the_tenants_day(api_handler: Any) -> None:
    # 12:00 UTC on 15 March is already 16 March, 02:00 on Kiritimati (UTC+14).
    tenancy = container().tenancy
    tenant = tenancy.create_tenant("Line Islands", timezone="Pacific/Kiritimati")
    api = ApiClient(api_handler, tenancy.issue_api_key(tenant.id, livemode=False).secret)
    rule = create(api, rule_body(effective_from="2026-03-16"))
    refused(delete(api, rule["id"]), 409, "invalid_state_transition")
    assert api.get(IN_FORCE, query={"country": "DE"}).data["date"] == "2026-03-16"
    tomorrow = create(api, rule_body(effective_from="2026-03-17"))
    assert delete(api, tomorrow["id"]).status == 200


# --- conventions -------------------------------------------------------------------------------


def test_a_stale_if_match_changes_nothing(api: ApiClient) -> None:
    rule = create(api, rule_body(effective_from="2027-01-01"))
    refused(
        api.patch(f"{PATH}/{rule['id']}", {"name": "New"}, headers={"If-Match": '"7"'}),
        412,
        "precondition_failed",
    )
    refused(delete(api, rule["id"], headers={"If-Match": '"7"'}), 412, "precondition_failed")
    refused(delete(api, rule["id"], headers={"If-Match": "seven"}), 412, "precondition_failed")
    assert fetch(api, rule["id"]) == rule


def test_create_is_idempotent(api: ApiClient) -> None:
    refused(api.post(PATH, rule_body(), idempotency_key=None), 400, "idempotency_key_required")
    first = api.post(PATH, rule_body(), idempotency_key="rule-1")
    replay = api.post(PATH, rule_body(), idempotency_key="rule-1")
    assert first.status == replay.status == 201
    assert replay.body == first.body
    assert replay.header("Idempotent-Replayed") == "true"
    refused(api.post(PATH, rule_body(rate="20"), idempotency_key="rule-1"), 422, "idempotency_key_reused")
    assert len(listed(api)) == 1


def test_pagination(api: ApiClient) -> None:
    ids = [create(api, rule_body(effective_from=f"2026-0{month}-01"))["id"] for month in range(1, 6)]
    first = api.get(PATH, query={"limit": "2"})
    pagination = first.json()["pagination"]
    assert [r["id"] for r in first.data] == ids[::-1][:2]
    assert pagination["has_more"] is True
    cursor = pagination["next_cursor"]
    second = api.get(PATH, query={"limit": "2", "cursor": cursor})
    assert [r["id"] for r in second.data] == ids[::-1][2:4]
    third = api.get(PATH, query={"limit": "2", "cursor": second.json()["pagination"]["next_cursor"]})
    assert [r["id"] for r in third.data] == ids[:1]
    assert third.json()["pagination"] == {"next_cursor": None, "has_more": False}
    # A cursor belongs to its query: other filters, or a tampered cursor, are refused.
    refused(api.get(PATH, query={"limit": "2", "cursor": cursor, "country": "DE"}), 400, "invalid_cursor")
    refused(api.get(PATH, query={"limit": "2", "cursor": cursor[:-2] + "xx"}), 400, "invalid_cursor")
    # Filtered pages fill up across non-matching rules.
    create(api, rule_body("AT", rate="20"))
    assert [r["jurisdiction"]["code"] for r in listed(api, country="AT", limit="1")] == ["AT"]


def test_rules_of_another_tenant_or_mode_are_not_found(
    api: ApiClient, other_api: ApiClient, api_handler: Any
) -> None:
    rule = create(api, rule_body(effective_from="2027-01-01"))
    refused(other_api.get(f"{PATH}/{rule['id']}"), 404, "not_found")
    refused(other_api.patch(f"{PATH}/{rule['id']}", {"name": "Mine"}), 404, "not_found")
    refused(delete(other_api, rule["id"]), 404, "not_found")
    assert listed(other_api) == []
    assert in_force(other_api, country="DE", date="2027-06-01") == []
    # Their own rule of the same series and date is no conflict.
    create(other_api, rule_body(effective_from="2027-01-01"))
    # The live mode of the same tenant has its own rules.
    tenant_id = scope_of(api).tenant_id
    live = ApiClient(api_handler, container().tenancy.issue_api_key(tenant_id, livemode=True).secret)
    refused(live.get(f"{PATH}/{rule['id']}"), 404, "not_found")
    assert listed(live) == []
    assert fetch(api, rule["id"]) == rule
    refused(api.get(f"{PATH}/{UNKNOWN_ID}"), 404, "not_found")


def test_the_openapi_document_has_the_tax_routes() -> None:
    document = json.loads(openapi_json(build_api(APIGatewayHttpResolver(enable_validation=True))))
    paths = document["paths"]
    for path, methods in {
        "/v1/tax-rules": {"get", "post"},
        "/v1/tax-rules/in-force": {"get"},
        "/v1/tax-rules/{rule_id}": {"get", "patch", "delete"},
        "/v1/tax/profile": {"get", "put", "patch"},
    }.items():
        assert methods <= set(paths[path]), path
