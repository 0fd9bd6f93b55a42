"""EU VAT rates: the model (kinds, which reduced rate, membership, Greece and Northern Ireland),
its JSON form, and the table bundled with Billow."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from billow.adapters.vat.bundled_rates import load_bundled_eu_vat_rates
from billow.domain.errors import NotFound, ValidationFailed
from billow.domain.eu_vat import (
    MEMBER_STATES,
    VIES_PREFIXES,
    EuVatRates,
    MemberStateRates,
    NoSuchRate,
    NotAMemberState,
    VatRateKind,
    country_of_vat_prefix,
    in_eu_vat_area_for_goods,
    is_member_state,
    vat_prefix,
)

D = Decimal


def state(country: str, standard: str, reduced: tuple[str, ...] = (), **more: Any) -> MemberStateRates:
    return MemberStateRates(
        country=country,
        standard=D(standard),
        reduced=tuple(D(r) for r in reduced),
        super_reduced=None if more.get("super_reduced") is None else D(more["super_reduced"]),
        parking=None if more.get("parking") is None else D(more["parking"]),
        valid_from=more.get("valid_from", date(2025, 1, 1)),
    )


SMALL = EuVatRates(
    source="test table",
    as_of=date(2026, 1, 1),
    states={
        "AT": state("AT", "20", ("13", "10"), parking="13"),
        "DK": state("DK", "25"),
        "FR": state("FR", "20", ("5.5", "10"), super_reduced="2.1"),
        "GR": state("GR", "24", ("6", "13")),
    },
)


# -- membership, Greece and Northern Ireland --------------------------------------------------


def test_there_are_27_member_states_and_greece_is_gr() -> None:
    assert len(MEMBER_STATES) == 27
    assert "GR" in MEMBER_STATES
    assert "EL" not in MEMBER_STATES
    assert "GB" not in MEMBER_STATES


@pytest.mark.parametrize("country", ["GR", "EL", "gr", " de ", "FI", "RO"])
def test_member_states_are_recognised_greece_by_either_code(country: str) -> None:
    assert is_member_state(country)
    assert SMALL.is_member_state(country)


@pytest.mark.parametrize("country", ["GB", "XI", "CH", "NO", "US", "", "EU"])
def test_gb_and_northern_ireland_are_not_member_states(country: str) -> None:
    assert not is_member_state(country)


def test_northern_ireland_is_in_the_eu_vat_area_for_goods_only() -> None:
    assert in_eu_vat_area_for_goods("XI")
    assert in_eu_vat_area_for_goods("DE")
    assert not in_eu_vat_area_for_goods("GB")
    assert not is_member_state("XI")  # for services it is the UK, outside the EU


def test_vat_prefixes_write_greece_el() -> None:
    assert vat_prefix("GR") == "EL"
    assert vat_prefix("de") == "DE"
    assert country_of_vat_prefix("EL") == "GR"
    assert country_of_vat_prefix("FR") == "FR"
    assert "EL" in VIES_PREFIXES
    assert "XI" in VIES_PREFIXES
    assert "GR" not in VIES_PREFIXES
    assert len(VIES_PREFIXES) == 28


# -- rates by kind ----------------------------------------------------------------------------


def test_the_standard_rate_is_the_default_kind() -> None:
    assert SMALL.rate_for("AT") == D(20)
    assert SMALL.rate_for("AT", VatRateKind.STANDARD) == D(20)


def test_reduced_means_the_highest_reduced_rate_unless_asked_for_the_lowest() -> None:
    assert SMALL.rate_for("AT", VatRateKind.REDUCED) == D(13)
    assert SMALL.rate_for("AT", VatRateKind.REDUCED, which="lowest") == D(10)
    assert SMALL.rate_for("FR", "reduced") == D(10)
    assert SMALL.rate_for("FR", "reduced", which="lowest") == D("5.5")


def test_super_reduced_parking_and_zero_rates() -> None:
    assert SMALL.rate_for("FR", VatRateKind.SUPER_REDUCED) == D("2.1")
    assert SMALL.rate_for("AT", VatRateKind.PARKING) == D(13)
    assert SMALL.rate_for("DK", VatRateKind.ZERO) == D(0)


def test_a_kind_the_state_does_not_apply_is_a_clear_error() -> None:
    with pytest.raises(NoSuchRate, match="DK applies no reduced"):
        SMALL.rate_for("DK", VatRateKind.REDUCED)
    with pytest.raises(NoSuchRate, match="super-reduced"):
        SMALL.rate_for("AT", VatRateKind.SUPER_REDUCED)
    with pytest.raises(NoSuchRate) as raised:
        SMALL.rate_for("FR", VatRateKind.PARKING)
    assert isinstance(raised.value, NotFound)


def test_greece_is_found_by_its_vat_prefix_too() -> None:
    assert SMALL.rate_for("EL") == SMALL.rate_for("GR") == D(24)
    assert SMALL.for_country("el").country == "GR"


def test_a_country_outside_the_eu_is_refused() -> None:
    for country in ("GB", "XI", "US"):
        with pytest.raises(NotAMemberState) as raised:
            SMALL.rate_for(country)
        assert isinstance(raised.value, ValidationFailed)


def test_a_member_state_missing_from_a_partial_table_is_not_found() -> None:
    assert not SMALL.is_complete
    with pytest.raises(NoSuchRate, match="holds no rates for DE"):
        SMALL.rate_for("DE")


def test_reduced_rates_are_kept_sorted_and_distinct() -> None:
    assert SMALL.for_country("AT").reduced == (D(10), D(13))
    assert state("IT", "22", ("10", "5", "10")).reduced == (D(5), D(10))


# -- what a state's rates may be ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "standard", "reduced", "more", "message"),
    [
        ("XX", "20", (), {}, "not an EU member state"),
        ("GB", "20", ("5",), {}, "not an EU member state"),
        ("DE", "14", (), {}, "below the EU minimum"),
        ("DE", "19", ("19",), {}, "below the standard rate"),
        ("DE", "19", ("0",), {}, "above 0"),
        ("FR", "20", (), {"super_reduced": "5"}, "below 5"),
        ("AT", "20", (), {"parking": "11"}, "at least 12"),
        ("AT", "20", (), {"parking": "20"}, "at least 12"),
        ("DE", "100", (), {}, "below 100"),
    ],
)
def test_impossible_rates_are_refused(
    country: str, standard: str, reduced: tuple[str, ...], more: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        state(country, standard, reduced, **more)


def test_a_state_valid_after_the_tables_date_is_refused() -> None:
    with pytest.raises(ValueError, match="after as_of"):
        EuVatRates("t", date(2025, 1, 1), {"DE": state("DE", "19", valid_from=date(2025, 6, 1))})


def test_a_state_filed_under_another_country_is_refused() -> None:
    with pytest.raises(ValueError, match="those of DE"):
        EuVatRates("t", date(2026, 1, 1), {"AT": state("DE", "19")})


def test_the_states_of_a_table_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        SMALL.states["DE"] = state("DE", "19")  # type: ignore[index]


# -- JSON ---------------------------------------------------------------------------------------


def test_json_writes_rates_as_decimal_strings_and_reads_them_back() -> None:
    data = json.loads(SMALL.to_json())
    assert data["as_of"] == "2026-01-01"
    assert data["states"]["FR"] == {
        "standard": "20",
        "reduced": ["5.5", "10"],
        "super_reduced": "2.1",
        "parking": None,
        "valid_from": "2025-01-01",
    }
    assert "EL" not in data["states"]
    assert EuVatRates.from_json(SMALL.to_json()) == SMALL


def test_json_accepts_greece_under_el() -> None:
    data = SMALL.to_dict()
    data["states"]["EL"] = data["states"].pop("GR")
    assert EuVatRates.from_dict(data).rate_for("GR") == D(24)


def test_json_refuses_floats_unknown_fields_and_bad_dates() -> None:
    good = SMALL.to_dict()
    as_float = json.loads(json.dumps(good))
    as_float["states"]["DK"]["standard"] = 25.0
    with pytest.raises(ValueError, match="decimal string"):
        EuVatRates.from_dict(as_float)
    extra = json.loads(json.dumps(good))
    extra["states"]["DK"]["rate"] = "25"
    with pytest.raises(ValueError, match="unknown fields"):
        EuVatRates.from_dict(extra)
    bad_date = json.loads(json.dumps(good))
    bad_date["as_of"] = "01/01/2026"
    with pytest.raises(ValueError, match="ISO date"):
        EuVatRates.from_dict(bad_date)
    with pytest.raises(ValueError, match="source"):
        EuVatRates.from_dict({**good, "source": ""})


def test_json_numbers_read_as_decimals_are_exact() -> None:
    text = '{"source": "s", "as_of": "2026-01-01", "states": {"FI": {"standard": 25.5, "reduced": [10, 13.5],'
    text += ' "super_reduced": null, "parking": null, "valid_from": "2026-01-01"}}}'
    assert EuVatRates.from_json(text).rate_for("FI") == D("25.5")


# -- the bundled table --------------------------------------------------------------------------


def test_the_bundled_table_has_all_27_member_states() -> None:
    table = load_bundled_eu_vat_rates()
    assert table.is_complete
    assert set(table.states) == MEMBER_STATES
    assert len(table.states) == 27


def test_the_bundled_table_names_its_source_and_date() -> None:
    table = load_bundled_eu_vat_rates()
    assert "European Commission" in table.source
    assert "TEDB" in table.source
    assert "https://" in table.source
    assert table.as_of == date(2026, 1, 1)
    assert all(rates.valid_from <= table.as_of for rates in table.states.values())


def test_every_bundled_standard_rate_is_between_15_and_28() -> None:
    for country, rates in load_bundled_eu_vat_rates().states.items():
        assert D(15) <= rates.standard <= D(28), country
        assert all(r < rates.standard for r in rates.reduced), country


@pytest.mark.parametrize(
    ("country", "standard", "reduced"),
    [
        ("FI", "25.5", ("10", "13.5")),  # 25.5 % since 2024-09-01; 14 % → 13.5 % on 2026-01-01
        ("SK", "23", ("5", "19")),  # since 2025-01-01
        ("EE", "24", ("9", "13")),  # since 2025-07-01
        ("RO", "21", ("11",)),  # since 2025-08-01
        ("LT", "21", ("5", "12")),  # since 2026-01-01
        ("DE", "19", ("7",)),
        ("FR", "20", ("5.5", "10")),
        ("HU", "27", ("5", "18")),
        ("LU", "17", ("8",)),
        ("DK", "25", ()),
        ("GR", "24", ("6", "13")),
    ],
)
def test_bundled_rates_include_the_recent_changes(
    country: str, standard: str, reduced: tuple[str, ...]
) -> None:
    rates = load_bundled_eu_vat_rates().for_country(country)
    assert rates.standard == D(standard)
    assert rates.reduced == tuple(D(r) for r in reduced)


def test_bundled_valid_from_dates_of_recent_changes() -> None:
    table = load_bundled_eu_vat_rates()
    assert table.for_country("RO").valid_from == date(2025, 8, 1)
    assert table.for_country("EE").valid_from == date(2025, 7, 1)
    assert table.for_country("SK").valid_from == date(2025, 1, 1)


def test_bundled_table_answers_greece_under_el_and_refuses_northern_ireland() -> None:
    table = load_bundled_eu_vat_rates()
    assert table.rate_for("EL") == D(24)
    with pytest.raises(NotAMemberState):
        table.rate_for("XI")


def test_the_bundled_table_round_trips_through_json() -> None:
    table = load_bundled_eu_vat_rates()
    assert EuVatRates.from_json(table.to_json()) == table
