"""The scheduled FX and EU VAT rate refreshes, invoked like Lambda with EventBridge's scheduled
event, against a local ECB and a local TEDB (never the real services): the first run stores,
the next stores nothing new, a source that is down fails the invocation and keeps what is held,
and a run fired far more often than needed (the local ticker) does not ask the source again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from billow.adapters.fx.ecb import RatesUnavailable
from billow.adapters.system import new_id
from billow.adapters.vat.bundled_rates import load_bundled_eu_vat_rates
from billow.adapters.vat.tedb import VatRatesUnavailable
from billow.api.container import Container, container, use_container
from billow.domain.eu_vat import EuVatRates
from billow.services.eu_vat_rates import IncompleteVatRates
from billow.settings import reset_settings
from tests.integration.test_api_conventions import stored_items
from tests.support.api_client import ApiClient, FakeContext
from tests.support.ecb_server import SAMPLE_DAYS, EcbServer
from tests.support.functions import load_function
from tests.support.tedb_server import TedbServer
from tests.unit.fakes import FixedClock

# Monday 1 July 2024, 17:00 CEST: the ECB's publication of the day is out.
AFTER_PUBLICATION = datetime(2024, 7, 1, 15, 0, tzinfo=UTC)


def scheduled_event(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5b2f3c1e-0000-4000-8000-000000000001",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2024-07-01T15:30:00Z",
        "region": "eu-central-1",
        "resources": [f"arn:aws:events:eu-central-1:123456789012:rule/{rule}"],
        "detail": {},
    }


def items_of(kind: str) -> list[dict[str, Any]]:
    return [item for item in stored_items() if item.get("kind", {}).get("S") == kind]


def held_rates() -> dict[str, dict[str, str]]:
    return {
        item["sk"]["S"]: {code: value["S"] for code, value in item["rates"]["M"].items()}
        for item in items_of("fx_reference_rates")
    }


@pytest.fixture
def clock(aws: None) -> FixedClock:
    fixed = FixedClock(AFTER_PUBLICATION)
    use_container(Container(clock=fixed, new_id=new_id))
    return fixed


@pytest.fixture
def ecb(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[EcbServer]:
    with EcbServer() as server:
        monkeypatch.setenv("BILLOW_ECB_BASE_URL", server.url)
        reset_settings()
        yield server


@pytest.fixture
def fx_rates() -> Any:
    return load_function("fx_rates").lambda_handler


@pytest.fixture
def vat_rates() -> Any:
    return load_function("vat_rates").lambda_handler


# --- FX ----------------------------------------------------------------------------------------


def test_refreshing_twice_stores_nothing_new(ecb: EcbServer, fx_rates: Any, clock: FixedClock) -> None:
    first = fx_rates(scheduled_event("fx"), FakeContext())
    assert first == {
        "source": "ecb",
        "fetched": 4,
        "stored": 4,
        "already_held": 0,
        "latest": "2024-07-01",
        "skipped": None,
    }
    held = held_rates()
    assert sorted(held) == ["2024-06-26", "2024-06-27", "2024-06-28", "2024-07-01"]
    assert held["2024-06-28"] == SAMPLE_DAYS[date(2024, 6, 28)]  # the strings the ECB published

    # The schedule fires again (the local ticker fires every 2 s): today's rates are held.
    again = fx_rates(scheduled_event("fx"), FakeContext())
    assert (again["skipped"], again["stored"]) == ("up_to_date", 0)
    assert len(ecb.requests) == 1
    # Asked anyway (an operator's invocation): fetched again, nothing new stored or replaced.
    forced = fx_rates({"force": True}, FakeContext())
    assert (forced["fetched"], forced["stored"], forced["already_held"]) == (4, 0, 4)
    assert held_rates() == held

    # The next day's publication is new; the days already held are kept as first stored.
    clock.moment = datetime(2024, 7, 2, 15, 0, tzinfo=UTC)
    days = {**SAMPLE_DAYS, date(2024, 7, 2): {"USD": "1.0720"}}
    days[date(2024, 7, 1)] = {"USD": "9.9999"}  # a revision of a held day is not taken over
    ecb.set_days(days)
    next_day = fx_rates(scheduled_event("fx"), FakeContext())
    assert (next_day["stored"], next_day["already_held"], next_day["latest"]) == (1, 4, "2024-07-02")
    assert held_rates()["2024-07-01"] == held["2024-07-01"]


def test_a_source_that_is_down_fails_the_run_and_keeps_the_rates_held(
    ecb: EcbServer, fx_rates: Any, clock: FixedClock, api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    clock.moment = datetime(2024, 6, 28, 15, 0, tzinfo=UTC)
    ecb.set_days({d: r for d, r in SAMPLE_DAYS.items() if d <= date(2024, 6, 28)})
    assert fx_rates(scheduled_event("fx"), FakeContext())["stored"] == 3
    held = held_rates()
    caplog.clear()

    clock.moment = datetime(2024, 7, 1, 15, 0, tzinfo=UTC)
    ecb.set_days(SAMPLE_DAYS)
    ecb.fail_next(503)
    with pytest.raises(RatesUnavailable, match="HTTP 503"):
        fx_rates(scheduled_event("fx"), FakeContext())
    assert "reference rates refresh failed" in caplog.text
    assert held_rates() == held
    assert api.get("/v1/fx/rates").data["date"] == "2024-06-28"  # the API still answers
    state = items_of("scheduled_refresh")
    assert [item["error"]["S"] for item in state] == [
        "RatesUnavailable: the ECB answered HTTP 503 for " + ecb.url + "/eurofxref-hist-90d.xml"
    ]

    # Fired again at once: the source is not asked again within 45 s...
    asked = len(ecb.requests)
    assert fx_rates(scheduled_event("fx"), FakeContext())["skipped"] == "attempted_recently"
    assert len(ecb.requests) == asked
    # ...but a minute later (Lambda's own retry) it is, and the missing day arrives.
    clock.advance(seconds=60)
    assert fx_rates(scheduled_event("fx"), FakeContext())["stored"] == 1
    assert "error" not in items_of("scheduled_refresh")[0]

    # An answer that is not the ECB's format changes nothing either.
    ecb.answer_raw_next(b"<html>maintenance</html>")
    with pytest.raises(RatesUnavailable):
        fx_rates({"force": True}, FakeContext())
    assert len(held_rates()) == 4


# --- EU VAT rates ------------------------------------------------------------------------------


@pytest.fixture
def tedb(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[TedbServer]:
    clock.moment = datetime(2026, 6, 1, 4, 15, tzinfo=UTC)
    with TedbServer(load_bundled_eu_vat_rates()) as server:
        monkeypatch.setenv("BILLOW_TEDB_BASE_URL", server.url)
        reset_settings()
        yield server


def vat_items() -> dict[str, dict[str, Any]]:
    return {item["sk"]["S"]: item for item in items_of("eu_vat_rates")}


def test_the_vat_table_refreshes_once_a_day_and_keeps_history_of_changes(
    tedb: TedbServer, vat_rates: Any, clock: FixedClock, api: ApiClient
) -> None:
    first = vat_rates(scheduled_event("vat"), FakeContext())
    assert first == {"stored": True, "changed": True, "as_of": "2026-06-01", "states": 27, "skipped": None}
    assert sorted(vat_items()) == ["2026-06-01", "CURRENT"]
    table = api.get("/v1/tax/eu-vat-rates").data
    assert (table["bundled"], table["as_of"], table["refreshed_at"]) == (
        False,
        "2026-06-01",
        "2026-06-01T04:15:00Z",
    )
    assert table["source"].startswith("European Commission TEDB")
    assert table["states"]["DE"]["standard"] == "19"

    again = vat_rates(scheduled_event("vat"), FakeContext())
    assert again["skipped"] == "up_to_date"
    assert len(tedb.requests) == 1

    clock.moment = datetime(2026, 6, 2, 4, 15, tzinfo=UTC)
    unchanged = vat_rates(scheduled_event("vat"), FakeContext())
    assert (unchanged["stored"], unchanged["changed"]) == (True, False)
    assert sorted(vat_items()) == ["2026-06-01", "CURRENT"]  # no history for an unchanged table
    assert vat_items()["CURRENT"]["refreshed_at"]["S"] == "2026-06-02T04:15:00Z"

    bundled = load_bundled_eu_vat_rates()
    germany = replace(bundled.states["DE"], standard=Decimal("21"), valid_from=date(2026, 6, 1))
    tedb.rates = EuVatRates(bundled.source, date(2026, 6, 1), {**bundled.states, "DE": germany})
    clock.moment = datetime(2026, 6, 3, 4, 15, tzinfo=UTC)
    changed = vat_rates(scheduled_event("vat"), FakeContext())
    assert (changed["stored"], changed["changed"]) == (True, True)
    assert sorted(vat_items()) == ["2026-06-01", "2026-06-03", "CURRENT"]
    assert container().eu_vat_rates.current().rate_for("DE") == Decimal("21")


def test_a_failing_or_partial_vat_answer_keeps_the_table_in_use(
    tedb: TedbServer, vat_rates: Any, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    assert vat_rates(scheduled_event("vat"), FakeContext())["stored"] is True
    kept = vat_items()["CURRENT"]

    clock.moment = datetime(2026, 6, 2, 4, 15, tzinfo=UTC)
    tedb.fail_next(503)
    with pytest.raises(VatRatesUnavailable, match="HTTP 503"):
        vat_rates(scheduled_event("vat"), FakeContext())
    assert "EU VAT rates refresh failed" in caplog.text
    assert vat_items()["CURRENT"] == kept

    # A state missing from the answer: all 27 or nothing.
    bundled = load_bundled_eu_vat_rates()
    tedb.rates = EuVatRates(
        bundled.source, bundled.as_of, {c: r for c, r in bundled.states.items() if c != "MT"}
    )
    clock.advance(seconds=60)
    with pytest.raises(VatRatesUnavailable, match="MT"):
        vat_rates(scheduled_event("vat"), FakeContext())
    assert vat_items()["CURRENT"] == kept
    assert container().eu_vat_rates.current().is_complete

    # The service itself refuses a table lacking a state, whatever the client let through.
    service = container().eu_vat_rates
    lacking = EuVatRates(
        "elsewhere", date(2026, 6, 2), {c: r for c, r in bundled.states.items() if c != "MT"}
    )
    service.source = lambda: StaticVatSource(lacking)
    with pytest.raises(IncompleteVatRates, match="lack MT"):
        service.refresh(date(2026, 6, 2))
    assert vat_items()["CURRENT"] == kept


class StaticVatSource:
    def __init__(self, rates: EuVatRates) -> None:
        self.rates = rates

    def rates_on(self, situation_on: date) -> EuVatRates:
        return self.rates
