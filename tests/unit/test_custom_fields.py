"""Custom field definitions (check_definition) and their values (validate_values)."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.custom_fields import (
    MAX_TEXT_LENGTH,
    CustomFieldDefinition,
    EntityRef,
    check_definition,
    validate_values,
)
from billow.domain.errors import FieldError, InvalidStateTransition, ValidationFailed

NOW = "2026-01-31T00:00:00Z"
CUSTOMER_ID = "0190b0e2-7c4a-7d3e-9f00-0123456789ab"


def definition(key: str = "field", type_: str = "text", **overrides: Any) -> CustomFieldDefinition:
    values: dict[str, Any] = {
        "id": f"id-{key}",
        "livemode": False,
        "entity_type": "customer",
        "key": key,
        "name": key.replace("_", " ").title(),
        "type": type_,
        "required": False,
        "options": (),
        "ref_entity_type": None,
        "min_value": None,
        "max_value": None,
        "max_length": None,
        "description": None,
        "status": "active",
        "created_at": NOW,
        "updated_at": NOW,
        "version": 1,
    }
    values.update(overrides)
    return CustomFieldDefinition(**values)


def errors_of(failure: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[str, str]]:
    assert failure.value.code == "validation_failed"
    assert failure.value.status == 422
    return [(e.pointer, e.message) for e in failure.value.errors]


def pointers_of(failure: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [pointer for pointer, _ in errors_of(failure)]


def check(*definitions: CustomFieldDefinition, creating: bool = True, **changes: Any) -> dict[str, Any]:
    merged, _ = validate_values(list(definitions), {}, changes, creating=creating)
    return merged


def refused(
    definitions: list[CustomFieldDefinition],
    changes: dict[str, Any],
    *,
    current: dict[str, Any] | None = None,
    creating: bool = False,
) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as failure:
        validate_values(definitions, current or {}, changes, creating=creating)
    return errors_of(failure)


# --- check_definition ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good",
    [
        definition("vat_note"),
        definition("tier", "enum", options=("gold", "silver")),
        definition("seats", "number", min_value=Decimal(0), max_value=Decimal(100)),
        definition("seats", "number", min_value=Decimal(5), max_value=Decimal(5)),
        definition("seats", "number", min_value=Decimal(-1)),
        definition("note", "text", max_length=10),
        definition("parent", "entity_ref", ref_entity_type="customer"),
        definition("active", "boolean"),
        definition("renewal", "date"),
        definition("a"),
        definition("a" * 40),
        definition("a1_b2"),
    ],
)
def test_valid_definitions_pass(good: CustomFieldDefinition) -> None:
    check_definition(good)


def definition_errors(bad: CustomFieldDefinition) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as failure:
        check_definition(bad)
    assert failure.value.detail == "the custom field definition is invalid"
    return errors_of(failure)


@pytest.mark.parametrize("key", ["", "Tier", "1tier", "_tier", "tier-level", "tier level", "a" * 41, "tïer"])
def test_bad_keys_are_refused(key: str) -> None:
    assert [p for p, _ in definition_errors(definition(key))] == ["/key"]


def test_unknown_entity_type_is_refused() -> None:
    assert [p for p, _ in definition_errors(definition(entity_type="order"))] == ["/entity_type"]


def test_enum_without_options_is_refused() -> None:
    assert definition_errors(definition("tier", "enum")) == [
        ("/options", "an enum field needs at least one option")
    ]


def test_enum_with_duplicate_options_is_refused() -> None:
    errors = definition_errors(definition("tier", "enum", options=("gold", "gold")))
    assert errors == [("/options", "options must be unique")]


@pytest.mark.parametrize("type_", ["text", "number", "boolean", "date"])
def test_options_on_a_non_enum_field_are_refused(type_: str) -> None:
    errors = definition_errors(definition("f", type_, options=("a",)))
    assert errors == [("/options", "options are only allowed on enum fields")]


@pytest.mark.parametrize("ref", [None, "order", ""])
def test_entity_ref_needs_a_known_ref_entity_type(ref: str | None) -> None:
    errors = definition_errors(definition("parent", "entity_ref", ref_entity_type=ref))
    assert [p for p, _ in errors] == ["/ref_entity_type"]


def test_ref_entity_type_only_on_entity_ref() -> None:
    errors = definition_errors(definition("parent", "text", ref_entity_type="customer"))
    assert errors == [("/ref_entity_type", "only allowed on entity_ref fields")]


def test_min_greater_than_max_is_refused() -> None:
    errors = definition_errors(
        definition("seats", "number", min_value=Decimal(10), max_value=Decimal("9.99"))
    )
    assert errors == [("/min_value", "must not be greater than max_value")]


@pytest.mark.parametrize("bounds", [{"min_value": Decimal(1)}, {"max_value": Decimal(1)}])
def test_bounds_only_on_number_fields(bounds: dict[str, Decimal]) -> None:
    assert [p for p, _ in definition_errors(definition("f", "text", **bounds))] == ["/min_value"]


def test_max_length_only_on_text_fields() -> None:
    assert definition_errors(definition("f", "number", max_length=3)) == [
        ("/max_length", "only allowed on text fields")
    ]


def test_all_definition_errors_are_reported_together() -> None:
    bad = definition("Bad Key", "enum", entity_type="order", ref_entity_type="customer", max_length=4)
    assert sorted(p for p, _ in definition_errors(bad)) == [
        "/entity_type",
        "/key",
        "/max_length",
        "/options",
        "/ref_entity_type",
    ]


def test_archive_moves_version_and_refuses_twice() -> None:
    field = definition("note")
    archived = field.archive("2026-02-01T00:00:00Z")
    assert (archived.status, archived.version, archived.updated_at) == ("archived", 2, "2026-02-01T00:00:00Z")
    assert field.status == "active"
    with pytest.raises(InvalidStateTransition) as failure:
        archived.archive("2026-02-02T00:00:00Z")
    assert failure.value.code == "invalid_state_transition"
    assert failure.value.status == 409


# --- values: text ----------------------------------------------------------------------------

TEXT = definition("note", "text")
SHORT = definition("code", "text", max_length=5)


def test_text_values() -> None:
    assert check(TEXT, note="hello") == {"note": "hello"}
    assert check(TEXT, note="") == {"note": ""}
    assert check(TEXT, note="x" * MAX_TEXT_LENGTH) == {"note": "x" * MAX_TEXT_LENGTH}


@pytest.mark.parametrize("value", [1, 1.5, True, ["a"], {"a": "b"}])
def test_text_must_be_a_string(value: object) -> None:
    assert refused([TEXT], {"note": value}) == [("/custom_fields/note", "must be a string")]


def test_text_length_defaults_to_the_global_limit() -> None:
    errors = refused([TEXT], {"note": "x" * (MAX_TEXT_LENGTH + 1)})
    assert errors == [("/custom_fields/note", f"must be at most {MAX_TEXT_LENGTH} characters")]


def test_text_length_follows_max_length() -> None:
    assert check(SHORT, code="abcde") == {"code": "abcde"}
    assert refused([SHORT], {"code": "abcdef"}) == [("/custom_fields/code", "must be at most 5 characters")]


# --- values: number --------------------------------------------------------------------------

NUMBER = definition("seats", "number")
BOUNDED = definition("discount", "number", min_value=Decimal(0), max_value=Decimal("99.5"))


def not_a_decimal_string(value: str) -> str:
    return f"'{value}' is not a decimal string such as \"12.5\""


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (5, "5"),
        (0, "0"),
        (-3, "-3"),
        ("12.50", "12.50"),
        ("-0.1", "-0.1"),
        (10**30, str(10**30)),
        (10**40, str(10**40)),  # integers have no digit limit
        ("7", "7"),
        ("9" * 30, "9" * 30),
        ("1." + "5" * 12, "1." + "5" * 12),
        ("-" + "9" * 30 + "." + "9" * 12, "-" + "9" * 30 + "." + "9" * 12),
    ],
)
def test_numbers_are_ints_or_decimal_strings_stored_as_strings(value: object, stored: str) -> None:
    assert check(NUMBER, seats=value) == {"seats": stored}


@pytest.mark.parametrize("value", [1.5, 2.0, True, False, [1], {"n": 1}])
def test_numbers_refuse_floats_and_booleans(value: object) -> None:
    errors = refused([NUMBER], {"seats": value})
    assert errors == [("/custom_fields/seats", "must be an integer or a decimal string")]


@pytest.mark.parametrize(
    "value",
    ["abc", "", "1,5", "1.2.3", "+1", " 1", "1 ", ".5", "1.", "--1", "0x10", "1E+3", "1e3", "2.5e-1"],
)
def test_numbers_refuse_non_numeric_strings(value: str) -> None:
    assert refused([NUMBER], {"seats": value}) == [("/custom_fields/seats", not_a_decimal_string(value))]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN", "inf"])
def test_numbers_must_be_finite(value: str) -> None:
    assert refused([NUMBER], {"seats": value}) == [("/custom_fields/seats", not_a_decimal_string(value))]


@pytest.mark.parametrize("value", ["1" * 31, "-" + "1" * 31, "1." + "1" * 13, "0." + "0" * 12 + "1"])
def test_number_strings_have_at_most_30_digits_and_12_decimals(value: str) -> None:
    assert refused([NUMBER], {"seats": value}) == [("/custom_fields/seats", not_a_decimal_string(value))]


def test_number_bounds_are_inclusive() -> None:
    assert check(BOUNDED, discount=0) == {"discount": "0"}
    assert check(BOUNDED, discount="99.5") == {"discount": "99.5"}
    assert refused([BOUNDED], {"discount": "-0.01"}) == [("/custom_fields/discount", "must be at least 0")]
    assert refused([BOUNDED], {"discount": 100}) == [("/custom_fields/discount", "must be at most 99.5")]


@pytest.mark.parametrize(
    "value",
    [
        "1_000",
        "1_000.5",
        "\u0663",  # ARABIC-INDIC DIGIT THREE
        "\u0661.\u0665",
        "\uff17",  # FULLWIDTH DIGIT SEVEN
        "\u00b2",  # SUPERSCRIPT TWO
    ],
)
def test_numbers_refuse_python_only_spellings(value: str) -> None:
    assert refused([NUMBER], {"seats": value}) == [("/custom_fields/seats", not_a_decimal_string(value))]


@given(value=st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,12})?", fullmatch=True))
def test_any_decimal_string_within_the_limits_is_a_number(value: str) -> None:
    stored = check(NUMBER, seats=value)["seats"]
    assert Decimal(stored) == Decimal(value)


@pytest.mark.parametrize("value", ["0.0000001", "0.000000000001", "-0.00000012"])
def test_small_numbers_are_stored_as_decimal_strings(value: str) -> None:
    stored = check(NUMBER, seats=value)["seats"]
    assert re.fullmatch(r"-?[0-9]{1,30}(\.[0-9]{1,12})?", stored), stored
    assert Decimal(stored) == Decimal(value)


# --- values: boolean -------------------------------------------------------------------------

FLAG = definition("vip", "boolean")


@pytest.mark.parametrize("value", [True, False])
def test_booleans(value: bool) -> None:
    assert check(FLAG, vip=value) == {"vip": value}


@pytest.mark.parametrize("value", ["true", "false", 1, 0, "yes"])
def test_booleans_must_be_true_or_false(value: object) -> None:
    assert refused([FLAG], {"vip": value}) == [("/custom_fields/vip", "must be true or false")]


# --- values: date ----------------------------------------------------------------------------

DATE = definition("renewal", "date")


@pytest.mark.parametrize("value", ["2026-01-31", "2024-02-29", "0001-01-01", "9999-12-31"])
def test_dates(value: str) -> None:
    assert check(DATE, renewal=value) == {"renewal": value}


@pytest.mark.parametrize(
    "value",
    [
        "2023-02-29",
        "2026-13-01",
        "2026-1-31",
        "20260131",
        "2026-01-31T00:00:00",
        "2026-01-31T00:00:00Z",
        "31.01.2026",
        "",
        20260131,
    ],
)
def test_dates_must_be_yyyy_mm_dd(value: object) -> None:
    assert refused([DATE], {"renewal": value}) == [("/custom_fields/renewal", "must be a date YYYY-MM-DD")]


@pytest.mark.parametrize(
    "value",
    [
        "2026-W05-6",  # ISO week date, also ten characters; date.fromisoformat would take it
        "2026W056",
        "2026-W05",
        "2026-031",  # ordinal date
        "2026-01-3\u0661",  # ARABIC-INDIC DIGIT ONE
        "\uff12\uff10\uff12\uff16-01-31",  # FULLWIDTH digits
        "2026-02-30",
        "2026-00-10",
        "0000-01-01",
        " 2026-01-31",
        "2026-01-31 ",
    ],
)
def test_other_iso_8601_spellings_are_not_yyyy_mm_dd(value: str) -> None:
    assert refused([DATE], {"renewal": value}) == [("/custom_fields/renewal", "must be a date YYYY-MM-DD")]


# --- values: enum ----------------------------------------------------------------------------

TIER = definition("tier", "enum", options=("gold", "silver"))


def test_enum_values() -> None:
    assert check(TIER, tier="gold") == {"tier": "gold"}


@pytest.mark.parametrize("value", ["Gold", "bronze", "", 1, True])
def test_enum_values_must_be_an_option(value: object) -> None:
    assert refused([TIER], {"tier": value}) == [("/custom_fields/tier", "must be one of gold, silver")]


# --- values: entity_ref ----------------------------------------------------------------------

PARENT = definition("parent", "entity_ref", ref_entity_type="customer")


def test_entity_ref_returns_what_must_exist() -> None:
    merged, refs = validate_values([PARENT], {}, {"parent": CUSTOMER_ID}, creating=True)
    assert merged == {"parent": CUSTOMER_ID}
    assert refs == [EntityRef("customer", CUSTOMER_ID, "/custom_fields/parent")]


@pytest.mark.parametrize("value", [CUSTOMER_ID.upper(), "cus_123", "", CUSTOMER_ID + "0", 42])
def test_entity_ref_must_look_like_an_id(value: object) -> None:
    assert refused([PARENT], {"parent": value}) == [
        ("/custom_fields/parent", "must be the id of an existing object")
    ]


def test_no_refs_for_other_types() -> None:
    _, refs = validate_values([TEXT, NUMBER], {}, {"note": CUSTOMER_ID, "seats": 1}, creating=True)
    assert refs == []


# --- keys, required, null, archived -----------------------------------------------------------

REQUIRED = definition("region", "text", required=True)


def test_unknown_key_is_refused() -> None:
    errors = refused([TEXT], {"nope": "x"})
    assert errors == [("/custom_fields/nope", "no custom field 'nope' is defined for this entity")]


def test_unknown_key_is_refused_even_when_null() -> None:
    assert [p for p, _ in refused([TEXT], {"nope": None})] == ["/custom_fields/nope"]


def test_required_field_is_needed_on_create() -> None:
    errors = refused([REQUIRED, TEXT], {"note": "x"}, creating=True)
    assert errors == [("/custom_fields/region", "is required")]


def test_required_field_given_on_create() -> None:
    assert check(REQUIRED, region="EMEA") == {"region": "EMEA"}


def test_required_field_is_not_needed_on_update() -> None:
    merged, _ = validate_values([REQUIRED, TEXT], {}, {"note": "x"}, creating=False)
    assert merged == {"note": "x"}


def test_required_field_cannot_be_removed() -> None:
    errors = refused([REQUIRED], {"region": None}, current={"region": "EMEA"})
    assert errors == [("/custom_fields/region", "is required and cannot be removed")]


def test_null_removes_an_optional_value() -> None:
    merged, _ = validate_values([TEXT, NUMBER], {"note": "x", "seats": "3"}, {"note": None}, creating=False)
    assert merged == {"seats": "3"}


def test_null_for_a_value_that_is_not_set_is_fine() -> None:
    merged, _ = validate_values([TEXT], {}, {"note": None}, creating=False)
    assert merged == {}


def test_changes_merge_into_current_without_mutating_it() -> None:
    current = {"note": "old", "seats": "1"}
    merged, _ = validate_values([TEXT, NUMBER], current, {"note": "new"}, creating=False)
    assert merged == {"note": "new", "seats": "1"}
    assert current == {"note": "old", "seats": "1"}


ARCHIVED = definition("legacy", "text", status="archived")
ARCHIVED_REQUIRED = definition("old_region", "text", status="archived", required=True)


def test_archived_field_refuses_new_values() -> None:
    errors = refused([ARCHIVED], {"legacy": "x"}, current={"legacy": "kept"})
    assert errors == [("/custom_fields/legacy", "custom field 'legacy' is archived")]


def test_archived_field_keeps_stored_values() -> None:
    merged, _ = validate_values([ARCHIVED, TEXT], {"legacy": "kept"}, {"note": "x"}, creating=False)
    assert merged == {"legacy": "kept", "note": "x"}


def test_archived_field_value_can_be_removed_even_if_it_was_required() -> None:
    merged, _ = validate_values(
        [ARCHIVED_REQUIRED], {"old_region": "EMEA"}, {"old_region": None}, creating=False
    )
    assert merged == {}


def test_archived_required_field_is_not_needed_on_create() -> None:
    assert check(ARCHIVED_REQUIRED, TEXT, note="x") == {"note": "x"}


def test_all_value_errors_are_reported_together() -> None:
    errors = refused(
        [TEXT, NUMBER, FLAG, REQUIRED, ARCHIVED],
        {"note": 1, "seats": 1.5, "vip": "yes", "nope": "x", "legacy": "x"},
        creating=True,
    )
    assert sorted(p for p, _ in errors) == [
        "/custom_fields/legacy",
        "/custom_fields/nope",
        "/custom_fields/note",
        "/custom_fields/region",
        "/custom_fields/seats",
        "/custom_fields/vip",
    ]


def test_pointer_prefix_can_be_chosen() -> None:
    with pytest.raises(ValidationFailed) as failure:
        validate_values([NUMBER], {}, {"seats": "x"}, creating=False, pointer="/items/0/custom_fields")
    assert failure.value.errors == [
        FieldError("/items/0/custom_fields/seats", "'x' is not a decimal string such as \"12.5\"")
    ]


def test_same_definitions_on_another_entity_type_do_not_matter_here() -> None:
    # validate_values trusts the caller to pass the entity's definitions; it matches by key only.
    merged, _ = validate_values([replace(TEXT, entity_type="invoice")], {}, {"note": "x"}, creating=True)
    assert merged == {"note": "x"}


@given(value=st.integers(min_value=-(10**20), max_value=10**20))
def test_any_integer_is_a_number(value: int) -> None:
    assert check(NUMBER, seats=value) == {"seats": str(value)}


@given(value=st.text(max_size=40))
def test_text_within_the_limit_is_kept_verbatim(value: str) -> None:
    assert check(TEXT, note=value) == {"note": value}
