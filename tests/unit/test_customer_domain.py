"""The Customer aggregate: changes, status transitions, merging, (de)serialisation, field parsing."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.address import Address, parse_country
from billow.domain.customer import (
    MUTABLE_FIELDS,
    Customer,
    customer_from_dict,
    customer_to_dict,
    merge_customers,
    parse_customer_fields,
)
from billow.domain.errors import Conflict, InvalidStateTransition, ValidationFailed
from billow.domain.tax_ids import TaxId

CREATED = "2026-01-01T00:00:00Z"
LATER = "2026-01-31T12:00:00Z"
TARGET_ID = "0190b0e2-0000-7000-8000-000000000001"
SOURCE_ID = "0190b0e2-0000-7000-8000-000000000002"
DE_VAT = TaxId("eu_vat", "DE136695976", "DE")
FR_VAT = TaxId("eu_vat", "FR40303265045", "FR")
GB_VAT = TaxId("gb_vat", "980780684", "GB")


def customer(**overrides: Any) -> Customer:
    values: dict[str, Any] = {
        "id": TARGET_ID,
        "livemode": False,
        "name": "Acme GmbH",
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(overrides)
    return Customer(**values)


# --- with_changes ----------------------------------------------------------------------------


def test_with_changes_applies_fields_and_moves_version_and_updated_at() -> None:
    before = customer(version=3)
    after = before.with_changes({"name": "Acme AG", "email": "billing@acme.example"}, LATER)
    assert (after.name, after.email) == ("Acme AG", "billing@acme.example")
    assert after.version == 4
    assert after.updated_at == LATER
    assert after.created_at == CREATED
    assert (after.id, after.livemode, after.status) == (before.id, before.livemode, before.status)
    assert before.name == "Acme GmbH"  # the original is untouched
    assert before.version == 3


def test_with_no_changes_still_moves_version() -> None:
    after = customer().with_changes({}, LATER)
    assert (after.version, after.updated_at) == (2, LATER)


NEW_VALUES: dict[str, Any] = {
    "external_id": "crm-1",
    "type": "individual",
    "name": "New name",
    "email": "new@example.com",
    "phone": "+49 30 1",
    "billing_address": Address(city="Berlin", country="DE"),
    "tax_ids": (DE_VAT,),
    "currency": "EUR",
    "locale": "de-DE",
    "timezone": "Europe/Berlin",
    "billing_model": "prepaid",
    "tax_exempt": "reverse",
    "custom_fields": {"tier": "gold"},
    "tags": ("vip",),
    "metadata": {"k": "v"},
}


def test_mutable_fields_are_exactly_the_patchable_ones() -> None:
    assert set(NEW_VALUES) == MUTABLE_FIELDS


@pytest.mark.parametrize("field", sorted(NEW_VALUES))
def test_every_mutable_field_can_change(field: str) -> None:
    after = customer().with_changes({field: NEW_VALUES[field]}, LATER)
    assert getattr(after, field) == NEW_VALUES[field]
    assert after.version == 2


@pytest.mark.parametrize(
    "field", ["id", "livemode", "status", "version", "created_at", "updated_at", "merged_into", "nope"]
)
def test_with_changes_refuses_fields_billow_owns(field: str) -> None:
    with pytest.raises(ValueError, match="not mutable"):
        customer().with_changes({field: "x"}, LATER)


def test_with_changes_refuses_an_archived_customer() -> None:
    archived = customer(status="archived", merged_into=SOURCE_ID)
    with pytest.raises(InvalidStateTransition) as failure:
        archived.with_changes({"name": "x"}, LATER)
    assert failure.value.code == "invalid_state_transition"
    assert failure.value.status == 409


def test_a_disabled_customer_can_still_change() -> None:
    assert customer(status="disabled").with_changes({"name": "x"}, LATER).name == "x"


# --- disable / enable ------------------------------------------------------------------------


def test_disable_then_enable() -> None:
    disabled = customer().disable(LATER)
    assert (disabled.status, disabled.version, disabled.updated_at) == ("disabled", 2, LATER)
    enabled = disabled.enable("2026-02-01T00:00:00Z")
    assert (enabled.status, enabled.version, enabled.updated_at) == ("active", 3, "2026-02-01T00:00:00Z")


@pytest.mark.parametrize("status", ["disabled", "archived"])
def test_only_active_customers_can_be_disabled(status: str) -> None:
    with pytest.raises(InvalidStateTransition, match=f"this one is {status}"):
        customer(status=status).disable(LATER)


@pytest.mark.parametrize("status", ["active", "archived"])
def test_only_disabled_customers_can_be_enabled(status: str) -> None:
    with pytest.raises(InvalidStateTransition, match=f"this one is {status}"):
        customer(status=status).enable(LATER)


# --- merge -----------------------------------------------------------------------------------


def test_merge_target_wins_and_fills_gaps_from_source() -> None:
    target = customer(
        name="Target",
        email="target@example.com",
        phone=None,
        billing_address=None,
        currency=None,
        timezone="Europe/Berlin",
        external_id="ext-target",
        locale="de",
        billing_model="prepaid",
        type="individual",
        version=4,
    )
    source_address = Address(line1="1 Source St", city="Paris", country="FR")
    source = customer(
        id=SOURCE_ID,
        name="Source",
        email="source@example.com",
        phone="+33 1 23 45 67 89",
        billing_address=source_address,
        currency="EUR",
        timezone="Europe/Paris",
        external_id="ext-source",
        locale="fr",
        version=2,
    )
    merged, archived = merge_customers(target, source, LATER)
    assert merged.name == "Target"
    assert merged.email == "target@example.com"
    assert merged.timezone == "Europe/Berlin"
    assert (merged.locale, merged.billing_model, merged.type) == ("de", "prepaid", "individual")
    assert merged.phone == "+33 1 23 45 67 89"
    assert merged.billing_address == source_address
    assert merged.currency == "EUR"
    assert merged.external_id == "ext-target"
    assert (merged.version, merged.updated_at, merged.status) == (5, LATER, "active")

    assert archived.status == "archived"
    assert archived.merged_into == TARGET_ID
    assert archived.external_id is None  # released, not moved
    assert (archived.version, archived.updated_at) == (3, LATER)
    assert archived.name == "Source"


def test_merge_unites_tags_and_tax_ids_without_duplicates() -> None:
    target = customer(tags=("vip", "eu"), tax_ids=(DE_VAT, FR_VAT))
    source = customer(id=SOURCE_ID, tags=("eu", "beta", "vip"), tax_ids=(FR_VAT, GB_VAT))
    merged, _ = merge_customers(target, source, LATER)
    assert merged.tags == ("vip", "eu", "beta")
    assert merged.tax_ids == (DE_VAT, FR_VAT, GB_VAT)


def test_merge_metadata_and_custom_fields_target_wins_on_shared_keys() -> None:
    target = customer(metadata={"crm": "t-1", "owner": "ana"}, custom_fields={"tier": "gold"})
    source = customer(
        id=SOURCE_ID, metadata={"crm": "s-9", "legacy": "yes"}, custom_fields={"tier": "silver", "seats": "3"}
    )
    merged, archived = merge_customers(target, source, LATER)
    assert merged.metadata == {"crm": "t-1", "owner": "ana", "legacy": "yes"}
    assert merged.custom_fields == {"tier": "gold", "seats": "3"}
    assert archived.metadata == {"crm": "s-9", "legacy": "yes"}  # the source keeps its own data


def test_merge_does_not_touch_its_inputs() -> None:
    target = customer(metadata={"a": "1"}, tags=("x",))
    source = customer(id=SOURCE_ID, metadata={"b": "2"}, tags=("y",))
    merge_customers(target, source, LATER)
    assert (target.metadata, target.tags, target.version) == ({"a": "1"}, ("x",), 1)
    assert (source.metadata, source.status, source.version) == ({"b": "2"}, "active", 1)


def test_merge_into_itself_is_a_conflict() -> None:
    with pytest.raises(Conflict) as failure:
        merge_customers(customer(), customer(), LATER)
    assert failure.value.code == "conflict"
    assert failure.value.status == 409


def test_merge_across_currencies_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="EUR"):
        merge_customers(customer(currency="USD"), customer(id=SOURCE_ID, currency="EUR"), LATER)


@pytest.mark.parametrize(("target_currency", "source_currency"), [(None, "EUR"), ("EUR", None), (None, None)])
def test_merge_with_a_missing_currency_is_allowed(
    target_currency: str | None, source_currency: str | None
) -> None:
    merged, _ = merge_customers(
        customer(currency=target_currency), customer(id=SOURCE_ID, currency=source_currency), LATER
    )
    assert merged.currency == (target_currency or source_currency)


@pytest.mark.parametrize("which", ["target", "source"])
def test_merging_an_already_merged_customer_is_an_invalid_transition(which: str) -> None:
    target, source = customer(), customer(id=SOURCE_ID)
    if which == "target":
        target = replace(target, status="archived", merged_into="someone")
    else:
        source = replace(source, status="archived", merged_into="someone")
    with pytest.raises(InvalidStateTransition, match="already merged"):
        merge_customers(target, source, LATER)


# --- (de)serialisation -----------------------------------------------------------------------


def full_customer() -> Customer:
    return customer(
        external_id="crm-42",
        type="individual",
        email="a@example.com",
        phone="+49 30 1234",
        billing_address=Address(line1="Main St 1", city="Berlin", postal_code="10115", country="DE"),
        tax_ids=(DE_VAT, GB_VAT),
        currency="EUR",
        locale="de-DE",
        timezone="Europe/Berlin",
        billing_model="hybrid",
        custom_fields={"tier": "gold", "seats": "3", "vip": True},
        tags=("a", "b"),
        metadata={"k": "v"},
        status="disabled",
        version=7,
    )


def test_customer_to_dict_is_the_public_representation() -> None:
    data = customer_to_dict(full_customer())
    assert data["object"] == "customer"
    assert data["billing_address"] == {
        "line1": "Main St 1",
        "line2": None,
        "city": "Berlin",
        "postal_code": "10115",
        "state": None,
        "country": "DE",
    }
    assert data["tax_ids"] == [
        {"type": "eu_vat", "value": "DE136695976", "country": "DE"},
        {"type": "gb_vat", "value": "980780684", "country": "GB"},
    ]
    assert data["tags"] == ["a", "b"]
    assert data["version"] == 7
    assert set(data) == {
        "id",
        "object",
        "livemode",
        "external_id",
        "type",
        "name",
        "email",
        "phone",
        "billing_address",
        "tax_ids",
        "currency",
        "locale",
        "timezone",
        "billing_model",
        "tax_exempt",
        "custom_fields",
        "tags",
        "metadata",
        "status",
        "merged_into",
        "test_clock_id",
        "created_at",
        "updated_at",
        "version",
    }
    json.dumps(data)  # plain JSON, nothing else


def test_customer_to_dict_copies_mutable_parts() -> None:
    original = full_customer()
    data = customer_to_dict(original)
    data["metadata"]["k"] = "changed"
    data["custom_fields"]["tier"] = "changed"
    assert original.metadata == {"k": "v"}
    assert original.custom_fields["tier"] == "gold"


def test_round_trip_of_a_full_customer() -> None:
    original = full_customer()
    assert customer_from_dict(customer_to_dict(original)) == original
    assert customer_from_dict(json.loads(json.dumps(customer_to_dict(original)))) == original


def test_customer_from_dict_defaults() -> None:
    restored = customer_from_dict(
        {"id": TARGET_ID, "livemode": 1, "name": "A", "created_at": CREATED, "updated_at": CREATED}
    )
    assert restored.livemode is True
    assert restored == customer(name="A", livemode=True)
    assert (restored.type, restored.locale, restored.billing_model, restored.status, restored.version) == (
        "company",
        "en",
        "postpaid",
        "active",
        1,
    )


def test_customer_from_dict_treats_nulls_as_empty() -> None:
    data = customer_to_dict(customer())
    data.update(tax_ids=None, tags=None, metadata=None, custom_fields=None, billing_address=None)
    restored = customer_from_dict(data)
    assert (restored.tax_ids, restored.tags, restored.metadata, restored.custom_fields) == ((), (), {}, {})
    assert restored.billing_address is None


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
optional_text = st.none() | text
addresses = st.builds(
    Address,
    line1=optional_text,
    line2=optional_text,
    city=optional_text,
    postal_code=optional_text,
    state=optional_text,
    country=st.none() | st.sampled_from(["DE", "FR", "GB", "US"]),
)
tax_ids = st.sampled_from([DE_VAT, FR_VAT, GB_VAT, TaxId("us_ein", "042103594", "US")])
custom_values = st.none() | st.booleans() | text | st.integers().map(str)
customers = st.builds(
    Customer,
    id=st.uuids().map(str),
    livemode=st.booleans(),
    name=text,
    created_at=st.just(CREATED),
    updated_at=st.just(LATER),
    external_id=optional_text,
    type=st.sampled_from(["individual", "company"]),
    email=optional_text,
    phone=optional_text,
    billing_address=st.none() | addresses,
    tax_ids=st.lists(tax_ids, unique=True, max_size=3).map(tuple),
    currency=st.none() | st.sampled_from(["EUR", "USD", "JPY"]),
    locale=st.sampled_from(["en", "de-DE", "fr"]),
    timezone=st.none() | st.sampled_from(["UTC", "Europe/Berlin"]),
    billing_model=st.sampled_from(["prepaid", "postpaid", "hybrid"]),
    custom_fields=st.dictionaries(text, custom_values, max_size=4),
    tags=st.lists(text, unique=True, max_size=4).map(tuple),
    metadata=st.dictionaries(text, text, max_size=4),
    status=st.sampled_from(["active", "disabled", "archived"]),
    merged_into=st.none() | st.uuids().map(str),
    version=st.integers(min_value=1, max_value=10**6),
)


@given(original=customers)
def test_round_trip_through_json(original: Customer) -> None:
    wire = json.loads(json.dumps(customer_to_dict(original)))
    assert customer_from_dict(wire) == original


@given(original=customers)
def test_round_trip_is_stable(original: Customer) -> None:
    once = customer_to_dict(original)
    assert customer_to_dict(customer_from_dict(once)) == once


# --- parse_customer_fields -------------------------------------------------------------------


def test_parse_customer_fields_turns_input_into_domain_values() -> None:
    fields = parse_customer_fields(
        {
            "name": "Acme",
            "tax_ids": [
                {"type": "eu_vat", "value": "DE 136 695 976"},
                {"type": "gb_vat", "value": "GB980780684"},
            ],
            "billing_address": {"line1": "Main St 1", "country": "DE"},
            "currency": "EUR",
            "timezone": "Europe/Berlin",
            "locale": "de-DE",
            "tags": ["vip", "eu", "vip"],
            "metadata": {"crm": "42"},
            "email": "a@example.com",
        }
    )
    assert fields == {
        "name": "Acme",
        "tax_ids": (DE_VAT, GB_VAT),
        "billing_address": Address(line1="Main St 1", country="DE"),
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "locale": "de-DE",
        "tags": ("vip", "eu"),
        "metadata": {"crm": "42"},
        "email": "a@example.com",
    }


def test_parse_customer_fields_only_returns_what_was_given() -> None:
    assert parse_customer_fields({}) == {}
    assert parse_customer_fields({"email": "x@example.com"}) == {"email": "x@example.com"}


def test_parse_customer_fields_nulls_clear_or_empty() -> None:
    fields = parse_customer_fields(
        {
            "currency": None,
            "timezone": None,
            "billing_address": None,
            "tax_ids": None,
            "tags": None,
            "metadata": None,
        }
    )
    assert fields == {
        "currency": None,
        "timezone": None,
        "billing_address": None,
        "tax_ids": (),
        "tags": (),
        "metadata": {},
    }


def test_address_without_country_is_fine() -> None:
    assert parse_customer_fields({"billing_address": {"city": "Berlin", "country": None}}) == {
        "billing_address": Address(city="Berlin")
    }


def failures(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as failure:
        parse_customer_fields(raw)
    assert failure.value.detail == "the customer is invalid"
    assert failure.value.code == "validation_failed"
    return [(e.pointer, e.message) for e in failure.value.errors]


@pytest.mark.parametrize("country", ["de", "XX", "DEU", "D", "Germany"])
def test_bad_country(country: str) -> None:
    assert [p for p, _ in failures({"billing_address": {"country": country}})] == ["/billing_address/country"]


@pytest.mark.parametrize("timezone", ["Mars/Base", "europe/berlin", "CET+1", "Berlin", ""])
def test_bad_timezone(timezone: str) -> None:
    assert [p for p, _ in failures({"timezone": timezone})] == ["/timezone"]


@pytest.mark.parametrize(
    "locale", ["xx", "zz-ZZ", "de-XX", "english", "1", "", " de", "de-", "de--DE", "de_DE_", "en-x-private"]
)
def test_bad_locale(locale: str) -> None:
    assert [p for p, _ in failures({"locale": locale})] == ["/locale"]


@pytest.mark.parametrize("locale", ["en", "de", "de-DE", "pt-BR", "zh-Hant-TW", "es-419", "sr-Latn-RS"])
def test_good_locale_is_kept_as_given(locale: str) -> None:
    assert parse_customer_fields({"locale": locale}) == {"locale": locale}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("de_DE", "de-DE"),
        ("de-de", "de-DE"),
        ("DE-de", "de-DE"),
        ("DE_de", "de-DE"),
        ("EN", "en"),
        ("en-us", "en-US"),
        ("pt_BR", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("zh_Hant_TW", "zh-Hant-TW"),
        ("ZH-HANT-TW", "zh-Hant-TW"),
    ],
)
def test_locale_is_stored_in_its_canonical_form(given: str, stored: str) -> None:
    assert parse_customer_fields({"locale": given}) == {"locale": stored}
    assert parse_customer_fields({"locale": stored}) == {"locale": stored}  # canonical is a fixed point


@pytest.mark.parametrize("locale", ["und", "iw", "in", "mo", "tl"])
def test_canonical_locale_invents_no_language_or_region(locale: str) -> None:
    try:
        stored = parse_customer_fields({"locale": locale})["locale"]
    except ValidationFailed:
        return  # refusing it is fine
    assert stored.split("-")[0] in {locale, {"iw": "he", "in": "id", "mo": "ro", "tl": "fil"}.get(locale)}
    assert "-" not in stored, stored


@pytest.mark.parametrize("locale", ["de-DE@euro", "root"])
def test_stored_locale_is_bcp_47(locale: str) -> None:
    try:
        stored = parse_customer_fields({"locale": locale})["locale"]
    except ValidationFailed:
        return  # refusing it is fine
    assert re.fullmatch(r"[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?", stored), stored


@pytest.mark.parametrize("currency", ["eur", "EURO", "ABC"])
def test_bad_currency(currency: str) -> None:
    assert [p for p, _ in failures({"currency": currency})] == ["/currency"]


def test_duplicate_tax_ids_after_normalisation() -> None:
    raw = {
        "tax_ids": [{"type": "eu_vat", "value": "DE136695976"}, {"type": "eu_vat", "value": "DE 136.695.976"}]
    }
    assert failures(raw) == [("/tax_ids", "the same tax id is listed twice")]


def test_invalid_tax_id_points_at_its_entry() -> None:
    raw = {
        "tax_ids": [{"type": "eu_vat", "value": "DE136695976"}, {"type": "eu_vat", "value": "DE136695975"}]
    }
    assert [p for p, _ in failures(raw)] == ["/tax_ids/1/value"]


def test_unknown_tax_id_type_points_at_its_entry() -> None:
    assert [p for p, _ in failures({"tax_ids": [{"type": "xx_vat", "value": "1"}]})] == ["/tax_ids/0/type"]


def test_all_errors_are_reported_together() -> None:
    raw = {
        "name": "Acme",
        "currency": "eur",
        "timezone": "Mars/Base",
        "locale": "xx",
        "billing_address": {"country": "de"},
        "tax_ids": [{"type": "eu_vat", "value": "DE136695976"}, {"type": "eu_vat", "value": "DE 136695976"}],
    }
    assert sorted(p for p, _ in failures(raw)) == [
        "/billing_address/country",
        "/currency",
        "/locale",
        "/tax_ids",
        "/timezone",
    ]


def test_every_invalid_tax_id_is_reported() -> None:
    raw = {"tax_ids": [{"type": "eu_vat", "value": "DE136695975"}, {"type": "nope", "value": "1"}]}
    assert sorted(p for p, _ in failures(raw)) == ["/tax_ids/0/value", "/tax_ids/1/type"]


def test_every_invalid_tax_id_is_reported_next_to_a_duplicate_and_other_errors() -> None:
    raw = {
        "currency": "eur",
        "tax_ids": [
            {"type": "eu_vat", "value": "DE136695975"},
            {"type": "eu_vat", "value": "DE136695976"},
            {"type": "gb_vat", "value": "980780683"},
            {"type": "eu_vat", "value": "DE 136 695 976"},
            {"type": "nope", "value": "1"},
        ],
    }
    errors = failures(raw)
    assert sorted(p for p, _ in errors) == [
        "/currency",
        "/tax_ids",
        "/tax_ids/0/value",
        "/tax_ids/2/value",
        "/tax_ids/4/type",
    ]
    assert ("/tax_ids", "the same tax id is listed twice") in errors
    assert all(m.startswith("invalid ") for p, m in errors if p.endswith("/value"))


def test_greek_vat_ids_typed_with_gr_and_el_are_the_same_tax_id() -> None:
    assert parse_customer_fields({"tax_ids": [{"type": "eu_vat", "value": "GR 094 259 216"}]}) == {
        "tax_ids": (TaxId("eu_vat", "EL094259216", "GR"),)
    }
    raw = {
        "tax_ids": [{"type": "eu_vat", "value": "EL094259216"}, {"type": "eu_vat", "value": "GR094259216"}]
    }
    assert failures(raw) == [("/tax_ids", "the same tax id is listed twice")]


@pytest.mark.parametrize("code", ["ZZ", "XA", "XB", "QO", "EU", "EZ", "UN"])
def test_cldr_only_region_codes_are_not_countries(code: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_country(code, "/billing_address/country")
    assert [(e.pointer, e.message) for e in failure.value.errors] == [
        ("/billing_address/country", f"'{code}' is not an ISO 3166-1 alpha-2 country code")
    ]
    assert [p for p, _ in failures({"billing_address": {"country": code}})] == ["/billing_address/country"]


@pytest.mark.parametrize("code", ["AC", "CP", "CQ", "DG", "EA", "IC", "TA"])
def test_exceptionally_reserved_codes_are_not_countries(code: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_country(code, "/billing_address/country")


@pytest.mark.parametrize(
    "code", ["DE", "FR", "GB", "GR", "US", "JP", "CH", "NO", "BG", "HR", "CW", "SS", "AX"]
)
def test_real_countries(code: str) -> None:
    assert parse_country(code, "/billing_address/country") == code
