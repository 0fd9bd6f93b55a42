"""Webhook signatures as the Standard Webhooks specification defines them (standardwebhooks.com).

A message carries three headers:

- ``webhook-id``: the message id, the same on every retry of the message;
- ``webhook-timestamp``: when this attempt was signed, in integer Unix seconds;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, once per valid
  secret and separated by spaces, so that during a secret rotation a receiver holding either the
  new or the old secret finds a signature it can check.

Secrets are written ``whsec_<base64>``; the HMAC key is the decoded part, 24 to 64 random bytes.
Pure: the caller supplies the timestamp, nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"

# The id is part of the dot-separated signed content and travels in a header: a "." would let
# one (id, timestamp) pair pass for another, and spaces or control characters break the header.
_MESSAGE_ID = re.compile(r"[\x21-\x2d\x2f-\x7e]{1,256}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret; ValueError if the secret is malformed."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    encoded = secret.removeprefix(SECRET_PREFIX)
    if not _BASE64.fullmatch(encoded):
        raise ValueError("a webhook secret is whsec_ followed by standard base64")
    # Receivers accept unpadded base64 too, so a secret written without its "=" is still valid.
    unpadded = encoded.rstrip("=")
    try:
        key = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret is whsec_ followed by standard base64") from error
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"a webhook secret decodes to {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def _check_message(message_id: str, timestamp: int) -> None:
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError("a webhook id is 1 to 256 printable ASCII characters without spaces or '.'")
    # bool is an int subclass; True is no timestamp.
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("a webhook timestamp is a non-negative integer of Unix seconds")


def _signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    # The body is signed as the exact bytes sent; re-serialising it would change the signature.
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """One ``v1,<base64>`` signature of the message with one secret."""
    _check_message(message_id, timestamp)
    return _signature(secret_key(secret), message_id, timestamp, bytes(body))


def signature_headers(message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The three Standard Webhooks headers, with one signature per secret (in the order given).

    Several secrets are the rotation grace period: the new secret and the old one both sign, so
    the receiver can switch over whenever it likes. Duplicate secrets sign once.
    """
    if isinstance(secrets, str):
        # A lone string is a sequence of characters; refusing it avoids signing with "w", "h", …
        raise ValueError("secrets is a sequence of whsec_ secrets, not one string")
    if not secrets:
        raise ValueError("a webhook needs at least one secret to be signed with")
    _check_message(message_id, timestamp)
    keys = list(dict.fromkeys(secret_key(secret) for secret in secrets))
    signatures = [_signature(key, message_id, timestamp, bytes(body)) for key in keys]
    return {
        HEADER_ID: message_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: " ".join(signatures),
    }
