"""The TEDB client over HTTP against the local TEDB web service (tests/support/tedb_server.py):
the SOAP request it sends, how TEDB's per-category results become a rate table (special
territories and exemptions left out), Greece as EL, and failures (VatRatesUnavailable)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from billow.adapters.vat.bundled_rates import load_bundled_eu_vat_rates
from billow.adapters.vat.tedb import (
    SOAP_ACTION,
    TedbRatesSource,
    VatRatesUnavailable,
    build_request,
    parse_response,
    to_eu_vat_rates,
)
from billow.domain.eu_vat import MEMBER_STATES, EuVatRates, VatRateKind
from tests.support.tedb_server import TedbServer, answer_document, fault_document, parse_request

TIMEOUT = 0.5
NEW_YEAR = date(2026, 1, 1)


@pytest.fixture
def tedb() -> Iterator[TedbServer]:
    with TedbServer(load_bundled_eu_vat_rates()) as server:
        yield server


@pytest.fixture
def source(tedb: TedbServer) -> TedbRatesSource:
    return TedbRatesSource(tedb.url, timeout=TIMEOUT)


def unavailable(source: TedbRatesSource, states: tuple[str, ...] = ("DE",)) -> str:
    with pytest.raises(VatRatesUnavailable) as raised:
        source.rates_on(NEW_YEAR, states)
    return str(raised.value)


# -- the request ------------------------------------------------------------------------------


def test_the_request_asks_every_member_state_greece_as_el(tedb: TedbServer, source: TedbRatesSource) -> None:
    source.rates_on(NEW_YEAR)

    (request,) = tedb.requests
    assert request is not None
    assert len(request.iso_codes) == 27
    assert "EL" in request.iso_codes
    assert "GR" not in request.iso_codes
    assert request.situation_on == "2026-01-01"
    assert (request.date_from, request.date_to) == (None, None)
    assert request.soap_action == SOAP_ACTION


def test_the_envelope_is_the_services_document_literal_message() -> None:
    envelope = build_request(["GR", "DE"], NEW_YEAR)
    assert envelope.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b"urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService" in envelope
    assert b":retrieveVatRatesReqMsg>" in envelope
    request = parse_request(envelope, SOAP_ACTION)
    assert request is not None
    assert request.iso_codes == ("EL", "DE")
    assert request.situation_on == "2026-01-01"


# -- the answer ---------------------------------------------------------------------------------


def test_the_rates_read_from_tedb_match_the_table_it_was_given(source: TedbRatesSource) -> None:
    bundled = load_bundled_eu_vat_rates()
    table = source.rates_on(NEW_YEAR)

    assert table.is_complete
    assert table.as_of == NEW_YEAR
    assert "TEDB" in table.source
    for country in MEMBER_STATES:
        read, given = table.for_country(country), bundled.for_country(country)
        assert read.standard == given.standard, country
        assert read.reduced == given.reduced, country
        assert read.super_reduced == given.super_reduced, country
        assert read.parking == given.parking, country
        assert read.valid_from == given.valid_from, country


def test_special_territories_exemptions_and_zero_rates_are_left_out(source: TedbRatesSource) -> None:
    table = source.rates_on(NEW_YEAR, ["ES", "FR", "AT", "PT", "LU", "IE"])

    assert table.rate_for("ES") == Decimal(21)  # not the Canary Islands' 7 %
    assert table.for_country("FR").reduced == (Decimal("5.5"), Decimal(10))  # not Corsica's or Martinique's
    assert table.for_country("FR").super_reduced == Decimal("2.1")
    assert table.for_country("AT").reduced == (Decimal(10), Decimal(13))  # not Jungholz's 19 %
    assert table.for_country("AT").parking == Decimal(13)
    assert table.for_country("PT").reduced == (Decimal(6), Decimal(13))  # not Madeira's 22 %


def test_a_parking_rate_is_also_reduced_unless_tedb_calls_it_the_parking_rate(
    source: TedbRatesSource,
) -> None:
    table = source.rates_on(NEW_YEAR, ["AT", "IE", "LU"])

    assert table.for_country("AT").reduced == (Decimal(10), Decimal(13))
    assert table.for_country("AT").parking == Decimal(13)
    assert table.for_country("IE").reduced == (Decimal(9), Decimal("13.5"))
    assert table.for_country("IE").parking == Decimal("13.5")
    assert table.for_country("IE").super_reduced == Decimal("4.8")
    assert table.for_country("LU").reduced == (Decimal(8),)
    assert table.for_country("LU").parking == Decimal(14)


def test_greece_comes_back_as_gr(tedb: TedbServer, source: TedbRatesSource) -> None:
    table = source.rates_on(NEW_YEAR, ["GR", "DE"])

    assert set(table.states) == {"DE", "GR"}
    assert table.rate_for("GR") == Decimal(24)
    assert table.rate_for("EL", VatRateKind.REDUCED, which="lowest") == Decimal(6)
    request = tedb.requests[-1]
    assert request is not None
    assert request.iso_codes == ("DE", "EL")


def test_a_recorded_answer_is_read() -> None:
    # Germany's answer as the live service gives it (abridged): xs:double values, dates with an
    # offset, CN codes, categories and comments, an import variant of the standard rate.
    document = (
        b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header/><env:Body>'
        b'<ns0:retrieveVatRatesRespMsg xmlns="urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService'
        b':types" xmlns:ns0="urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService">'
        b"<additionalInformation/>"
        b"<vatRateResults><memberState>DE</memberState><type>REDUCED</type><rate><type>REDUCED_RATE</type>"
        b"<value>7.0</value></rate><situationOn>2025-07-01+02:00</situationOn><cnCodes><code><value>01"
        b"</value><description>CHAPTER 1 - LIVE ANIMALS</description></code></cnCodes><category>"
        b"<identifier>FOODSTUFFS</identifier><description>Foodstuffs</description></category><comment>"
        b"Annex 2 of the German VAT Act\r\nSee preliminary remarks</comment></vatRateResults>"
        b"<vatRateResults><memberState>DE</memberState><type>REDUCED</type><rate><type>EXEMPTED</type>"
        b"<value>0.0</value></rate><situationOn>2025-07-01+02:00</situationOn><category><identifier>"
        b"SUPPLY_ELECTRICITY</identifier><description>Supply of electricity</description></category>"
        b"</vatRateResults>"
        b"<vatRateResults><memberState>DE</memberState><type>STANDARD</type><rate><type>DEFAULT</type>"
        b"<value>19.0</value></rate><situationOn>2025-07-01+02:00</situationOn><comment>VAT - Import - "
        b"</comment></vatRateResults>"
        b"<vatRateResults><memberState>DE</memberState><type>STANDARD</type><rate><type>DEFAULT</type>"
        b"<value>19.0</value></rate><situationOn>2025-07-01+02:00</situationOn></vatRateResults>"
        b"</ns0:retrieveVatRatesRespMsg></env:Body></env:Envelope>"
    )
    results = parse_response(document)
    assert len(results) == 4
    assert results[0].category == "FOODSTUFFS"
    assert results[0].value == Decimal("7.0")
    assert results[0].situation_on == date(2025, 7, 1)
    germany = to_eu_vat_rates(results, NEW_YEAR, ["DE"]).for_country("DE")
    assert (germany.standard, germany.reduced, germany.valid_from) == (
        Decimal(19),
        (Decimal(7),),
        date(2025, 7, 1),
    )


def test_an_answer_for_another_date_is_never_valid_after_the_date_asked() -> None:
    table = to_eu_vat_rates(
        parse_response(answer_document([_standard("DK", "25.0", "2026-07-01+02:00")])), NEW_YEAR, ["DK"]
    )
    assert table.for_country("DK").valid_from == NEW_YEAR


def _standard(state: str, value: str, on: str) -> str:
    return (
        f"<vatRateResults><memberState>{state}</memberState><type>STANDARD</type><rate><type>DEFAULT</type>"
        f"<value>{value}</value></rate><situationOn>{on}</situationOn></vatRateResults>"
    )


# -- failures -----------------------------------------------------------------------------------


def test_a_soap_fault_is_vat_rates_unavailable_with_tedbs_reason(
    tedb: TedbServer, source: TedbRatesSource
) -> None:
    # What the live service answers to an unknown member state code.
    tedb.answer_raw_next(
        fault_document(
            "TEDB-ERR-2 - Request is not valid", [("00002", 'The Member State "GR" does not exist.')]
        ),
        status=500,
    )
    message = unavailable(source)
    assert "TEDB-ERR-2 - Request is not valid" in message
    assert 'The Member State "GR" does not exist.' in message
    assert "env:Client" in message


def test_the_local_service_refuses_gr_as_the_live_one_does(tedb: TedbServer) -> None:
    envelope = build_request(["DE"], NEW_YEAR).replace(b">DE<", b">GR<")
    url = tedb.url + "/VatRetrievalService"
    request = urllib.request.Request(url, data=envelope, method="POST")  # noqa: S310 - local http
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310
    with raised.value:
        assert raised.value.code == 500
        assert b'The Member State "GR" does not exist.' in raised.value.read()


def test_a_503_is_vat_rates_unavailable(tedb: TedbServer, source: TedbRatesSource) -> None:
    tedb.fail_next(503)
    assert "HTTP 503" in unavailable(source)
    assert source.rates_on(NEW_YEAR, ["DE"]).rate_for("DE") == Decimal(19)


def test_a_500_without_a_fault_is_vat_rates_unavailable(tedb: TedbServer, source: TedbRatesSource) -> None:
    tedb.answer_raw_next(b"<html><body>Internal error</body></html>", status=500)
    assert "not a SOAP envelope" in unavailable(source)


def test_a_slow_answer_times_out(tedb: TedbServer) -> None:
    tedb.delay_next(1.0)
    started = time.monotonic()
    message = unavailable(TedbRatesSource(tedb.url, timeout=0.2))
    assert time.monotonic() - started < 0.9
    assert "did not answer within 0.2 s" in message


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"<env:Envelope", "not XML"),
        (b"<rates/>", "not a SOAP envelope"),
        (
            b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body/></env:Envelope>',
            "no retrieveVatRatesRespMsg",
        ),
        (answer_document([]), "no standard rate for DE"),
        (answer_document([_standard("DE", "nineteen", "2025-07-01+02:00")]), "'nineteen'"),
        (answer_document([_standard("DE", "19.0", "1 July 2025")]), "'1 July 2025'"),
        (answer_document([_standard("DE", "9.0", "2025-07-01+02:00")]), "do not make a rate table"),
        (
            answer_document(["<vatRateResults><memberState>DE</memberState></vatRateResults>"]),
            "without state",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">&x;</env:Envelope>',
            "DOCTYPE",
        ),
    ],
)
def test_a_malformed_answer_is_vat_rates_unavailable(
    tedb: TedbServer, source: TedbRatesSource, body: bytes, complaint: str
) -> None:
    tedb.answer_raw_next(body)
    assert complaint in unavailable(source)


def test_a_state_missing_from_the_answer_is_vat_rates_unavailable() -> None:
    bundled = load_bundled_eu_vat_rates()
    without_malta = EuVatRates(
        bundled.source, bundled.as_of, {c: r for c, r in bundled.states.items() if c != "MT"}
    )
    with TedbServer(without_malta) as tedb:
        message = unavailable(TedbRatesSource(tedb.url, timeout=TIMEOUT), tuple(MEMBER_STATES))
    assert "no standard rate for MT" in message


def test_only_member_states_can_be_asked_for(source: TedbRatesSource) -> None:
    with pytest.raises(ValueError, match="member states"):
        source.rates_on(NEW_YEAR, ["GB"])
    with pytest.raises(ValueError, match="member states"):
        source.rates_on(NEW_YEAR, [])
    with pytest.raises(ValueError, match="http"):
        TedbRatesSource("file:///tmp")
