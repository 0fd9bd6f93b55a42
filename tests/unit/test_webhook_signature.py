"""Webhook signatures, checked by the Standard Webhooks reference receiver (standardwebhooks from
PyPI) rather than by our own code, and against values computed here from the spec's definition."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from billow.domain.webhook_signature import secret_key, sign, signature_headers

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
BODY = b'{"type":"invoice.paid","data":{"id":"in_1","total":1200}}'
MESSAGE_ID = "0190f3d2-6b1c-7a44-9c55-1c2d3e4f5a6b"


def now() -> int:
    # The reference receiver refuses timestamps more than five minutes from its clock.
    return int(time.time())


def test_one_secret_verifies_with_the_reference_receiver() -> None:
    headers = signature_headers(MESSAGE_ID, now(), BODY, [SECRET])

    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == MESSAGE_ID
    assert headers["webhook-signature"].startswith("v1,")
    assert " " not in headers["webhook-signature"]
    assert Webhook(SECRET).verify(BODY, headers) == {
        "type": "invoice.paid",
        "data": {"id": "in_1", "total": 1200},
    }


def test_header_names_in_any_case_verify() -> None:
    headers = signature_headers(MESSAGE_ID, now(), BODY, [SECRET])
    shouting = {name.upper(): value for name, value in headers.items()}
    Webhook(SECRET).verify(BODY, shouting)


def test_during_rotation_a_receiver_with_either_secret_verifies() -> None:
    headers = signature_headers(MESSAGE_ID, now(), BODY, [SECRET, OLD_SECRET])

    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(signature.startswith("v1,") for signature in signatures)
    Webhook(SECRET).verify(BODY, headers)
    Webhook(OLD_SECRET).verify(BODY, headers)
    stranger = "whsec_" + base64.b64encode(b"s" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, headers)


def test_signatures_follow_the_order_of_the_secrets_and_each_equals_sign() -> None:
    timestamp = now()
    headers = signature_headers(MESSAGE_ID, timestamp, BODY, [SECRET, OLD_SECRET])
    assert headers["webhook-signature"] == " ".join(
        [sign(MESSAGE_ID, timestamp, BODY, SECRET), sign(MESSAGE_ID, timestamp, BODY, OLD_SECRET)]
    )


def test_a_secret_given_twice_signs_once() -> None:
    headers = signature_headers(MESSAGE_ID, now(), BODY, [SECRET, SECRET])
    assert len(headers["webhook-signature"].split(" ")) == 1


def test_a_tampered_body_fails() -> None:
    headers = signature_headers(MESSAGE_ID, now(), BODY, [SECRET])
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"1200", b"1", 1), headers)


def test_another_id_fails() -> None:
    headers = signature_headers(MESSAGE_ID, now(), BODY, [SECRET])
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, {**headers, "webhook-id": MESSAGE_ID + "0"})


def test_another_timestamp_fails() -> None:
    timestamp = now()
    headers = signature_headers(MESSAGE_ID, timestamp, BODY, [SECRET])
    # Still inside the receiver's five-minute window, so only the signature can refuse it.
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(SECRET).verify(BODY, {**headers, "webhook-timestamp": str(timestamp - 1)})


def test_known_answer_computed_from_the_spec() -> None:
    key = b"billow-test-key-of-32-bytes-long"
    secret = "whsec_" + base64.b64encode(key).decode()
    signed_content = b"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231." + BODY
    expected = base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest()).decode()

    assert sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, BODY, secret) == f"v1,{expected}"
    assert signature_headers("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, BODY, [secret]) == {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": "1674087231",
        "webhook-signature": f"v1,{expected}",
    }


def test_the_vector_published_by_the_reference_libraries() -> None:
    # The same secret, message and signature appear in the Go, Java, JavaScript and PHP test suites.
    signature = sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_secret_key_decodes_the_base64_part() -> None:
    assert secret_key(SECRET) == bytes(range(32))
    # Receivers accept a secret without its base64 padding, so do we.
    padded = "whsec_" + base64.b64encode(bytes(range(25))).decode()
    assert padded.endswith("=")
    assert secret_key(padded.rstrip("=")) == bytes(range(25))


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "whsec_",
        base64.b64encode(bytes(32)).decode(),  # no prefix
        "whsk_" + base64.b64encode(bytes(32)).decode(),  # the asymmetric prefix
        "whsec_" + "not base64!" * 4,
        "whsec_" + base64.b64encode(bytes(32)).decode() + "===",
        "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),  # url-safe alphabet
        "whsec_" + base64.b64encode(bytes(16)).decode(),  # too short a key
        "whsec_" + base64.b64encode(bytes(65)).decode(),  # too long a key
        "whsec_A",  # no whole byte
    ],
)
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(MESSAGE_ID, now(), BODY, secret)
    with pytest.raises(ValueError, match="secret"):
        signature_headers(MESSAGE_ID, now(), BODY, [SECRET, secret])


def test_no_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signature_headers(MESSAGE_ID, now(), BODY, [])


def test_a_lone_string_is_not_a_list_of_secrets() -> None:
    with pytest.raises(ValueError, match="not one string"):
        signature_headers(MESSAGE_ID, now(), BODY, SECRET)


@pytest.mark.parametrize("message_id", ["", "msg.1", "msg 1", "msg\n1", "mßg", "x" * 257])
def test_ids_that_would_break_the_signed_content_or_the_header_are_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="webhook id"):
        signature_headers(message_id, now(), BODY, [SECRET])


@pytest.mark.parametrize("timestamp", [-1, True, 1.5])
def test_timestamps_are_non_negative_integers(timestamp: object) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        sign(MESSAGE_ID, timestamp, BODY, SECRET)  # type: ignore[arg-type]


_ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="."),
    min_size=1,
    max_size=64,
)
_keys = st.binary(min_size=24, max_size=64)


@given(message_id=_ids, text=st.text(max_size=500), key=_keys, other_key=_keys)
def test_the_reference_receiver_verifies_any_message(
    message_id: str, text: str, key: bytes, other_key: bytes
) -> None:
    # The reference receiver decodes the body as UTF-8, so it is given UTF-8 bodies.
    body = text.encode()
    secret = "whsec_" + base64.b64encode(key).decode()
    other = "whsec_" + base64.b64encode(other_key).decode()
    headers = signature_headers(message_id, now(), body, [other, secret])

    Webhook(secret).verify(body, headers, json_parse=False)
    Webhook(other).verify(body, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers, json_parse=False)


@given(message_id=_ids, body=st.binary(max_size=500), key=_keys, timestamp=st.integers(0, 2**40))
def test_any_body_signs_its_exact_bytes(message_id: str, body: bytes, key: bytes, timestamp: int) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    assert sign(message_id, timestamp, body, secret) == "v1," + base64.b64encode(digest).decode()
