"""The seller's tax profile (domain/tax_profile.py): parsed from a request body with every
problem reported at once, stored and read back, and changed by merge patch."""

from __future__ import annotations

from typing import Any

import pytest

from billow.domain.address import Address
from billow.domain.errors import ValidationFailed
from billow.domain.tax_profile import (
    PaymentDetails,
    SellerContact,
    parse_tax_profile,
    profile_to_raw,
    tax_profile_from_dict,
    tax_profile_to_dict,
)

NOW = "2026-03-01T00:00:00Z"


def body(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "legal_name": "Billow Software GmbH",
        "trading_name": "Billow",
        "address": {"line1": "Torstraße 1", "city": "Berlin", "postal_code": "10119", "country": "DE"},
        "vat_id": "DE 136 695 976",
        "tax_number": "37/123/45678",
        "legal_registration": "HRB 12345, Amtsgericht Berlin",
        "contact": {"name": "Ada Accounts", "email": "billing@billow.example", "phone": "+49 30 1234567"},
        "electronic_address": "invoices@billow.example",
        "tax_regime": "standard",
        "prices_include_tax": True,
        "oss_registered": True,
        "payment_details": {
            "iban": "DE89 3704 0044 0532 0130 00",
            "bic": "COBADEFFXXX",
            "account_name": "Billow Software GmbH",
            "sepa_creditor_id": "DE98ZZZ09999999999",
        },
    }
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationFailed) as failure:
        parse_tax_profile(raw)
    return [error.pointer for error in failure.value.errors]


def test_a_full_profile() -> None:
    profile = parse_tax_profile(body(), livemode=True, now=NOW)
    assert profile.legal_name == "Billow Software GmbH"
    assert profile.address == Address(line1="Torstraße 1", city="Berlin", postal_code="10119", country="DE")
    assert (profile.vat_id, profile.vat_id_type, profile.vat_id_country) == ("DE136695976", "eu_vat", "DE")
    assert profile.country == "DE"
    assert profile.tax_regime == "standard"
    assert (profile.prices_include_tax, profile.oss_registered) == (True, True)
    assert profile.contact == SellerContact("Ada Accounts", "billing@billow.example", "+49 30 1234567")
    assert profile.payment_details == PaymentDetails(
        "DE89370400440532013000", "COBADEFFXXX", "Billow Software GmbH", "DE98ZZZ09999999999"
    )
    # Flat views for the documents.
    assert (profile.iban, profile.bic, profile.contact_email) == (
        "DE89370400440532013000",
        "COBADEFFXXX",
        "billing@billow.example",
    )
    assert (profile.created_at, profile.version, profile.livemode) == (NOW, 1, True)
    stored = tax_profile_to_dict(profile)
    assert stored["object"] == "tax_profile"
    assert tax_profile_from_dict(stored) == profile


def test_every_problem_is_reported_at_once() -> None:
    raw = body(
        legal_name="",
        address={"line1": "x", "country": "Germany", "zip": "1"},
        vat_id="DE123",
        tax_number="§ 12",
        contact={"email": "not-an-email", "phone": "call me"},
        electronic_address="nope",
        tax_regime="kleinunternehmer",
        prices_include_tax="yes",
        payment_details={"iban": "DE89370400440532013001", "bic": "XXXX", "sepa_creditor_id": "DE00"},
        colour="red",
    )
    assert sorted(problems(raw)) == sorted(
        [
            "/colour",
            "/legal_name",
            "/address/zip",
            "/address/city",
            "/address/country",
            "/vat_id",
            "/tax_number",
            "/contact/email",
            "/contact/phone",
            "/electronic_address",
            "/tax_regime",
            "/prices_include_tax",
            "/payment_details/iban",
            "/payment_details/bic",
            "/payment_details/sepa_creditor_id",
        ]
    )


def test_required_fields() -> None:
    assert sorted(problems({})) == ["/address", "/legal_name", "/vat_id"]
    assert "/address" in problems(body(address="Berlin"))


def test_a_vat_id_of_another_country_needs_a_note() -> None:
    raw = body(vat_id="FR40303265045")
    assert problems(raw) == ["/vat_id_note"]
    profile = parse_tax_profile({**raw, "vat_id_note": "Registered in France through a fixed establishment"})
    assert (profile.vat_id, profile.vat_id_country) == ("FR40303265045", "FR")


def test_vat_ids_outside_the_eu_by_the_address_country_or_named() -> None:
    uk = body(address={"line1": "1 High St", "city": "London", "country": "GB"}, vat_id="GB 980 7806 84")
    profile = parse_tax_profile(uk)
    assert (profile.vat_id, profile.vat_id_type) == ("GB980780684", "gb_vat")
    named = parse_tax_profile({**uk, "vat_id": {"type": "gb_vat", "value": "980780684"}})
    assert named.vat_id == "GB980780684"
    # Northern Ireland traders have XI VAT ids; the country is GB.
    assert parse_tax_profile({**uk, "vat_id": "XI 980 7806 84"}).vat_id == "XI980780684"
    us = body(address={"line1": "1 Main St", "city": "Austin", "state": "TX", "country": "US"}, vat_id="123")
    assert problems(us) == ["/vat_id"]
    assert "/vat_id/type" in problems({**us, "vat_id": {"type": "us_sales", "value": "1"}})


def test_regimes() -> None:
    # Charging tax needs a VAT ID or a tax number; the small business exemption does not.
    assert problems(body(vat_id=None, tax_number=None)) == ["/vat_id"]
    assert parse_tax_profile(body(vat_id=None)).tax_number == "37/123/45678"
    small = parse_tax_profile(body(vat_id=None, tax_number=None, tax_regime="small_business"))
    assert (small.tax_regime, small.vat_id) == ("small_business", None)
    assert parse_tax_profile(body(vat_id=None, tax_number=None, tax_regime="not_registered")).vat_id is None


def test_a_bic_needs_an_iban() -> None:
    assert problems(body(payment_details={"bic": "COBADEFFXXX"})) == ["/payment_details/iban"]
    assert parse_tax_profile(body(payment_details=None)).payment_details == PaymentDetails()


def test_a_merge_patch_is_checked_as_a_whole() -> None:
    profile = parse_tax_profile(body(), now=NOW)
    later = "2026-04-01T00:00:00Z"
    moved = profile.with_changes(
        {"address": {"city": "Potsdam", "postal_code": "14467"}, "trading_name": None}, later
    )
    assert (moved.address.city, moved.address.line1, moved.trading_name) == ("Potsdam", "Torstraße 1", None)
    assert (moved.version, moved.created_at, moved.updated_at) == (2, NOW, later)
    assert moved.vat_id == profile.vat_id
    # Moving to France makes the German VAT ID need a note.
    with pytest.raises(ValidationFailed) as failure:
        profile.with_changes({"address": {"country": "FR"}}, later)
    assert [e.pointer for e in failure.value.errors] == ["/vat_id_note"]
    cleared = profile.with_changes({"payment_details": {"bic": None, "iban": None}}, later)
    assert cleared.payment_details == PaymentDetails(
        account_name="Billow Software GmbH", sepa_creditor_id="DE98ZZZ09999999999"
    )
    assert parse_tax_profile(profile_to_raw(profile), now=NOW) == profile
