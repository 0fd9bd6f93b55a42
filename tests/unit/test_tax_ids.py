"""Tax ids: python-stdnum checks format and check digits; Billow normalises and names the country.

Every valid example below is also checked against python-stdnum directly, so a fixture that
stopped being valid would show up as its own failure rather than as a bug in Billow.
"""

from __future__ import annotations

import importlib

import pytest

from billow.domain.errors import ValidationFailed
from billow.domain.tax_ids import TAX_ID_TYPES, TaxId, parse_tax_id

POINTER = "/tax_ids/0"

# (type, as typed by a user, normalised value, country)
VALID = [
    ("eu_vat", "DE136695976", "DE136695976", "DE"),
    ("eu_vat", "DE 136 695 976", "DE136695976", "DE"),
    ("eu_vat", "FR40303265045", "FR40303265045", "FR"),
    ("eu_vat", "FR 40 303 265 045", "FR40303265045", "FR"),
    ("eu_vat", "NL004495445B01", "NL004495445B01", "NL"),
    ("eu_vat", "NL 0044.95.445.B01", "NL004495445B01", "NL"),
    ("eu_vat", "ATU13585627", "ATU13585627", "AT"),
    ("eu_vat", "EL094259216", "EL094259216", "GR"),
    ("eu_vat", "el 094.259.216", "EL094259216", "GR"),
    ("eu_vat", "GR094259216", "EL094259216", "GR"),  # Greece's VAT ids are EL, whatever was typed
    ("eu_vat", "gr 094 259 216", "EL094259216", "GR"),
    ("eu_vat", "BE0403.170.701", "BE0403170701", "BE"),
    ("eu_vat", "XI 980 7806 84", "XI980780684", "GB"),  # Northern Ireland traders
    ("gb_vat", "GB 980 7806 84", "980780684", "GB"),
    ("gb_vat", "980780684", "980780684", "GB"),
    ("us_ein", "04-2103594", "042103594", "US"),
    ("ch_vat", "CHE-107.787.577 IVA", "CHE107787577IVA", "CH"),
    ("no_vat", "NO 995 525 828 MVA", "995525828MVA", "NO"),
    ("ca_bn", "12302 6635", "123026635", "CA"),
    ("au_abn", "83 914 571 673", "83914571673", "AU"),
    ("in_gst", "27AAPFU0939F1ZV", "27AAPFU0939F1ZV", "IN"),
    ("br_cnpj", "16.727.230/0001-97", "16727230000197", "BR"),
    ("de_stnr", "18181508155", "18181508155", "DE"),
]

# (type, value) with a wrong check digit or a wrong shape
INVALID = [
    ("eu_vat", "DE136695975"),  # check digit
    ("eu_vat", "FR40303265046"),
    ("eu_vat", "NL004495446B01"),
    ("eu_vat", "ATU13585628"),
    ("eu_vat", "EL094259217"),
    ("eu_vat", "GR094259217"),
    ("eu_vat", "XX123456789"),  # not an EU member state
    ("eu_vat", "GB980780684"),  # GB left the EU VAT area: use gb_vat
    ("eu_vat", "CHE-107.787.577 MWST"),  # Swiss, not EU
    ("eu_vat", "DE12345"),  # too short
    ("eu_vat", ""),
    ("gb_vat", "980780683"),
    ("us_ein", "00-1234567"),  # no such campus prefix
    ("us_ein", "04-210359"),
    ("ch_vat", "CHE-107.787.578 IVA"),
    ("ch_vat", "DE136695976"),
]


def _stdnum(type_: str) -> object:
    return importlib.import_module(TAX_ID_TYPES[type_][0])


@pytest.mark.parametrize(("type_", "raw", "value", "country"), VALID)
def test_examples_agree_with_python_stdnum(type_: str, raw: str, value: str, country: str) -> None:
    assert _stdnum(type_).is_valid(raw)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("type_", "raw"), INVALID)
def test_invalid_examples_agree_with_python_stdnum(type_: str, raw: str) -> None:
    assert not _stdnum(type_).is_valid(raw)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("type_", "raw", "value", "country"), VALID)
def test_valid_tax_ids_are_normalised(type_: str, raw: str, value: str, country: str) -> None:
    assert parse_tax_id(type_, raw, POINTER) == TaxId(type=type_, value=value, country=country)


def test_every_supported_type_has_a_working_example() -> None:
    assert {type_ for type_, *_ in VALID} == set(TAX_ID_TYPES)


@pytest.mark.parametrize(("type_", "raw"), INVALID)
def test_invalid_tax_ids_point_at_the_value(type_: str, raw: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_tax_id(type_, raw, POINTER)
    error = failure.value
    assert error.code == "validation_failed"
    assert error.status == 422
    assert [e.pointer for e in error.errors] == ["/tax_ids/0/value"]
    assert error.errors[0].message.startswith(f"invalid {type_}: ")


def test_check_digit_failures_say_so() -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_tax_id("eu_vat", "DE136695975", POINTER)
    assert "check digit" in failure.value.errors[0].message


@pytest.mark.parametrize("type_", ["vat", "EU_VAT", "eu-vat", "", "us_ssn", "stdnum.eu.vat"])
def test_unknown_types_point_at_the_type(type_: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_tax_id(type_, "DE136695976", POINTER)
    error = failure.value
    assert [e.pointer for e in error.errors] == ["/tax_ids/0/type"]
    message = error.errors[0].message
    assert f"unknown tax id type '{type_}'" in message
    assert all(known in message for known in TAX_ID_TYPES)


def test_the_pointer_follows_the_position_in_the_list() -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_tax_id("eu_vat", "DE000000000", "/tax_ids/3")
    assert failure.value.errors[0].pointer == "/tax_ids/3/value"


def test_eu_vat_country_comes_from_the_number() -> None:
    assert parse_tax_id("eu_vat", "ATU13585627", POINTER).country == "AT"
    assert parse_tax_id("eu_vat", "EL094259216", POINTER).country == "GR"
    assert parse_tax_id("eu_vat", "GR094259216", POINTER).country == "GR"
    assert parse_tax_id("eu_vat", "XI980780684", POINTER).country == "GB"


def test_greek_vat_ids_are_one_tax_id_whether_typed_with_el_or_gr() -> None:
    typed = ["EL094259216", "GR094259216", "el094259216", "gr 094.259.216", "Gr094259216"]
    assert {parse_tax_id("eu_vat", raw, POINTER) for raw in typed} == {
        TaxId(type="eu_vat", value="EL094259216", country="GR")
    }


def test_tax_id_wire_form() -> None:
    tax_id = parse_tax_id("eu_vat", "DE 136 695 976", POINTER)
    assert tax_id.as_dict() == {"type": "eu_vat", "value": "DE136695976", "country": "DE"}
