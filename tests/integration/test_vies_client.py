"""The VIES client over HTTP against the local VIES (tests/support/vies_server.py): yes and no
answers, consultation numbers, Greece (EL) and Northern Ireland (XI), and every failure that
must come out as "unavailable", never "invalid". Also the answer's model (VatCheck) and how
long each answer may be cached."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from billow.adapters.vat.vies import ViesClient, parse_request_date, split_vat_id
from billow.domain.vat_check import CACHE_TTL, VatCheck, reason_for_error
from tests.support.vies_server import ViesServer

TIMEOUT = 0.5
REGISTERED = {
    "DE123456789": ("ACME GmbH", "Hauptstr. 1\n10115 Berlin\n"),
    "EL094014201": ("ΕΛΛΗΝΙΚΗ ΕΤΑΙΡΕΙΑ Α.Ε.", "ΟΔΟΣ 1 10431 ΑΘΗΝΑ"),  # noqa: RUF001
    "XI123456782": ("Belfast Widgets Ltd", "1 Main St\nBelfast BT1 1AA"),
    "ES12345678Z": (None, None),  # Spain does not disclose names and addresses
    "NL868754289B01": ("Billow Seller BV", "Kade 1\n1011 AA Amsterdam"),
}


@pytest.fixture
def vies() -> Iterator[ViesServer]:
    with ViesServer(REGISTERED) as server:
        yield server


@pytest.fixture
def client(vies: ViesServer) -> ViesClient:
    return ViesClient(vies.url, timeout=TIMEOUT)


# -- yes and no ----------------------------------------------------------------------------


def test_a_registered_number_is_valid_with_its_trader(vies: ViesServer, client: ViesClient) -> None:
    before = datetime.now(UTC)
    check = client.check("DE123456789")

    assert check.status == "valid"
    assert check.is_valid
    assert (check.prefix, check.number, check.country, check.vat_id) == (
        "DE",
        "123456789",
        "DE",
        "DE123456789",
    )
    assert check.name == "ACME GmbH"
    assert check.address == "Hauptstr. 1\n10115 Berlin"
    assert check.checked_at is not None
    assert check.checked_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= check.checked_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert check.request_identifier is None
    assert check.reason is None
    assert vies.requests == [{"countryCode": "DE", "vatNumber": "123456789"}]


def test_an_unregistered_number_is_invalid(vies: ViesServer, client: ViesClient) -> None:
    check = client.check("DE999999999")

    assert check.status == "invalid"
    assert check.reason is not None
    assert "not a registered VAT number" in check.reason
    assert check.name is None
    assert check.address is None
    assert check.checked_at is not None


def test_separators_and_case_are_forgiven(vies: ViesServer, client: ViesClient) -> None:
    assert client.check("de 123.456-789").status == "valid"
    assert vies.requests[-1] == {"countryCode": "DE", "vatNumber": "123456789"}


def test_undisclosed_name_and_address_are_none(client: ViesClient) -> None:
    check = client.check("ES12345678Z")
    assert check.status == "valid"
    assert check.name is None
    assert check.address is None


def test_a_requester_gets_a_consultation_number(vies: ViesServer, client: ViesClient) -> None:
    check = client.check("DE123456789", requester_vat_id="NL868754289B01")

    assert check.status == "valid"
    assert check.request_identifier is not None
    assert check.request_identifier.startswith("WAPI")
    assert vies.requests[-1] == {
        "countryCode": "DE",
        "vatNumber": "123456789",
        "requesterMemberStateCode": "NL",
        "requesterNumber": "868754289B01",
    }


def test_a_refused_requester_is_unavailable_not_invalid(client: ViesClient) -> None:
    check = client.check("DE123456789", requester_vat_id="NL000000000B00")
    assert check.status == "unavailable"
    assert check.reason == "VIES refused the requester's VAT number (INVALID_REQUESTER_INFO)"


def test_a_requester_that_is_no_eu_vat_number_is_a_caller_error(client: ViesClient) -> None:
    with pytest.raises(ValueError, match="requester"):
        client.check("DE123456789", requester_vat_id="US12-3456789")


# -- Greece and Northern Ireland ----------------------------------------------------------------


@pytest.mark.parametrize("written", ["EL094014201", "GR094014201", "gr 094 014 201"])
def test_greece_is_asked_as_el_whatever_was_typed(vies: ViesServer, client: ViesClient, written: str) -> None:
    check = client.check(written)

    assert vies.requests[-1] == {"countryCode": "EL", "vatNumber": "094014201"}
    assert check.status == "valid"
    assert check.prefix == "EL"
    assert check.country == "GR"
    assert check.vat_id == "EL094014201"
    assert check.name == "ΕΛΛΗΝΙΚΗ ΕΤΑΙΡΕΙΑ Α.Ε."  # noqa: RUF001


def test_northern_ireland_numbers_are_checked_and_belong_to_gb(client: ViesClient) -> None:
    check = client.check("XI123456782")
    assert check.status == "valid"
    assert check.prefix == "XI"
    assert check.country == "GB"


@pytest.mark.parametrize(
    ("vat_id", "why"),
    [
        ("GB123456789", "GB is not the prefix of a member state"),
        ("US123456789", "US is not the prefix"),
        ("123456789", "two-letter country prefix"),
        ("", "two-letter country prefix"),
        ("DE1", "not a VAT number"),
        ("DE12345678901234567", "not a VAT number"),
    ],
)
def test_what_cannot_be_a_vies_number_is_invalid_without_asking(
    vies: ViesServer, client: ViesClient, vat_id: str, why: str
) -> None:
    check = client.check(vat_id)
    assert check.status == "invalid"
    assert check.reason is not None
    assert why in check.reason
    assert vies.request_count == 0


# -- not a clear answer: unavailable ----------------------------------------------------------


def test_a_member_state_down_is_unavailable(vies: ViesServer, client: ViesClient) -> None:
    vies.set_unavailable("DE")
    check = client.check("DE123456789")

    assert check.status == "unavailable"
    assert check.reason == "the member state's service is unavailable (MS_UNAVAILABLE)"
    assert check.name is None
    assert check.checked_at is None
    assert client.check("EL094014201").status == "valid"  # other states still answer
    vies.set_unavailable("DE", False)
    assert client.check("DE123456789").status == "valid"


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("MS_UNAVAILABLE", 200, "the member state's service is unavailable (MS_UNAVAILABLE)"),
        ("MS_MAX_CONCURRENT_REQ", 200, "too many requests at once (MS_MAX_CONCURRENT_REQ)"),
        ("GLOBAL_MAX_CONCURRENT_REQ", 429, "VIES has too many requests at once (GLOBAL_MAX_CONCURRENT_REQ)"),
        ("TIMEOUT", 200, "did not answer VIES in time (TIMEOUT)"),
        ("SERVICE_UNAVAILABLE", 503, "VIES is unavailable (SERVICE_UNAVAILABLE)"),
        ("MS_UNAVAILABLE", 500, "(MS_UNAVAILABLE)"),
        ("SOMETHING_NEW", 200, "VIES answered with an error (SOMETHING_NEW)"),
    ],
)
def test_vies_error_codes_are_unavailable_whatever_the_http_status(
    vies: ViesServer, client: ViesClient, code: str, status: int, reason: str
) -> None:
    vies.fail_next(code, status=status)
    check = client.check("DE123456789")
    assert check.status == "unavailable"
    assert check.reason is not None
    assert check.reason.endswith(reason)


@pytest.mark.parametrize("status", [200, 400])
def test_invalid_input_is_vies_refusing_the_number(vies: ViesServer, client: ViesClient, status: int) -> None:
    vies.fail_next("INVALID_INPUT", status=status)
    check = client.check("DE123456789")
    assert check.status == "invalid"
    assert check.reason == "VIES refused the number as malformed (INVALID_INPUT)"


def test_a_500_page_is_unavailable(vies: ViesServer, client: ViesClient) -> None:
    vies.fail_http_next(500)
    check = client.check("DE123456789")
    assert check.status == "unavailable"
    assert check.reason == "VIES answered HTTP 500"


def test_a_slow_answer_past_the_timeout_is_unavailable(vies: ViesServer) -> None:
    vies.delay_next(1.0)
    started = time.monotonic()
    check = ViesClient(vies.url, timeout=0.2).check("DE123456789")

    assert time.monotonic() - started < 0.9
    assert check.status == "unavailable"
    assert check.reason == "VIES did not answer within 0.2 s (timeout)"
    assert vies.request_count == 1  # asked once: no retries here


def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check = ViesClient(f"http://127.0.0.1:{port}/rest-api", timeout=TIMEOUT).check("DE123456789")
    assert check.status == "unavailable"
    assert check.reason is not None
    assert check.reason.startswith("could not reach VIES")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "it is not JSON"),
        (b"<html>busy</html>", "it is not JSON"),
        (b"[]", "no true/false 'valid'"),
        (b"{}", "no true/false 'valid'"),
        (b'{"countryCode": "DE", "vatNumber": "123456789", "valid": "true"}', "no true/false 'valid'"),
        (b'{"countryCode": "DE", "vatNumber": "123456789", "valid": null}', "no true/false 'valid'"),
        (b'{"countryCode": "FR", "vatNumber": "123456789", "valid": false}', "about another number"),
        (b'{"countryCode": "DE", "vatNumber": "987654321", "valid": true}', "about another number"),
        (b'{"isValid": false, "userError": "MS_UNAVAILABLE"}', "(MS_UNAVAILABLE)"),
        (b'{"actionSucceed": false}', "(UNKNOWN_ERROR)"),
        (b'{"actionSucceed": false, "errorWrappers": [{}]}', "(UNKNOWN_ERROR)"),
    ],
)
def test_a_malformed_answer_is_unavailable_never_invalid(
    vies: ViesServer, client: ViesClient, body: bytes, reason: str
) -> None:
    vies.answer_raw_next(body)
    check = client.check("DE123456789")
    assert check.status == "unavailable"
    assert check.reason is not None
    assert reason in check.reason


def test_a_redirect_is_not_followed(vies: ViesServer, client: ViesClient) -> None:
    vies.answer_raw_next(b"", status=302)
    check = client.check("DE123456789")
    assert check.status == "unavailable"
    assert check.reason == "VIES answered HTTP 302"


def test_an_oversized_answer_is_unavailable(vies: ViesServer) -> None:
    check = ViesClient(vies.url, timeout=TIMEOUT, max_bytes=100).check("DE123456789")
    assert check.status == "unavailable"
    assert check.reason == "VIES's answer is larger than 100 bytes"


def test_every_check_is_one_request(vies: ViesServer, client: ViesClient) -> None:
    client.check("DE123456789")
    client.check("DE123456789")
    vies.fail_next("MS_UNAVAILABLE")
    client.check("DE123456789")
    assert vies.request_count == 3


def test_only_http_base_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http"):
        ViesClient("ftp://ec.europa.eu")


# -- the answer's model ---------------------------------------------------------------------------


def test_vies_request_dates_are_read_in_both_forms() -> None:
    assert parse_request_date("2024-11-24T23:25:51.619Z") == datetime(2024, 11, 24, 23, 25, 51, 619000, UTC)
    assert parse_request_date("2026-08-29+02:00") == datetime(
        2026, 8, 29, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_request_date("2026-08-29") == datetime(2026, 8, 29, tzinfo=UTC)
    assert parse_request_date("2026-08-29T10:00:00") == datetime(2026, 8, 29, 10, tzinfo=UTC)
    for unreadable in ("", "yesterday", "2026-13-01+02:00", None, 17):
        assert parse_request_date(unreadable) is None


def test_vat_ids_are_split_with_greece_as_el() -> None:
    assert split_vat_id("GR094014201") == ("EL", "094014201")
    assert split_vat_id(" nl 8687.54289-B01 ") == ("NL", "868754289B01")


def test_each_status_is_cached_for_its_own_time() -> None:
    assert CACHE_TTL["valid"] == timedelta(days=7)
    assert CACHE_TTL["invalid"] == timedelta(days=1)
    assert CACHE_TTL["unavailable"] == timedelta(minutes=15)
    checked = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    received = checked + timedelta(seconds=2)
    valid = VatCheck(status="valid", prefix="DE", number="123456789", checked_at=checked)
    invalid = VatCheck(status="invalid", prefix="DE", number="1", checked_at=checked, reason="no")
    down = VatCheck(status="unavailable", prefix="DE", number="1", reason="MS_UNAVAILABLE")

    assert valid.fresh_until(received_at=received) == checked + timedelta(days=7)
    assert invalid.fresh_until(received_at=received) == checked + timedelta(days=1)
    assert down.fresh_until(received_at=received) == received + timedelta(minutes=15)
    assert valid.is_fresh(now=checked + timedelta(days=6), received_at=received)
    assert not valid.is_fresh(now=checked + timedelta(days=7), received_at=received)


def test_a_check_that_is_not_valid_needs_its_reason_and_times_need_zones() -> None:
    with pytest.raises(ValueError, match="reason"):
        VatCheck(status="unavailable", prefix="DE", number="123456789")
    with pytest.raises(ValueError, match="timezone"):
        VatCheck(status="valid", prefix="DE", number="123456789", checked_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        VatCheck(status="valid", prefix="DE", number="1").fresh_until(received_at=datetime(2026, 1, 1))


def test_reasons_for_vies_errors() -> None:
    assert reason_for_error("MS_UNAVAILABLE") == (
        "unavailable",
        "the member state's service is unavailable (MS_UNAVAILABLE)",
    )
    assert reason_for_error("INVALID_INPUT")[0] == "invalid"
    assert reason_for_error("ANYTHING_ELSE")[0] == "unavailable"
