"""Opaque list cursors (signed, bound to tenant, mode and query) and If-Match parsing."""

from __future__ import annotations

import base64
import json
import re
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.api.pagination import InvalidCursor, decode_cursor, encode_cursor, query_fingerprint
from billow.api.responses import parse_if_match
from billow.domain.errors import PreconditionFailed
from billow.domain.tenancy import Scope

SECRET = b"unit-test-cursor-secret"
SCOPE = Scope("tenant-a", livemode=False)
ROUTE = "/v1/customers"
FINGERPRINT = query_fingerprint(ROUTE, {"status": "active"})
POSITION: dict[str, Any] = {
    "gsi1pk": "T#tenant-a#test#CUSTOMERS",
    "gsi1sk": "0190b0e2-0000-7000-8000-000000000009",
}


def cursor(
    position: dict[str, Any] | None = None, scope: Scope = SCOPE, fingerprint: str = FINGERPRINT
) -> str:
    return encode_cursor(SECRET, scope, fingerprint, POSITION if position is None else position)


def assert_invalid(
    value: str, *, scope: Scope = SCOPE, fingerprint: str = FINGERPRINT, secret: bytes = SECRET
) -> None:
    with pytest.raises(InvalidCursor) as failure:
        decode_cursor(secret, scope, fingerprint, value)
    assert failure.value.code == "invalid_cursor"
    assert failure.value.status == 400


# --- round trip ------------------------------------------------------------------------------


def test_round_trip() -> None:
    assert decode_cursor(SECRET, SCOPE, FINGERPRINT, cursor()) == POSITION


def test_cursor_is_url_safe_and_unpadded() -> None:
    value = cursor()
    assert set(value) <= set(string.ascii_letters + string.digits + "-_.")
    assert value.count(".") == 1


def test_empty_position_round_trips() -> None:
    assert decode_cursor(SECRET, SCOPE, FINGERPRINT, cursor({})) == {}


json_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=20)
)
positions = st.dictionaries(
    st.text(max_size=10), json_scalars | st.lists(json_scalars, max_size=3), max_size=5
)


@given(position=positions, tenant=st.text(min_size=1, max_size=20), livemode=st.booleans())
def test_round_trip_any_position(position: dict[str, Any], tenant: str, livemode: bool) -> None:
    scope = Scope(tenant, livemode)
    assert decode_cursor(SECRET, scope, FINGERPRINT, cursor(position, scope=scope)) == position


# --- rejection -------------------------------------------------------------------------------


def test_tampered_payload_is_invalid() -> None:
    _, signature = cursor().split(".")
    forged_payload = base64.urlsafe_b64encode(
        json.dumps({"q": FINGERPRINT, "p": {"gsi1sk": "someone-else"}}, separators=(",", ":")).encode()
    )
    assert_invalid(f"{forged_payload.decode().rstrip('=')}.{signature}")


def test_tampered_signature_is_invalid() -> None:
    payload, signature = cursor().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_invalid(f"{payload}.{flipped}")
    assert_invalid(f"{payload}.{signature[:-1]}")
    assert_invalid(f"{payload}.{signature}A")


@given(
    index=st.integers(min_value=0), replacement=st.sampled_from(string.ascii_letters + string.digits + "-_")
)
def test_any_single_character_change_is_invalid(index: int, replacement: str) -> None:
    value = cursor()
    position = index % len(value)
    if value[position] in (replacement, "."):
        return
    assert_invalid(value[:position] + replacement + value[position + 1 :])


def test_cursor_of_another_tenant_is_invalid() -> None:
    assert_invalid(cursor(), scope=Scope("tenant-b", livemode=False))


def test_cursor_of_the_other_mode_is_invalid() -> None:
    assert_invalid(cursor(), scope=Scope("tenant-a", livemode=True))
    assert_invalid(cursor(scope=Scope("tenant-a", livemode=True)), scope=SCOPE)


def test_cursor_signed_with_another_secret_is_invalid() -> None:
    assert_invalid(cursor(), secret=b"another-secret")


def test_cursor_of_another_query_is_invalid() -> None:
    assert_invalid(cursor(), fingerprint=query_fingerprint(ROUTE, {"status": "disabled"}))
    assert_invalid(cursor(), fingerprint=query_fingerprint("/v1/invoices", {"status": "active"}))
    assert_invalid(cursor(), fingerprint=query_fingerprint(ROUTE, {}))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "..",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "not-a-cursor",
        "eyJxIjoiIn0",
        "%%%.%%%",
        "null",
        "{}",
        " ",
    ],
)
def test_garbage_is_invalid(garbage: str) -> None:
    assert_invalid(garbage)


@given(garbage=st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=80))
def test_any_ascii_garbage_is_invalid(garbage: str) -> None:
    assert_invalid(garbage)


@pytest.mark.parametrize("garbage", ["x.\u00e9", "abc.\u2603", "eyJx.\u00ff\u00ff", "\u00e9.abc", "\u00e9"])
def test_non_ascii_garbage_is_invalid(garbage: str) -> None:
    assert_invalid(garbage)


def test_a_real_cursor_with_a_non_ascii_character_added_is_invalid() -> None:
    value = cursor()
    assert_invalid(value + "\u00e9")
    assert_invalid("\u00e9" + value)
    payload, signature = value.split(".")
    assert_invalid(f"{payload}\u00e9.{signature}")
    assert_invalid(f"{payload}.{signature[:-1]}\u00e9")


@given(garbage=st.text(max_size=80))
def test_any_garbage_is_invalid(garbage: str) -> None:
    assert_invalid(garbage)


def test_invalid_cursor_is_a_billow_error_with_a_detail() -> None:
    with pytest.raises(InvalidCursor) as failure:
        decode_cursor(SECRET, SCOPE, FINGERPRINT, "nope")
    assert str(failure.value).startswith("invalid_cursor: ")
    assert failure.value.title == "Invalid cursor"


# --- query fingerprint -----------------------------------------------------------------------


def test_fingerprint_ignores_cursor_and_limit() -> None:
    plain = query_fingerprint(ROUTE, {"status": "active"})
    assert query_fingerprint(ROUTE, {"status": "active", "limit": "5"}) == plain
    assert query_fingerprint(ROUTE, {"status": "active", "cursor": "abc.def", "limit": "100"}) == plain


def test_fingerprint_does_not_depend_on_parameter_order() -> None:
    assert query_fingerprint(ROUTE, {"a": "1", "b": "2"}) == query_fingerprint(ROUTE, {"b": "2", "a": "1"})


def test_fingerprint_depends_on_filters_and_route() -> None:
    fingerprints = {
        query_fingerprint(ROUTE, {}),
        query_fingerprint(ROUTE, {"status": "active"}),
        query_fingerprint(ROUTE, {"status": "disabled"}),
        query_fingerprint(ROUTE, {"status": "active", "tag": "vip"}),
        query_fingerprint(ROUTE, {"tag": "active"}),
        query_fingerprint("/v1/invoices", {"status": "active"}),
    }
    assert len(fingerprints) == 6


def test_fingerprint_of_no_query() -> None:
    assert query_fingerprint(ROUTE, None) == query_fingerprint(ROUTE, {})
    assert query_fingerprint(ROUTE, None) == query_fingerprint(ROUTE, {"limit": "20"})
    assert len(query_fingerprint(ROUTE, None)) == 16


@given(
    filters=st.dictionaries(
        st.text(max_size=8).filter(lambda k: k not in {"cursor", "limit"}), st.text(max_size=8)
    ),
    limit=st.integers(min_value=1, max_value=100).map(str),
    page_cursor=st.text(max_size=20),
)
def test_paging_parameters_never_change_the_fingerprint(
    filters: dict[str, str], limit: str, page_cursor: str
) -> None:
    assert query_fingerprint(ROUTE, {**filters, "limit": limit, "cursor": page_cursor}) == query_fingerprint(
        ROUTE, filters
    )


# --- If-Match --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "version"),
    [
        ('"3"', 3),
        ('W/"3"', 3),
        ("3", 3),
        (' "3" ', 3),
        ('"0"', 0),
        ('"123456789012345678"', 123456789012345678),
        ('\tW/"42"\r\n', 42),
    ],
)
def test_if_match_versions(header: str, version: int) -> None:
    assert parse_if_match(header) == version


@pytest.mark.parametrize("header", [None, "*", " * "])
def test_if_match_absent_or_any(header: str | None) -> None:
    assert parse_if_match(header) is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        "abc",
        '"abc"',
        '"3", "4"',
        "-1",
        '"1.5"',
        "W/",
        'w/"3"',
        "3 4",
        '"1234567890123456789"',
        "0x3",
        "*3",
        # unbalanced or stray quotes
        '"3',
        '3"',
        'W/"3',
        'W/3"',
        '""3""',
        '"3""',
        "'3'",
        # weak without quotes, or spaced out
        "W/3",
        'W/ "3"',
        'W /"3"',
        '" 3"',
        # a quoted or weak star is not "any"
        '"*"',
        "W/*",
        "**",
    ],
)
def test_if_match_garbage_is_a_failed_precondition(header: str) -> None:
    with pytest.raises(PreconditionFailed) as failure:
        parse_if_match(header)
    assert failure.value.code == "precondition_failed"
    assert failure.value.status == 412


@given(version=st.integers(min_value=0, max_value=10**18 - 1))
def test_if_match_reads_back_the_etag_the_api_writes(version: int) -> None:
    assert parse_if_match(f'"{version}"') == version


# ASCII only: non-ASCII digits are the known bug below.
if_match_headers = st.text(alphabet='0123456789W/"* \t', max_size=24) | st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=24
)


@given(header=if_match_headers)
def test_if_match_reads_a_version_or_fails_the_precondition(header: str) -> None:
    try:
        version = parse_if_match(header)
    except PreconditionFailed:
        version = "refused"
    stripped = header.strip()
    if stripped == "*":
        assert version is None
        return
    etag = re.fullmatch(r'(?:W/)?"([0-9]{1,18})"|([0-9]{1,18})', stripped)
    if etag is None:
        assert version == "refused", header
    else:
        assert version == int(etag.group(1) or etag.group(2)), header


@pytest.mark.parametrize("header", ['"\u0663"', "\u0663", 'W/"\u0663"', '"\uff13"', '"1\u0662"'])
def test_if_match_with_non_ascii_digits_is_a_failed_precondition(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        parse_if_match(header)
