"""The ECB reference rates adapter over HTTP against the local ECB (tests/support/ecb_server.py):
the daily and 90-day files, and every way fetching them can fail (RatesUnavailable)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from billow.adapters.fx.ecb import EcbRatesSource, RatesUnavailable, parse_eurofxref
from billow.domain.reference_rates import rates_on
from tests.support.ecb_server import SAMPLE_DAYS, EcbServer, eurofxref_xml

TIMEOUT = 0.5
ONE_DAY = eurofxref_xml({date(2024, 6, 28): {"USD": "1.07"}})


@pytest.fixture
def ecb() -> Iterator[EcbServer]:
    with EcbServer(SAMPLE_DAYS) as server:
        yield server


@pytest.fixture
def source(ecb: EcbServer) -> EcbRatesSource:
    return EcbRatesSource(ecb.url, timeout=TIMEOUT)


def unavailable(source: EcbRatesSource) -> str:
    with pytest.raises(RatesUnavailable) as raised:
        source.latest()
    return str(raised.value)


# -- happy paths ----------------------------------------------------------------------------


def test_latest_is_the_daily_files_publication(ecb: EcbServer, source: EcbRatesSource) -> None:
    latest = source.latest()

    assert latest.source == "ecb"
    assert latest.base == "EUR"
    assert latest.rate_date == date(2024, 7, 1)
    assert latest.rates["USD"] == Decimal("1.0746")
    assert str(latest.rates["GBP"]) == "0.84710"  # the published text, trailing zero kept
    assert set(latest.rates) == {"USD", "JPY", "GBP", "CHF", "SEK"}
    assert ecb.requests == ["/stats/eurofxref/eurofxref-daily.xml"]


def test_the_last_90_days_come_oldest_first(ecb: EcbServer, source: EcbRatesSource) -> None:
    days = source.last_90_days()

    assert [p.rate_date for p in days] == sorted(SAMPLE_DAYS)
    assert days[2].rate("EUR", "USD") == Decimal("1.0705")
    assert days[2].rate("USD", "GBP") == Decimal("0.7906398879")
    assert ecb.requests == ["/stats/eurofxref/eurofxref-hist-90d.xml"]


def test_the_90_day_publications_price_a_weekend_at_fridays_rates(source: EcbRatesSource) -> None:
    held = source.last_90_days()
    assert rates_on(held, date(2024, 6, 29)).rate_date == date(2024, 6, 28)
    assert rates_on(held, date(2024, 6, 30)).rates["USD"] == Decimal("1.0705")


def test_a_base_url_with_a_trailing_slash_works(ecb: EcbServer) -> None:
    assert EcbRatesSource(ecb.url + "/", timeout=TIMEOUT).latest().rate_date == date(2024, 7, 1)


def test_the_parser_reads_the_ecbs_document_verbatim() -> None:
    # The ECB's own layout: namespace prefixes, single-quoted attributes, tabs, newest first.
    document = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        b'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
        b"\t<gesmes:subject>Reference rates</gesmes:subject>\n"
        b"\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n"
        b"\t<Cube>\n\t\t<Cube time='2024-06-28'>\n"
        b"\t\t\t<Cube currency='USD' rate='1.0705'/>\n\t\t\t<Cube currency='IDR' rate='17487.21'/>\n"
        b"\t\t</Cube>\n\t\t<Cube time='2024-06-27'>\n\t\t\t<Cube currency='USD' rate='1.0698'/>\n"
        b"\t\t</Cube>\n\t</Cube>\n</gesmes:Envelope>\n"
    )
    parsed = parse_eurofxref(document)
    assert [p.rate_date for p in parsed] == [date(2024, 6, 27), date(2024, 6, 28)]
    assert parsed[1].rates["IDR"] == Decimal("17487.21")


# -- failures ---------------------------------------------------------------------------------


def test_a_503_is_rates_unavailable(ecb: EcbServer, source: EcbRatesSource) -> None:
    ecb.fail_next(503)
    assert "HTTP 503" in unavailable(source)
    assert source.latest().rate_date == date(2024, 7, 1)  # and the next request works


def test_a_wrong_path_is_rates_unavailable(ecb: EcbServer) -> None:
    wrong = EcbRatesSource(ecb.url.replace("/eurofxref", "/nowhere"), timeout=TIMEOUT)
    assert "HTTP 404" in unavailable(wrong)


def test_nothing_listening_is_rates_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = EcbRatesSource(f"http://127.0.0.1:{port}/stats/eurofxref", timeout=TIMEOUT)
    assert "could not reach the ECB" in unavailable(refused)


def test_a_slow_answer_times_out_as_rates_unavailable(ecb: EcbServer) -> None:
    ecb.delay_next(1.0)
    started = time.monotonic()
    message = unavailable(EcbRatesSource(ecb.url, timeout=0.2))
    assert time.monotonic() - started < 0.9
    assert "timed out" in message


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"<gesmes:Envelope", "not XML"),
        (b"<html><body>Maintenance</body></html>", "not a gesmes:Envelope"),
        (eurofxref_xml({}), "no publication"),
        (eurofxref_xml({date(2024, 6, 28): {}}), "no rates"),
        (eurofxref_xml({date(2024, 6, 28): {"USD": "1,0705"}}), "'1,0705'"),
        (eurofxref_xml({date(2024, 6, 28): {"USD": "NaN"}}), "'NaN'"),
        (eurofxref_xml({date(2024, 6, 28): {"USD": "1e3"}}), "'1e3'"),
        (eurofxref_xml({date(2024, 6, 28): {"USD": "-1.07"}}), "'-1.07'"),
        (eurofxref_xml({date(2024, 6, 28): {"USD": "0"}}), "'0'"),
        (eurofxref_xml({date(2024, 6, 28): {"usd": "1.07"}}), "'usd'"),
        (eurofxref_xml({date(2024, 6, 28): {"EUR": "1"}}), "EUR twice"),
        (
            eurofxref_xml({date(2024, 6, 28): {"USD": "1.07"}}).replace(b"2024-06-28", b"28.06.2024"),
            "28.06.2024",
        ),
        (
            eurofxref_xml({date(2024, 6, 28): {"USD": "1.07"}}).replace(b"rate='1.07'", b""),
            "USD on 2024-06-28 is None",
        ),
    ],
)
def test_a_malformed_document_is_rates_unavailable(
    ecb: EcbServer, source: EcbRatesSource, body: bytes, complaint: str
) -> None:
    ecb.answer_raw_next(body)
    assert complaint in unavailable(source)


def test_duplicate_quotes_in_a_publication_are_refused() -> None:
    document = eurofxref_xml({date(2024, 6, 28): {"USD": "1.07"}}).replace(
        b"<Cube currency='USD' rate='1.07'/>",
        b"<Cube currency='USD' rate='1.07'/><Cube currency='USD' rate='1.08'/>",
    )
    with pytest.raises(RatesUnavailable, match="USD twice"):
        parse_eurofxref(document)


def test_entities_and_doctypes_are_never_resolved(ecb: EcbServer, source: EcbRatesSource) -> None:
    external = (
        b'<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b'<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        b'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><gesmes:subject>&x;</gesmes:subject>'
        b"<Cube><Cube time='2024-06-28'><Cube currency='USD' rate='1.07'/></Cube></Cube></gesmes:Envelope>"
    )
    ecb.answer_raw_next(external)
    message = unavailable(source)
    assert "DOCTYPE" in message
    assert "root:" not in message

    laughs = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    pairs = [(b"b", b"a"), (b"c", b"b"), (b"d", b"c"), (b"e", b"d")]
    laughs += b"".join(b'<!ENTITY %s "%s">' % (name, b"&%s;" % inner * 10) for name, inner in pairs)
    laughs += b"]><gesmes:Envelope xmlns:gesmes='http://www.gesmes.org/xml/2002-08-01'>&e;</gesmes:Envelope>"
    ecb.answer_raw_next(laughs)
    assert "DOCTYPE" in unavailable(source)


def test_an_oversized_answer_is_refused(ecb: EcbServer) -> None:
    small = EcbRatesSource(ecb.url, timeout=TIMEOUT, max_bytes=200)
    assert "larger than 200 bytes" in unavailable(small)


def test_only_http_base_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http"):
        EcbRatesSource("file:///etc")
    with pytest.raises(ValueError, match="positive"):
        EcbRatesSource(timeout=0)
