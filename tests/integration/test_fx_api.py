"""/v1/fx/* and /v1/tax/eu-vat-rates through the API handler on moto, with reference rates fetched
from a local ECB (tests/support/ecb_server.py): the rates of a date (a weekend takes Friday's),
policies (one default, one policy per pair), overrides (no two on one day), pinning with the
markup exact to the cent, an override winning, and bad input refused without changing anything."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from billow.api.container import container
from billow.domain.errors import BillowError, ValidationFailed
from billow.domain.money import Money
from billow.domain.tenancy import Scope
from billow.services.invoices import _same_currency_fx
from billow.settings import reset_settings
from tests.integration.invoicing.conftest import assert_refused
from tests.integration.test_api_conventions import stored_items
from tests.support.api_client import ApiClient
from tests.support.ecb_server import EcbServer

POLICIES = "/v1/fx/policies"
OVERRIDES = "/v1/fx/overrides"
RATES = "/v1/fx/rates"
UNKNOWN_ID = "0190a000-0000-7000-8000-000000000000"
FRIDAY, SATURDAY, MONDAY = date(2024, 6, 28), date(2024, 6, 29), date(2024, 7, 1)


@pytest.fixture
def ecb(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[EcbServer]:
    """A local ECB holding 26 June to 1 July 2024, and its rates fetched into the table."""
    with EcbServer() as server:
        monkeypatch.setenv("BILLOW_ECB_BASE_URL", server.url)
        reset_settings()
        result = container().fx.refresh_reference_rates()
        assert (result.fetched, result.stored) == (4, 4)
        yield server


def scope_of(api: ApiClient) -> Scope:
    return container().tenancy.authenticate(str(api.api_key)).scope


def items_of(*kinds: str) -> list[dict[str, Any]]:
    return [item for item in stored_items() if item.get("kind", {}).get("S") in kinds]


def create_policy(api: ApiClient, **body: Any) -> dict[str, Any]:
    response = api.post(POLICIES, {"name": "Standard", **body})
    assert response.status == 201, response.body
    return dict(response.data)


def create_override(api: ApiClient, **body: Any) -> dict[str, Any]:
    fields = {
        "base_currency": "USD",
        "quote_currency": "EUR",
        "rate": "0.95",
        "valid_from": "2024-06-01",
        **body,
    }
    response = api.post(OVERRIDES, fields)
    assert response.status == 201, response.body
    return dict(response.data)


# --- rates -------------------------------------------------------------------------------------


def test_rates_of_a_date_and_of_a_weekend(api: ApiClient, ecb: EcbServer) -> None:
    friday = api.get(RATES, query={"date": "2024-06-28"})
    assert friday.status == 200, friday.body
    assert friday.data == {
        "object": "fx_rates",
        "source": "ecb",
        "date": "2024-06-28",
        "requested_date": "2024-06-28",
        "base": "EUR",
        "rates": {"CHF": "0.9634", "GBP": "0.84638", "JPY": "171.94", "SEK": "11.3595", "USD": "1.0705"},
    }
    saturday = api.get(RATES, query={"date": "2024-06-29"}).data
    assert (saturday["date"], saturday["requested_date"]) == ("2024-06-28", "2024-06-29")
    assert saturday["rates"] == friday.data["rates"]
    latest = api.get(RATES).data
    assert (latest["date"], latest["requested_date"], latest["rates"]["USD"]) == (
        "2024-07-01",
        None,
        "1.0746",
    )
    cross = api.get(RATES, query={"date": "2024-06-30", "base": "USD", "quote": "GBP"}).data
    assert cross["rates"] == {"GBP": "0.7906398879"}  # 0.84638 / 1.0705, 10 digits


def test_a_date_without_rates_is_a_problem(api: ApiClient, ecb: EcbServer) -> None:
    assert_refused(api.get(RATES, query={"date": "2024-06-01"}), 422, "fx_rate_unavailable")
    # A week and more after the newest publication held: not priced at an old rate.
    assert_refused(api.get(RATES, query={"date": "2024-07-20"}), 422, "fx_rate_unavailable")
    assert_refused(api.get(RATES, query={"date": "2024-06-28", "quote": "ARS"}), 422, "fx_rate_unavailable")
    for query in ({"date": "2024-02-30"}, {"date": "28.06.2024"}, {"base": "usd"}, {"quote": "EURO"}):
        response = api.get(RATES, query=query)
        assert_refused(response, 422, "validation_failed")
        assert [e.get("parameter") for e in response.json()["errors"]] == [next(iter(query))], response.body
    assert api.get(RATES, auth=False).status == 401


def test_no_rates_held_yet_is_a_problem(api: ApiClient) -> None:
    assert_refused(api.get(RATES), 422, "fx_rate_unavailable")


# --- policies ----------------------------------------------------------------------------------


def test_policy_lifecycle_pagination_and_one_default(api: ApiClient, other_api: ApiClient) -> None:
    created = api.post(
        POLICIES,
        {
            "name": "Card payments",
            "markup_percent": "1.5",
            "rate_date": "period_end",
            "applies_to": {"currency_pairs": [{"base_currency": "USD", "quote_currency": "EUR"}]},
            "metadata": {"team": "finance"},
        },
    )
    assert created.status == 201, created.body
    policy = created.data
    assert created.header("Location") == f"{POLICIES}/{policy['id']}"
    assert created.header("ETag") == '"1"'
    assert {
        k: policy[k] for k in ("object", "rate_source", "rate_date", "markup_percent", "is_default", "status")
    } == {
        "object": "fx_policy",
        "rate_source": "ecb",
        "rate_date": "period_end",
        "markup_percent": "1.5",
        "is_default": False,  # not the default unless asked: a pair's markup must not spread
        "status": "active",
    }
    assert api.get(f"{POLICIES}/{policy['id']}").data == policy
    assert other_api.get(f"{POLICIES}/{policy['id']}").status == 404

    first_default = create_policy(api, name="Default", is_default=True)
    second_default = create_policy(api, name="New default", is_default=True, markup_percent="0.25")
    listed = api.get(POLICIES).data
    assert [p["id"] for p in listed] == [
        second_default["id"],
        first_default["id"],
        policy["id"],
    ]  # newest first
    assert [p["id"] for p in listed if p["is_default"]] == [second_default["id"]]
    page = api.get(POLICIES, query={"limit": "2"})
    assert page.json()["pagination"]["has_more"] is True
    cursor = page.json()["pagination"]["next_cursor"]
    rest = api.get(POLICIES, query={"limit": "2", "cursor": cursor})
    assert [p["id"] for p in rest.data] == [policy["id"]]
    assert rest.json()["pagination"] == {"next_cursor": None, "has_more": False}
    assert_refused(api.get(POLICIES, query={"cursor": cursor + "x"}), 400, "invalid_cursor")

    patched = api.patch(
        f"{POLICIES}/{policy['id']}",
        {"markup_percent": "2", "metadata": {"team": ""}},
        headers={"If-Match": '"1"'},
    )
    assert patched.status == 200, patched.body
    assert (patched.data["markup_percent"], patched.data["metadata"], patched.header("ETag")) == (
        "2",
        {},
        '"2"',
    )
    stale = api.patch(f"{POLICIES}/{policy['id']}", {"name": "x"}, headers={"If-Match": '"1"'})
    assert_refused(stale, 412, "precondition_failed")

    archived = api.post(f"{POLICIES}/{second_default['id']}/archive")
    assert archived.status == 200, archived.body
    assert (archived.data["status"], archived.data["is_default"]) == ("archived", False)
    assert_refused(api.post(f"{POLICIES}/{second_default['id']}/archive"), 409, "invalid_state_transition")
    assert api.get(POLICIES, query={"status": "archived"}).data[0]["id"] == second_default["id"]
    # The default is free again: none applies until one is made the default.
    assert container().fx.default_policy(scope_of(api)) is None
    types = [
        item["event_type"]["S"] for item in items_of("event") if item["aggregate_type"]["S"] == "fx_policy"
    ]
    assert sorted(types) == sorted(
        ["fx_policy.created"] * 3 + ["fx_policy.updated", "fx_policy.updated", "fx_policy.archived"]
    )


def test_a_pair_follows_one_policy(api: ApiClient, other_api: ApiClient) -> None:
    pair = {"currency_pairs": [{"base_currency": "USD", "quote_currency": "EUR"}]}
    first = create_policy(api, applies_to=pair)
    taken = api.post(POLICIES, {"name": "Another", "applies_to": pair})
    assert_refused(taken, 409, "conflict", "/applies_to/currency_pairs/0")
    assert first["id"] in taken.json()["detail"]
    create_policy(other_api, applies_to=pair)  # another tenant's pairs are its own
    assert len(items_of("fx_policy")) == 2
    api.post(f"{POLICIES}/{first['id']}/archive")
    create_policy(api, name="Successor", applies_to=pair)  # released by the archive


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": "x", "markup_percent": "10.5"}, "/markup_percent"),
        ({"name": "x", "markup_percent": "1.23456"}, "/markup_percent"),
        ({"name": "x", "markup_percent": 1.5}, "/markup_percent"),
        ({"name": "x", "rate_date": "due_date"}, "/rate_date"),
        ({"name": "x", "rate_source": "fed"}, "/rate_source"),
        ({"name": ""}, "/name"),
        (
            {
                "name": "x",
                "applies_to": {"currency_pairs": [{"base_currency": "EUR", "quote_currency": "EUR"}]},
            },
            "/applies_to/currency_pairs/0",
        ),
        (
            {
                "name": "x",
                "applies_to": {"currency_pairs": [{"base_currency": "ABC", "quote_currency": "EUR"}]},
            },
            "/applies_to/currency_pairs/0/base_currency",
        ),
        ({"name": "x", "surprise": True}, "/surprise"),
    ],
)
def test_bad_policies_are_refused_and_change_nothing(
    api: ApiClient, body: dict[str, Any], pointer: str
) -> None:
    before = len(stored_items())
    assert_refused(api.post(POLICIES, body), 422, "validation_failed", pointer)
    assert len(stored_items()) == before


def test_patching_a_policy_badly_changes_nothing(api: ApiClient) -> None:
    policy = create_policy(api, markup_percent="1")
    for body, pointer in (({"markup_percent": "11"}, "/markup_percent"), ({"name": None}, "/name")):
        assert_refused(api.patch(f"{POLICIES}/{policy['id']}", body), 422, "validation_failed", pointer)
    assert api.get(f"{POLICIES}/{policy['id']}").data == policy
    assert_refused(api.get(f"{POLICIES}/{UNKNOWN_ID}"), 404, "not_found")


# --- overrides ---------------------------------------------------------------------------------


def test_override_lifecycle(api: ApiClient, other_api: ApiClient) -> None:
    june = create_override(api, valid_to="2024-06-30", description="agreed with the customer")
    assert {k: june[k] for k in ("object", "rate", "valid_from", "valid_to", "version")} == {
        "object": "fx_override",
        "rate": "0.95",
        "valid_from": "2024-06-01",
        "valid_to": "2024-06-30",
        "version": 1,
    }
    assert api.get(f"{OVERRIDES}/{june['id']}").data == june
    assert other_api.get(f"{OVERRIDES}/{june['id']}").status == 404
    july = create_override(api, rate="0.96", valid_from="2024-07-01")  # adjacent: fine
    create_override(api, base_currency="EUR", quote_currency="USD", rate="1.05")
    overlapping = api.post(
        OVERRIDES,
        {
            "base_currency": "USD",
            "quote_currency": "EUR",
            "rate": "1",
            "valid_from": "2024-06-15",
            "valid_to": "2024-06-20",
        },
    )
    assert_refused(overlapping, 409, "conflict", "/valid_from")
    assert june["id"] in overlapping.json()["detail"]

    usd_eur = api.get(OVERRIDES, query={"base_currency": "USD", "quote_currency": "EUR"}).data
    assert [o["id"] for o in usd_eur] == [july["id"], june["id"]]
    page = api.get(OVERRIDES, query={"limit": "1"})
    assert page.json()["pagination"]["has_more"] is True
    second = api.get(OVERRIDES, query={"limit": "1", "cursor": page.json()["pagination"]["next_cursor"]})
    assert [o["id"] for o in second.data] == [july["id"]]

    assert_refused(
        api.request("DELETE", f"{OVERRIDES}/{june['id']}", headers={"If-Match": '"7"'}),
        412,
        "precondition_failed",
    )
    deleted = api.request("DELETE", f"{OVERRIDES}/{june['id']}")
    assert deleted.status == 200, deleted.body
    assert (deleted.data["id"], deleted.data["deleted"], deleted.data["version"]) == (june["id"], True, 2)
    assert_refused(api.get(f"{OVERRIDES}/{june['id']}"), 404, "not_found")
    assert_refused(api.request("DELETE", f"{OVERRIDES}/{june['id']}"), 404, "not_found")
    create_override(api, valid_from="2024-06-15", valid_to="2024-06-20")  # the days are free again
    types = sorted(
        item["event_type"]["S"] for item in items_of("event") if item["aggregate_id"]["S"] == june["id"]
    )
    assert types == ["fx_override.created", "fx_override.deleted"]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"rate": "0"}, "/rate"),
        ({"rate": "-1"}, "/rate"),
        ({"rate": 0.95}, "/rate"),
        ({"valid_to": "2024-05-01"}, "/valid_to"),
        ({"valid_from": "2024-02-30"}, "/valid_from"),
        ({"valid_from": "June 1"}, "/valid_from"),
        ({"quote_currency": "USD"}, "/quote_currency"),
        ({"base_currency": "XYZ"}, "/base_currency"),
    ],
)
def test_bad_overrides_are_refused_and_change_nothing(
    api: ApiClient, changes: dict[str, Any], pointer: str
) -> None:
    before = len(stored_items())
    body = {
        "base_currency": "USD",
        "quote_currency": "EUR",
        "rate": "0.95",
        "valid_from": "2024-06-01",
        **changes,
    }
    assert_refused(api.post(OVERRIDES, body), 422, "validation_failed", pointer)
    assert len(stored_items()) == before


# --- pinning -----------------------------------------------------------------------------------


def test_pinning_a_weekend_takes_fridays_rate_with_the_markup_to_the_cent(
    api: ApiClient, ecb: EcbServer
) -> None:
    fx = container().fx
    scope = scope_of(api)
    builtin = fx.pin(scope, "EUR", "USD", SATURDAY)
    assert (builtin.rate, builtin.rate_date, builtin.source, builtin.policy_id) == (
        Decimal("1.0705"),
        FRIDAY,
        "ecb",
        None,
    )
    policy = create_policy(
        api,
        markup_percent="2",
        applies_to={"currency_pairs": [{"base_currency": "USD", "quote_currency": "EUR"}]},
    )
    pinned = fx.pin(scope, "USD", "EUR", SATURDAY)
    # 1 / 1.0705 = 0.9341429239 (10 digits), raised by 2 %: 0.952825782378.
    assert (pinned.reference_rate, pinned.rate) == (Decimal("0.9341429239"), Decimal("0.952825782378"))
    assert (pinned.policy_id, pinned.markup_percent, pinned.rate_date) == (policy["id"], Decimal("2"), FRIDAY)
    assert pinned.convert(Money.of("1000.00", "USD")) == Money.of("952.83", "EUR")  # 952.825782378
    assert pinned.convert(Money.of("49.99", "USD")) == Money.of("47.63", "EUR")  # 47.63176586...
    # Without the markup the customer would pay less: the markup works against them.
    assert builtin.convert(Money.of("1000.00", "EUR")) == Money.of("1070.50", "USD")

    default = create_policy(api, name="Default", is_default=True, markup_percent="0.5")
    other_pair = fx.pin(scope, "EUR", "JPY", MONDAY)
    assert (other_pair.rate, other_pair.policy_id) == (Decimal("173.15") * Decimal("1.005"), default["id"])
    assert other_pair.convert(Money.of("10.00", "EUR")) == Money.of("1740", "JPY")  # 1740.1575

    same = fx.pin(scope, "EUR", "EUR", SATURDAY)
    assert same.to_dict() | _same_currency_fx("EUR", "2024-06-29") == same.to_dict()
    assert (same.rate, same.source) == (Decimal(1), "same_currency")


def test_an_override_covering_the_date_wins(api: ApiClient, ecb: EcbServer) -> None:
    fx = container().fx
    scope = scope_of(api)
    create_policy(
        api,
        markup_percent="3",
        applies_to={"currency_pairs": [{"base_currency": "USD", "quote_currency": "EUR"}]},
    )
    june = create_override(api, rate="0.9", valid_to="2024-06-30")
    pinned = fx.pin(scope, "USD", "EUR", FRIDAY)
    assert (pinned.source, pinned.rate, pinned.override_id, pinned.markup_percent) == (
        "override",
        Decimal("0.9"),
        june["id"],
        Decimal(0),
    )
    assert pinned.convert(Money.of("100.00", "USD")) == Money.of("90.00", "EUR")
    assert fx.pin(scope, "USD", "EUR", MONDAY).source == "ecb"  # the override ended on the 30th
    # An override needs no reference rates at all.
    assert fx.pin(scope, "USD", "EUR", date(2024, 6, 2)).rate == Decimal("0.9")


def test_pinning_a_date_without_rates_is_a_clear_error(api: ApiClient, ecb: EcbServer) -> None:
    fx = container().fx
    scope = scope_of(api)
    with pytest.raises(BillowError) as failure:
        fx.pin(scope, "USD", "EUR", date(2024, 5, 2))
    assert (failure.value.code, failure.value.status) == ("fx_rate_unavailable", 422)
    assert "2024-05-02" in failure.value.detail
    with pytest.raises(BillowError, match="fx_rate_unavailable"):
        fx.pin(scope, "EUR", "ARS", FRIDAY)
    archived = create_policy(api)
    api.post(f"{POLICIES}/{archived['id']}/archive")
    with pytest.raises(ValidationFailed) as refused:
        fx.pin(scope, "USD", "EUR", FRIDAY, archived["id"])
    assert [e.pointer for e in refused.value.errors] == ["/policy_id"]


# --- EU VAT rates ------------------------------------------------------------------------------


def test_the_eu_vat_rates_in_use(api: ApiClient) -> None:
    table = api.get("/v1/tax/eu-vat-rates")
    assert table.status == 200, table.body
    data = table.data
    assert (data["object"], data["bundled"], data["refreshed_at"]) == ("eu_vat_rates", True, None)
    assert len(data["states"]) == 27
    assert data["source"]
    assert data["as_of"]
    germany = api.get("/v1/tax/eu-vat-rates", query={"country": "DE"}).data
    assert list(germany["states"]) == ["DE"]
    assert germany["states"]["DE"]["standard"] == "19"
    assert list(api.get("/v1/tax/eu-vat-rates", query={"country": "EL"}).data["states"]) == ["GR"]
    assert_refused(api.get("/v1/tax/eu-vat-rates", query={"country": "US"}), 422, "validation_failed")
    assert_refused(api.get("/v1/tax/eu-vat-rates", query={"country": "germany"}), 422, "validation_failed")
