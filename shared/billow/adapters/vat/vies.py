"""VIES, the Commission's VAT number check, through its REST API.

``POST {base_url}/check-vat-number`` (base ``https://ec.europa.eu/taxation_customs/vies/rest-api``)
with a JSON body::

    {"countryCode": "DE", "vatNumber": "123456789"}

plus ``requesterMemberStateCode`` and ``requesterNumber`` when the caller gives its own VAT
number: VIES then answers a ``requestIdentifier`` (the consultation number). ``countryCode`` is
the VAT prefix, so Greece is ``EL`` (a ``GR…`` number is sent as ``EL…``) and Northern Ireland
``XI``; ``vatNumber`` is the number without the prefix.

A yes/no answer (HTTP 200)::

    {"countryCode": "DK", "vatNumber": "13612870", "requestDate": "2024-11-24T23:25:51.619Z",
     "valid": true, "requestIdentifier": "WAPIAAAAZNgfuVoL", "name": "…", "address": "…\\n…",
     "traderName": "---", …, "traderNameMatch": "NOT_PROCESSED", …}

``"---"`` means "not disclosed" (some member states never give names) and becomes None.
Errors come as ``{"actionSucceed": false, "errorWrappers": [{"error": "MS_UNAVAILABLE",
"message": "…"}]}``, with HTTP 200 or an error status (both are seen); the code decides the
outcome whatever the status (``billow.domain.vat_check.reason_for_error``): ``INVALID_INPUT``
is ``invalid``, every other code ``unavailable``.

Everything that is not VIES's clear answer is ``unavailable``, never ``invalid``: no connection,
no answer within ``timeout`` (which bounds each blocking step and the whole exchange), HTTP
errors without an error code, bodies that are not JSON or lack a boolean ``valid``, redirects
(never followed), an answer about another number. ``checked_at`` is VIES's ``requestDate``
(an ISO date-time, ``Z`` or offset; a bare date with an offset, as the SOAP service writes it,
is read as that day's midnight there; None when absent or unreadable).

No caching and no retrying here: the caller decides (``VatCheck.fresh_until``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as clock_time
from typing import Any

from billow.adapters.http_fetch import AnswerTooLarge, NoAnswer, checked_base_url, fetch, no_redirect_opener
from billow.domain.eu_vat import NORTHERN_IRELAND, VIES_PREFIXES, vat_prefix
from billow.domain.vat_check import VatCheck, reason_for_error

DEFAULT_BASE_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
CHECK_PATH = "/check-vat-number"
MAX_BYTES = 256 * 1024
UNDISCLOSED = "---"

_SEPARATORS = re.compile(r"[\s.\-/]+")
_NUMBER = re.compile(r"[0-9A-Z+*]{2,14}")
_DATE_WITH_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")


class _Refused(Exception):
    """A failed exchange with VIES; its message is the ``unavailable`` reason."""


def split_vat_id(vat_id: str) -> tuple[str, str]:
    """``("EL", "123456789")`` from ``"gr 123.456.789"``: separators dropped, upper case, the
    Greek ISO prefix ``GR`` written ``EL`` as VIES wants it."""
    compact = _SEPARATORS.sub("", vat_id).upper()
    prefix, number = compact[:2], compact[2:]
    if prefix == "GR":
        prefix = "EL"
    return prefix, number


def _checkable(prefix: str, number: str) -> str | None:
    """Why the number cannot be a VIES number, or None when it can be asked about."""
    if not (len(prefix) == 2 and prefix.isalpha()):
        return "not a VAT number: it does not start with a two-letter country prefix"
    if prefix not in VIES_PREFIXES:
        return f"not an EU VAT number: {prefix} is not the prefix of a member state (nor {NORTHERN_IRELAND})"
    if not _NUMBER.fullmatch(number):
        return f"not a VAT number: {number!r} after the {prefix} prefix"
    return None


def parse_request_date(value: Any) -> datetime | None:
    """VIES's ``requestDate`` as an aware datetime (UTC when it names no zone), or None."""
    if not isinstance(value, str) or not value:
        return None
    day_only = _DATE_WITH_OFFSET.fullmatch(value)
    try:
        if day_only is None:
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        day, offset = day_only.groups()
        midnight = datetime.combine(date.fromisoformat(day), clock_time())
    except ValueError:
        return None
    if not offset or offset == "Z":
        return midnight.replace(tzinfo=UTC)
    sign = -1 if offset[0] == "-" else 1
    shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return midnight.replace(tzinfo=timezone(sign * shift))


def _disclosed(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if not text or text == UNDISCLOSED else text


def _error_code(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    wrappers = data.get("errorWrappers")
    if isinstance(wrappers, list) and wrappers:
        first = wrappers[0]
        if isinstance(first, dict) and isinstance(first.get("error"), str) and first["error"]:
            return str(first["error"])
        return "UNKNOWN_ERROR"
    if data.get("actionSucceed") is False:
        return "UNKNOWN_ERROR"
    # The GET endpoint's shape reports failures as isValid false plus userError; never a "no".
    user_error = data.get("userError")
    if isinstance(user_error, str) and user_error not in ("", "VALID", "INVALID"):
        return user_error
    return None


class ViesClient:
    """Checks EU VAT numbers against VIES at ``base_url``."""

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, timeout: float = 5, *, max_bytes: int = MAX_BYTES
    ) -> None:
        self.base_url = checked_base_url(base_url, timeout, max_bytes, service="VIES")
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._opener = no_redirect_opener()  # a redirect is not VIES's answer

    def check(self, vat_id: str, *, requester_vat_id: str | None = None) -> VatCheck:
        """VIES's answer about ``vat_id`` (``"DE123456789"``, ``"EL…"`` or ``"GR…"``). With
        ``requester_vat_id`` (the seller's own EU VAT number) the answer carries a consultation
        number. A ``vat_id`` that cannot be a VIES number is ``invalid`` without asking."""
        prefix, number = split_vat_id(vat_id)
        why_not = _checkable(prefix, number)
        if why_not is not None:
            return VatCheck(status="invalid", prefix=prefix, number=number, reason=why_not)
        body: dict[str, str] = {"countryCode": prefix, "vatNumber": number}
        if requester_vat_id is not None:
            requester_prefix, requester_number = split_vat_id(requester_vat_id)
            problem = _checkable(requester_prefix, requester_number)
            if problem is not None:
                raise ValueError(f"the requester VAT number {requester_vat_id!r} is {problem}")
            body["requesterMemberStateCode"] = requester_prefix
            body["requesterNumber"] = requester_number
        try:
            status, data = self._post(body)
        except _Refused as refused:
            return VatCheck(status="unavailable", prefix=prefix, number=number, reason=str(refused))
        return self._outcome(prefix, number, status, data)

    def _outcome(self, prefix: str, number: str, status: int, data: Any) -> VatCheck:
        code = _error_code(data)
        if code is not None:
            outcome, reason = reason_for_error(code)
            return VatCheck(status=outcome, prefix=prefix, number=number, reason=reason)
        if status != 200:
            return VatCheck(
                status="unavailable", prefix=prefix, number=number, reason=f"VIES answered HTTP {status}"
            )
        valid = data.get("valid") if isinstance(data, dict) else None
        if not isinstance(valid, bool):
            return VatCheck(
                status="unavailable",
                prefix=prefix,
                number=number,
                reason="VIES's answer is malformed: it has no true/false 'valid'",
            )
        assert isinstance(data, dict)
        answered_prefix, answered_number = data.get("countryCode"), data.get("vatNumber")
        if (isinstance(answered_prefix, str) and vat_prefix(answered_prefix) != prefix) or (
            isinstance(answered_number, str) and split_vat_id("XX" + answered_number)[1] != number
        ):
            return VatCheck(
                status="unavailable",
                prefix=prefix,
                number=number,
                reason=f"VIES's answer is about another number ({answered_prefix}{answered_number})",
            )
        identifier = data.get("requestIdentifier")
        return VatCheck(
            status="valid" if valid else "invalid",
            prefix=prefix,
            number=number,
            name=_disclosed(data.get("name")),
            address=_disclosed(data.get("address")),
            checked_at=parse_request_date(data.get("requestDate")),
            request_identifier=identifier if isinstance(identifier, str) and identifier else None,
            reason=None if valid else "VIES says the number is not a registered VAT number (valid: false)",
        )

    def _post(self, body: dict[str, str]) -> tuple[int, Any]:
        try:
            status, raw = fetch(
                self.base_url + CHECK_PATH,
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": "billow-vies-client",
                },
                data=json.dumps(body).encode(),
                opener=self._opener,
                chunk_size=16 * 1024,
            )
        except AnswerTooLarge:
            raise _Refused(f"VIES's answer is larger than {self.max_bytes} bytes") from None
        except NoAnswer as failed:
            if failed.timed_out:
                raise _Refused(f"VIES did not answer within {self.timeout:g} s (timeout)") from None
            if failed.connecting:
                raise _Refused(f"could not reach VIES: {failed.error}") from None
            raise _Refused(f"the exchange with VIES failed: {failed.error!r}") from None
        if 300 <= status < 400:
            return status, None
        try:
            return status, json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            if status != 200:
                return status, None
            raise _Refused("VIES's answer is malformed: it is not JSON") from None
