"""/v1/tax/profile through the API handler on moto: set whole with PUT, changed by JSON merge patch,
every change checked as a whole profile (VAT ID, IBAN and BIC with their check digits), one
profile per tenant and mode, If-Match, and an event per change."""

from __future__ import annotations

from typing import Any

import pytest

from billow.api.container import container
from tests.integration.test_api_conventions import assert_problem, stored_items
from tests.support.api_client import ApiClient, ApiResponse

PATH = "/v1/tax/profile"


def profile_body(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "legal_name": "Billow Software GmbH",
        "trading_name": "Billow",
        "address": {"line1": "Torstraße 1", "city": "Berlin", "postal_code": "10119", "country": "DE"},
        "vat_id": "DE 136 695 976",
        "tax_number": "37/123/45678",
        "legal_registration": "HRB 12345, Amtsgericht Berlin",
        "contact": {"name": "Ada Accounts", "email": "billing@billow.example", "phone": "+49 30 1234567"},
        "electronic_address": "invoices@billow.example",
        "payment_details": {
            "iban": "DE89 3704 0044 0532 0130 00",
            "bic": "COBADEFFXXX",
            "account_name": "Billow Software GmbH",
        },
    }
    raw.update(changes)
    return {key: value for key, value in raw.items() if value is not None}


def refused(response: ApiResponse, status: int, code: str, pointer: str | None = None) -> dict[str, Any]:
    assert_problem(response, status, code)
    body: dict[str, Any] = response.json()
    if pointer is not None:
        assert pointer in [error.get("pointer") for error in body.get("errors", [])], response.body
    return body


def message_for(body: dict[str, Any], pointer: str) -> str:
    return " ".join(error["message"] for error in body["errors"] if error.get("pointer") == pointer)


def put(api: ApiClient, body: dict[str, Any], status: int = 200, **kw: Any) -> dict[str, Any]:
    response = api.put(PATH, body, **kw)
    assert response.status == status, response.body
    return dict(response.data)


def stored_profiles() -> list[dict[str, Any]]:
    return [item for item in stored_items() if item["kind"]["S"] == "tax_profile"]


def profile_events() -> list[tuple[str, str, int]]:
    """(type, aggregate id, sequence) of the profile's events, in sequence order."""
    found = [
        (
            item["event_type"]["S"],
            item["aggregate_id"]["S"],
            int(item["envelope"]["M"]["aggregate"]["M"]["sequence"]["N"]),
        )
        for item in stored_items()
        if item["kind"]["S"] == "event" and item["aggregate_type"]["S"] == "tax_profile"
    ]
    return sorted(found, key=lambda event: event[2])


def tenant_of(api: ApiClient) -> str:
    return container().tenancy.authenticate(str(api.api_key)).scope.tenant_id


def test_unset_until_put(api: ApiClient) -> None:
    body = refused(api.get(PATH), 404, "not_found")
    assert "PUT /v1/tax/profile" in body["detail"]
    refused(api.patch(PATH, {"trading_name": "Billow"}), 404, "not_found")
    assert stored_profiles() == []


def test_put_creates_then_replaces(api: ApiClient) -> None:
    created = api.put(PATH, profile_body())
    assert created.status == 201, created.body
    assert created.header("ETag") == '"1"'
    profile = created.data
    assert {key: profile[key] for key in ("object", "livemode", "legal_name", "vat_id", "vat_id_type")} == {
        "object": "tax_profile",
        "livemode": False,
        "legal_name": "Billow Software GmbH",
        "vat_id": "DE136695976",
        "vat_id_type": "eu_vat",
    }
    # IBAN and BIC kept in their compact form.
    assert (profile["payment_details"]["iban"], profile["payment_details"]["bic"]) == (
        "DE89370400440532013000",
        "COBADEFFXXX",
    )
    assert api.get(PATH).data == profile

    # The same profile again changes nothing: no new version, no event.
    assert put(api, profile_body()) == profile
    # PUT replaces the whole profile: what it leaves out is gone.
    replaced = put(api, profile_body(trading_name=None, payment_details=None, tax_regime="small_business"))
    assert (replaced["version"], replaced["trading_name"], replaced["tax_regime"]) == (
        2,
        None,
        "small_business",
    )
    assert replaced["payment_details"] == {
        "iban": None,
        "bic": None,
        "account_name": None,
        "sepa_creditor_id": None,
    }
    assert replaced["created_at"] == profile["created_at"]
    tenant = tenant_of(api)
    assert profile_events() == [("tax_profile.updated", tenant, 1), ("tax_profile.updated", tenant, 2)]
    assert len(stored_profiles()) == 1


def test_patch_merges(api: ApiClient) -> None:
    put(api, profile_body(), status=201)
    patched = api.patch(
        PATH,
        {"trading_name": None, "contact": {"email": "tax@billow.example"}, "oss_registered": True},
        headers={"If-Match": '"1"'},
    )
    assert patched.status == 200, patched.body
    assert patched.header("ETag") == '"2"'
    profile = patched.data
    assert profile["trading_name"] is None
    # Objects merge: the contact's other fields stay.
    assert profile["contact"] == {
        "name": "Ada Accounts",
        "email": "tax@billow.example",
        "phone": "+49 30 1234567",
    }
    assert profile["oss_registered"] is True
    assert profile["legal_name"] == "Billow Software GmbH"
    same = api.patch(PATH, {"oss_registered": True})
    assert same.data == profile
    assert [event[2] for event in profile_events()] == [1, 2]


@pytest.mark.parametrize(
    ("changes", "pointer", "reason"),
    [
        ({"vat_id": "DE136695977"}, "/vat_id", "check digit"),
        ({"vat_id": "FR12345"}, "/vat_id", ""),
        ({"vat_id": {"type": "eu_vat"}}, "/vat_id", ""),
        ({"vat_id": "FR40303265045"}, "/vat_id_note", "another country"),
        ({"payment_details": {"iban": "DE89 3704 0044 0532 0130 01"}}, "/payment_details/iban", "IBAN"),
        (
            {"payment_details": {"iban": "DE89370400440532013000", "bic": "COBA"}},
            "/payment_details/bic",
            "BIC",
        ),
        ({"payment_details": {"bic": "COBADEFFXXX"}}, "/payment_details/iban", "required"),
        ({"payment_details": {"swift": "COBADEFFXXX"}}, "/payment_details/swift", ""),
        ({"legal_name": None}, "/legal_name", "required"),
        ({"legal_name": 7}, "/legal_name", ""),
        (
            {"address": {"line1": "Torstraße 1", "city": "Berlin", "country": "Germany"}},
            "/address/country",
            "",
        ),
        ({"address": {"city": "Berlin", "country": "DE"}}, "/address/line1", "required"),
        ({"tax_regime": "exempt"}, "/tax_regime", ""),
        ({"vat_id": None, "tax_number": None}, "/vat_id", "VAT ID or a tax number"),
        ({"contact": {"email": "not an address"}}, "/contact/email", ""),
        ({"prices_include_tax": "yes"}, "/prices_include_tax", ""),
        ({"website": "https://billow.example"}, "/website", ""),
    ],
)
def test_invalid_profiles_are_refused_with_the_reason(
    api: ApiClient, changes: dict[str, Any], pointer: str, reason: str
) -> None:
    raw = {**profile_body(), **changes}
    raw = {key: value for key, value in raw.items() if value is not None}
    body = refused(api.put(PATH, raw), 422, "validation_failed", pointer)
    assert reason in message_for(body, pointer)
    assert stored_profiles() == []
    assert profile_events() == []


def test_a_patch_is_checked_as_a_whole_profile(api: ApiClient) -> None:
    profile = put(api, profile_body(), status=201)
    body = refused(api.patch(PATH, {"vat_id": "DE136695977"}), 422, "validation_failed", "/vat_id")
    assert "check digit" in message_for(body, "/vat_id")
    refused(
        api.patch(PATH, {"payment_details": {"iban": "GB00 0000 0000"}}),
        422,
        "validation_failed",
        "/payment_details/iban",
    )
    # Removing the IBAN leaves a BIC without one.
    refused(
        api.patch(PATH, {"payment_details": {"iban": None}}),
        422,
        "validation_failed",
        "/payment_details/iban",
    )
    # Removing both VAT ID and tax number leaves a VAT-charging seller without either.
    refused(api.patch(PATH, {"vat_id": None, "tax_number": None}), 422, "validation_failed", "/vat_id")
    assert api.get(PATH).data == profile
    assert len(profile_events()) == 1


def test_if_match(api: ApiClient) -> None:
    refused(api.put(PATH, profile_body(), headers={"If-Match": '"1"'}), 412, "precondition_failed")
    assert stored_profiles() == []
    put(api, profile_body(), status=201)
    refused(
        api.put(PATH, profile_body(trading_name="B"), headers={"If-Match": '"2"'}), 412, "precondition_failed"
    )
    refused(api.patch(PATH, {"trading_name": "B"}, headers={"If-Match": '"2"'}), 412, "precondition_failed")
    refused(api.patch(PATH, {"trading_name": "B"}, headers={"If-Match": "two"}), 412, "precondition_failed")
    assert api.get(PATH).data["trading_name"] == "Billow"
    assert put(api, profile_body(trading_name="B"), headers={"If-Match": '"1"'})["version"] == 2


def test_one_profile_per_tenant_and_mode(api: ApiClient, other_api: ApiClient, api_handler: Any) -> None:
    put(api, profile_body(), status=201)
    refused(other_api.get(PATH), 404, "not_found")
    refused(other_api.patch(PATH, {"trading_name": "Theirs"}), 404, "not_found")
    theirs = put(other_api, profile_body(legal_name="Other Ltd"), status=201)
    assert theirs["version"] == 1
    assert api.get(PATH).data["legal_name"] == "Billow Software GmbH"
    live = ApiClient(api_handler, container().tenancy.issue_api_key(tenant_of(api), livemode=True).secret)
    refused(live.get(PATH), 404, "not_found")
    assert put(live, profile_body(), status=201)["livemode"] is True
    assert len(stored_profiles()) == 3
