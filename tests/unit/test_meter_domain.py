"""The Meter model: filters, groups, value parsing, field rules and (de)serialisation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billow.domain.errors import InvalidStateTransition, ValidationFailed
from billow.domain.meter import (
    Meter,
    MeterFilter,
    check_meter_fields,
    meter_from_dict,
    meter_to_dict,
    numeric_value,
    scalar_text,
)

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-02T00:00:00Z"


def meter(**overrides: Any) -> Meter:
    fields: dict[str, Any] = {
        "id": "0190b0e2-0000-7000-8000-000000000001",
        "livemode": False,
        "code": "api_calls",
        "name": "API calls",
        "aggregation": "count",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Meter(**(fields | overrides))


def pointers(fields: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        check_meter_fields(fields)
    return [e.pointer for e in failed.value.errors]


# Filters and groups


def test_in_filter() -> None:
    only_ok = MeterFilter("status", "in", ("200", "201"))
    assert only_ok.matches({"status": "200"})
    assert only_ok.matches({"status": 201})
    assert not only_ok.matches({"status": "500"})
    assert not only_ok.matches({})
    assert not only_ok.matches({"status": None})
    assert not only_ok.matches({"status": {"code": "200"}})


def test_not_in_filter() -> None:
    no_errors = MeterFilter("status", "not_in", ("500",))
    assert no_errors.matches({"status": "200"})
    assert not no_errors.matches({"status": 500})
    assert no_errors.matches({})
    assert no_errors.matches({"status": ["500"]})


def test_counts_needs_every_filter() -> None:
    m = meter(filters=(MeterFilter("a", "in", ("1",)), MeterFilter("b", "not_in", ("x",))))
    assert m.counts({"a": 1})
    assert m.counts({"a": "1", "b": "y"})
    assert not m.counts({"a": "1", "b": "x"})
    assert not m.counts({"b": "y"})
    assert meter().counts({})


def test_booleans_and_decimals_filter_by_their_text() -> None:
    assert MeterFilter("beta", "in", ("true",)).matches({"beta": True})
    assert not MeterFilter("beta", "in", ("True",)).matches({"beta": True})
    assert MeterFilter("size", "in", ("12.5",)).matches({"size": 12.50})


def test_group_of() -> None:
    m = meter(group_by=("region", "tier"))
    assert m.group_of({"region": "eu", "tier": 2, "other": "x"}) == (("region", "eu"), ("tier", "2"))
    assert m.group_of({"region": "eu"}) == (("region", "eu"), ("tier", None))
    assert m.group_of({"region": {"nested": 1}, "tier": True}) == (("region", None), ("tier", "true"))
    assert meter().group_of({"region": "eu"}) == ()


# Values


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("eu", "eu"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (-3, "-3"),
        (12.50, "12.5"),
        (100.0, "100"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.0100"), "0.01"),
        (None, None),
        ({"a": 1}, None),
        ([1, 2], None),
        (float("nan"), None),
        (float("inf"), None),
        (Decimal("NaN"), None),
    ],
)
def test_scalar_text(value: Any, text: str | None) -> None:
    assert scalar_text(value) == text


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("12.5", Decimal("12.5")),
        (" 12.5 ", Decimal("12.5")),
        ("-3", Decimal("-3")),
        (7, Decimal("7")),
        (0.25, Decimal("0.25")),
        (Decimal("1.50"), Decimal("1.5")),
        ("1e3", Decimal("1000")),
        ("12345678901234567890", Decimal("12345678901234567890")),
        ("1234567890.1234567890", Decimal("1234567890.123456789")),
        ("1e19", Decimal("1E+19")),
        ("1e-20", Decimal("1E-20")),
        ("-0", Decimal("0")),
    ],
)
def test_numeric_value_accepts(value: Any, number: Decimal) -> None:
    assert numeric_value(value) == number


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "",
        "12,5",
        True,
        False,
        None,
        {"n": 1},
        [1],
        1e400,
        float("nan"),
        float("inf"),
        float("-inf"),
        "NaN",
        "Infinity",
        "-inf",
        Decimal("sNaN"),
        "123456789012345678901",
        "1.23456789012345678901",
        10**21 + 1,
        "1e400",
        "1e-400",
        "1e20",
        "1e-21",
        "1_000",
    ],
)
def test_numeric_value_refuses(value: Any) -> None:
    assert numeric_value(value) is None


# Field rules


def test_valid_meters_pass() -> None:
    check_meter_fields({"code": "api_calls", "aggregation": "count"})
    check_meter_fields({"code": "gb.hours-2", "aggregation": "sum", "value_property": "bytes"})
    check_meter_fields(
        {
            "code": "storage",
            "aggregation": "weighted_sum",
            "value_property": "gb",
            "weighted_unit": "hour",
            "filters": (MeterFilter("region", "not_in", ("test",)),),
            "group_by": ("region", "tier", "zone"),
        }
    )
    check_meter_fields({"name": "Only mutable fields", "late_event_policy": "bill_next_period"})


@pytest.mark.parametrize("code", ["API_calls", "_calls", "-calls", "api calls", "a" * 65, "", "appel/s"])
def test_bad_codes(code: str) -> None:
    assert pointers({"code": code, "aggregation": "count"}) == ["/code"]


def test_count_takes_no_value_property() -> None:
    assert pointers({"aggregation": "count", "value_property": "n"}) == ["/value_property"]


@pytest.mark.parametrize("aggregation", ["sum", "unique_count", "max", "latest", "weighted_sum"])
def test_other_aggregations_need_a_value_property(aggregation: str) -> None:
    assert pointers({"aggregation": aggregation}) == ["/value_property"]


def test_value_property_must_be_a_property_name() -> None:
    assert pointers({"aggregation": "sum", "value_property": "a b"}) == ["/value_property"]


@pytest.mark.parametrize("aggregation", ["sum", "count", "max"])
def test_weighted_unit_only_on_weighted_sum(aggregation: str) -> None:
    fields = {"aggregation": aggregation, "weighted_unit": "day"}
    if aggregation != "count":
        fields["value_property"] = "n"
    assert pointers(fields) == ["/weighted_unit"]
    check_meter_fields(fields | {"weighted_unit": "period"})


def test_filter_errors() -> None:
    filters = (
        MeterFilter("a", "in", ("1",)),
        MeterFilter("a", "not_in", ("2",)),
        MeterFilter("b c", "in", ("1",)),
        MeterFilter("d", "in", ()),
        MeterFilter("e", "in", tuple(str(i) for i in range(101))),
    )
    assert pointers({"aggregation": "count", "filters": filters}) == [
        "/filters/1/property",
        "/filters/2/property",
        "/filters/3/values",
        "/filters/4/values",
    ]
    many = tuple(MeterFilter(f"p{i}", "in", ("1",)) for i in range(11))
    assert pointers({"aggregation": "count", "filters": many}) == ["/filters"]


def test_group_by_errors() -> None:
    assert pointers({"aggregation": "sum", "value_property": "n", "group_by": ("r", "n")}) == ["/group_by/1"]
    assert pointers({"aggregation": "count", "group_by": ("r", "r")}) == ["/group_by"]
    assert pointers({"aggregation": "count", "group_by": ("a", "b", "c", "d")}) == ["/group_by"]
    assert pointers({"aggregation": "count", "group_by": ("ok", "not ok")}) == ["/group_by/1"]


def test_every_error_is_reported_at_once() -> None:
    fields = {"code": "Bad", "aggregation": "count", "value_property": "n", "weighted_unit": "hour"}
    assert pointers(fields) == ["/code", "/value_property", "/weighted_unit"]


# Changes


def test_with_changes_only_touches_mutable_fields() -> None:
    m = meter()
    changed = m.with_changes({"name": "Calls", "late_event_policy": "bill_next_period"}, LATER)
    assert (changed.name, changed.late_event_policy) == ("Calls", "bill_next_period")
    assert (changed.version, changed.updated_at, changed.created_at) == (2, LATER, NOW)
    with pytest.raises(ValueError, match="aggregation"):
        m.with_changes({"aggregation": "sum"}, LATER)


def test_archive_and_unarchive() -> None:
    archived = meter().archive(LATER)
    assert (archived.status, archived.version) == ("archived", 2)
    with pytest.raises(InvalidStateTransition):
        archived.archive(LATER)
    restored = archived.unarchive(LATER)
    assert (restored.status, restored.version) == ("active", 3)
    with pytest.raises(InvalidStateTransition):
        restored.unarchive(LATER)


def test_is_numeric() -> None:
    assert not meter().is_numeric
    assert not meter(aggregation="unique_count", value_property="user").is_numeric
    assert meter(aggregation="latest", value_property="n").is_numeric


# Serialisation


@pytest.mark.parametrize(
    "m",
    [
        meter(),
        meter(
            aggregation="weighted_sum",
            value_property="gb",
            weighted_unit="hour",
            filters=(MeterFilter("region", "not_in", ("test", "dev")), MeterFilter("ok", "in", ("true",))),
            group_by=("region", "tier"),
            late_event_policy="bill_next_period",
            description="Storage",
            metadata={"team": "infra"},
            status="archived",
            version=4,
        ),
    ],
)
def test_round_trip(m: Meter) -> None:
    data = meter_to_dict(m)
    assert data["object"] == "meter"
    assert meter_from_dict(data) == m
    assert meter_to_dict(meter_from_dict(data)) == data


def test_weighted_unit_is_shown_only_for_weighted_sum() -> None:
    assert meter_to_dict(meter())["weighted_unit"] is None
    assert meter_from_dict(meter_to_dict(meter())).weighted_unit == "period"
    weighted = meter(aggregation="weighted_sum", value_property="n")
    assert meter_to_dict(weighted)["weighted_unit"] == "period"


def test_from_dict_defaults_and_stored_shapes() -> None:
    stored = {
        "id": "m1",
        "livemode": 1,
        "code": "c",
        "name": "n",
        "aggregation": "count",
        "filters": [{"property": "status", "values": [200, "201"]}],
        "created_at": NOW,
        "updated_at": NOW,
        "version": Decimal("3"),
    }
    m = meter_from_dict(stored)
    assert m.filters == (MeterFilter("status", "in", ("200", "201")),)
    assert (m.livemode, m.version, m.status, m.group_by, m.metadata) == (True, 3, "active", (), {})
    assert (m.late_event_policy, m.weighted_unit, m.value_property) == ("reject", "period", None)
