"""Tenant tax rules (domain/tax_rules.py): raw fields checked with pointers, versions in
series, and which rules are in force for a jurisdiction, category and date."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from billow.domain.errors import ValidationFailed
from billow.domain.tax import TaxRate
from billow.domain.tax_rules import (
    TaxRule,
    new_tax_rule,
    parse_tax_rule_changes,
    parse_tax_rule_fields,
    rules_in_force,
    same_day_version,
    series_of,
    tax_rule_from_dict,
    tax_rule_to_dict,
)

NOW = "2026-03-01T00:00:00Z"
_ids = itertools.count(1)


def rule(**raw: Any) -> TaxRule:
    body = {
        "jurisdiction": {"country": "DE"},
        "tax_type": "vat",
        "rate": "19",
        "effective_from": "2026-01-01",
    }
    body.update(raw)
    n = next(_ids)
    return new_tax_rule(body, rule_id=f"rule-{n:04}", livemode=False, now=f"2026-01-01T00:00:{n % 60:02}Z")


def pointers(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationFailed) as failure:
        parse_tax_rule_fields(raw)
    return [error.pointer for error in failure.value.errors]


# --- raw fields ---------------------------------------------------------------------------------


def test_a_rule_from_its_raw_fields() -> None:
    made = new_tax_rule(
        {
            "jurisdiction": {"country": "CA", "region": "QC"},
            "tax_type": "sales_tax",
            "rate": "9.9750",
            "category": "standard",
            "compound": True,
            "apply_order": 1,
            "effective_from": "2026-01-01",
            "name": "QST",
            "metadata": {"source": "Revenu Québec"},
        },
        rule_id="rule-qst",
        livemode=True,
        now=NOW,
    )
    assert (made.country, made.region, made.jurisdiction) == ("CA", "QC", "CA-QC")
    assert (made.tax_type, made.rate, made.category) == ("sales_tax", Decimal("9.975"), "standard")
    assert str(made.rate) == "9.975"  # trailing zeros dropped
    assert (made.compound, made.inclusive, made.active, made.apply_order) == (True, False, True, 1)
    assert made.effective_from == date(2026, 1, 1)
    assert (made.created_at, made.updated_at, made.version, made.livemode) == (NOW, NOW, 1, True)
    assert made.tax_rate() == TaxRate(
        "S",
        Decimal("9.975"),
        tax_type="sales_tax",
        jurisdiction="CA-QC",
        compound=True,
        rule_id="rule-qst",
        name="QST",
    )
    assert tax_rule_from_dict(tax_rule_to_dict(made)) == made
    assert tax_rule_to_dict(made)["jurisdiction"] == {"country": "CA", "region": "QC", "code": "CA-QC"}


def test_defaults_and_the_text_form_of_a_jurisdiction() -> None:
    made = rule(jurisdiction="US-CA", tax_type="sales_tax", rate="7.25")
    assert (made.country, made.region, made.category, made.apply_order) == ("US", "CA", "*", 0)
    assert made.printable_name == "Sales tax 7.25 %"
    assert rule(rate="0").tax_rate().category == "Z"
    assert rule(rate="19.00").printable_name == "VAT 19 %"


def test_every_problem_is_reported_at_once_with_its_pointer() -> None:
    raw = {
        "jurisdiction": {"country": "de", "region": "north-rhine", "city": "Köln"},
        "tax_type": "luxury",
        "rate": "19.12345",
        "category": "Standard",
        "inclusive": "yes",
        "compound": 1,
        "apply_order": -1,
        "effective_from": "01.01.2026",
        "name": "",
        "colour": "red",
    }
    assert sorted(pointers(raw)) == sorted(
        [
            "/colour",
            "/jurisdiction/city",
            "/jurisdiction/country",
            "/jurisdiction/region",
            "/tax_type",
            "/rate",
            "/category",
            "/inclusive",
            "/compound",
            "/apply_order",
            "/effective_from",
            "/name",
        ]
    )


@pytest.mark.parametrize(
    ("raw", "pointer"),
    [
        ({}, "/jurisdiction"),
        ({"jurisdiction": None}, "/jurisdiction"),
        ({"jurisdiction": ["DE"]}, "/jurisdiction"),
        ({"jurisdiction": "XX"}, "/jurisdiction/country"),
        ({"tax_type": None}, "/tax_type"),
        ({"rate": 19}, "/rate"),  # a JSON number
        ({"rate": "-1"}, "/rate"),
        ({"rate": "100.0001"}, "/rate"),
        ({"rate": "1e1"}, "/rate"),
        ({"rate": "0.00001"}, "/rate"),
        ({"effective_from": "2026-02-30"}, "/effective_from"),
        ({"effective_from": "20260101"}, "/effective_from"),
        ({"apply_order": True}, "/apply_order"),
        ({"apply_order": 100}, "/apply_order"),
        ({"inclusive": True, "compound": True}, "/compound"),
        ({"category": "**"}, "/category"),
        ({"category": "a" * 41}, "/category"),
        ({"metadata": {"k": 1}}, "/metadata/k"),
        ({"description": "x" * 501}, "/description"),
    ],
)
def test_bad_fields_are_refused(raw: dict[str, Any], pointer: str) -> None:
    body = {
        "jurisdiction": {"country": "DE"},
        "tax_type": "vat",
        "rate": "19",
        "effective_from": "2026-01-01",
    }
    body.update(raw)
    for key in [k for k, v in raw.items() if v is None]:
        del body[key]
    if raw == {}:
        del body["jurisdiction"]
    assert pointer in pointers(body)


@pytest.mark.parametrize("rate", ["0", "100", "7.7", "9.975", "5.5000", "0.0001"])
def test_rates_from_0_to_100_with_up_to_four_decimals(rate: str) -> None:
    assert rule(rate=rate).rate == Decimal(rate)


def test_only_describing_fields_change_in_place() -> None:
    made = rule()
    changes = parse_tax_rule_changes({"name": "Umsatzsteuer", "description": "Regelsteuersatz"})
    changed = made.with_changes(changes, "2026-04-01T00:00:00Z")
    assert (changed.name, changed.version, changed.updated_at) == ("Umsatzsteuer", 2, "2026-04-01T00:00:00Z")
    with pytest.raises(ValidationFailed) as failure:
        parse_tax_rule_changes({"rate": "16", "name": ""})
    assert [e.pointer for e in failure.value.errors] == ["/rate", "/name"]


# --- versions and what is in force ------------------------------------------------------------------


def test_a_rate_change_takes_effect_on_its_date() -> None:
    nineteen = rule(rate="19", effective_from="2026-01-01")
    sixteen = rule(rate="16", effective_from="2026-07-01")
    rules = [sixteen, nineteen]
    assert rules_in_force(rules, "DE", None, "standard", date(2025, 12, 31)) == ()
    assert rules_in_force(rules, "DE", None, "standard", date(2026, 6, 30)) == (nineteen,)
    assert rules_in_force(rules, "DE", None, "standard", date(2026, 7, 1)) == (sixteen,)
    assert rules_in_force(rules, "DE", None, "standard", date(2027, 1, 1)) == (sixteen,)
    assert series_of(rules, nineteen.series_key) == (nineteen, sixteen)


def test_an_inactive_version_ends_its_series_until_a_later_one() -> None:
    levy = rule(tax_type="sales_tax", rate="2", effective_from="2026-01-01")
    ended = rule(tax_type="sales_tax", rate="2", effective_from="2026-04-01", active=False)
    again = rule(tax_type="sales_tax", rate="3", effective_from="2026-10-01")
    rules = [levy, ended, again]
    assert rules_in_force(rules, "DE", None, "standard", date(2026, 3, 31)) == (levy,)
    assert rules_in_force(rules, "DE", None, "standard", date(2026, 4, 1)) == ()
    assert rules_in_force(rules, "DE", None, "standard", date(2026, 10, 1)) == (again,)


def test_a_category_series_beats_the_any_category_one() -> None:
    general = rule(rate="19")
    books = rule(rate="7", category="ebooks")
    books_ended = rule(rate="7", category="ebooks", effective_from="2026-06-01", active=False)
    rules = [general, books]
    assert rules_in_force(rules, "DE", None, "ebooks", date(2026, 3, 1)) == (books,)
    assert rules_in_force(rules, "DE", None, "standard", date(2026, 3, 1)) == (general,)
    # Once the category's own series has ended, the general one applies again.
    assert rules_in_force([*rules, books_ended], "DE", None, "ebooks", date(2026, 6, 1)) == (general,)
    # One that has not started yet leaves the general one in force meanwhile.
    later = rule(rate="5", category="audio", effective_from="2027-01-01")
    assert rules_in_force([general, later], "DE", None, "audio", date(2026, 3, 1)) == (general,)


def test_country_and_region_series_apply_together_in_apply_order() -> None:
    gst = rule(jurisdiction={"country": "CA"}, tax_type="gst", rate="5", name="GST")
    qst = rule(jurisdiction="CA-QC", tax_type="sales_tax", rate="9.975", compound=True, apply_order=1)
    pst_bc = rule(jurisdiction="CA-BC", tax_type="sales_tax", rate="7", apply_order=1)
    rules = [qst, pst_bc, gst]
    on = date(2026, 3, 1)
    assert rules_in_force(rules, "CA", "QC", "standard", on) == (gst, qst)
    assert rules_in_force(rules, "CA", "BC", "standard", on) == (gst, pst_bc)
    assert rules_in_force(rules, "CA", "ON", "standard", on) == (gst,)
    assert rules_in_force(rules, "CA", None, "standard", on) == (gst,)
    assert rules_in_force(rules, "US", "QC", "standard", on) == ()
    california = rule(jurisdiction="US-CA", tax_type="sales_tax", rate="7.25")
    assert rules_in_force([california], "US", "CA", "standard", on) == (california,)
    assert rules_in_force([california], "US", "NY", "standard", on) == ()


def test_a_second_version_on_the_same_day_is_found() -> None:
    first = rule(effective_from="2026-07-01")
    second = rule(rate="16", effective_from="2026-07-01")
    other_day = rule(rate="16", effective_from="2026-07-02")
    assert same_day_version([first], second) == first
    assert same_day_version([first], other_day) is None
    assert same_day_version([first], first) is None
    # On a tie the version created last wins.
    assert rules_in_force([first, second], "DE", None, "standard", date(2026, 7, 1)) == (second,)
