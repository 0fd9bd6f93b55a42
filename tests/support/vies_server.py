"""A local VIES: the ``check-vat-number`` operation of the Commission's VIES REST API, with its
request and answer shapes, so the VIES client is tested over real HTTP.

    with ViesServer({"DE123456789": ("ACME GmbH", "Hauptstr. 1\\n10115 Berlin")}) as vies:
        client = ViesClient(vies.url, timeout=0.5)

``POST {url}/check-vat-number`` (``url`` ends in ``/taxation_customs/vies/rest-api`` as the real
one does) takes ``{"countryCode", "vatNumber"}`` and, optionally, ``requesterMemberStateCode``
and ``requesterNumber``. Registered numbers are the keys of the table (``EL…`` for Greece; a
``GR…`` key is stored as ``EL…``), each with its trader's name and address, or None for a
member state that does not disclose them (answered ``"---"``, as VIES does).

Answers, as VIES gives them:

- a registered number: HTTP 200, ``valid: true``, ``requestDate`` (UTC, milliseconds, ``Z``),
  name and address, the ``trader…`` fields ``"---"`` and their matches ``NOT_PROCESSED``;
- any other number: HTTP 200, ``valid: false``, name and address ``"---"``;
- with a registered requester, ``requestIdentifier`` is a fresh consultation number
  (``WAPI…``); with an unregistered one, error ``INVALID_REQUESTER_INFO``; without, ``""``;
- a country code that is not a VIES member-state code (``GR`` included: VIES wants ``EL``) or
  an empty or malformed number: error ``INVALID_INPUT``.

Errors are ``{"actionSucceed": false, "errorWrappers": [{"error": CODE, "message": …}]}`` with
HTTP 200 unless a control says otherwise (the live service has been seen answering both 200
and error statuses for them).

Test controls (thread-safe): ``set_unavailable(prefix)`` makes a member state answer
``MS_UNAVAILABLE`` until ``set_unavailable(prefix, False)``; ``fail_next(code, count, status)``
answers the next requests with an error code (``MS_UNAVAILABLE``, ``MS_MAX_CONCURRENT_REQ``,
``TIMEOUT``, ``SERVICE_UNAVAILABLE``, …); ``fail_http_next(status, count)`` answers an HTML
error page (a 500 from in front of VIES); ``delay_next(seconds)`` holds the next answer (a
slow member state, past the client's timeout); ``answer_raw_next(body, status,
content_type)`` sends the next answer as given (malformed JSON). ``requests`` holds the JSON
bodies received and ``request_count`` their number.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tests.support.background_http import Answer, AppHTTPServer, LocalHttpServer, QuietHandler

PATH = "/taxation_customs/vies/rest-api"
UNDISCLOSED = "---"
VIES_CODES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"}
)
MESSAGES = {
    "INVALID_INPUT": "The provided CountryCode is invalid or the VAT number is empty",
    "INVALID_REQUESTER_INFO": "The requester's VAT number is not valid",
    "MS_UNAVAILABLE": "The application at the Member State is not replying or not available.",
    "MS_MAX_CONCURRENT_REQ": "Your request for VAT validation has not been processed; the maximum number "
    "of concurrent requests for this Member State has been reached.",
    "GLOBAL_MAX_CONCURRENT_REQ": "Your request for VAT validation has not been processed; the maximum number "
    "of concurrent requests has been reached.",
    "TIMEOUT": "The application did not receive a reply within the allocated time period.",
    "SERVICE_UNAVAILABLE": "An error was encountered either at the network level or the Web application "
    "level.",
}
_NUMBER = re.compile(r"[0-9A-Za-z+*]{2,14}")
_ALPHABET = string.ascii_letters + string.digits + "_"

Trader = tuple[str | None, str | None]


def error_body(code: str) -> dict[str, Any]:
    return {"actionSucceed": False, "errorWrappers": [{"error": code, "message": MESSAGES.get(code, code)}]}


def _normal_id(vat_id: str) -> str:
    compact = re.sub(r"[\s.\-]", "", vat_id).upper()
    return "EL" + compact[2:] if compact.startswith("GR") else compact


def _json(status: int, data: Mapping[str, Any]) -> Answer:
    return Answer(status, json.dumps(data, indent=2).encode(), "application/json")


class _Handler(QuietHandler):
    server: AppHTTPServer[ViesServer]

    def do_POST(self) -> None:
        self.send_answer(*self.server.app.answer("POST", self.path, self.read_body()))

    def do_GET(self) -> None:
        self.send_answer(*self.server.app.answer("GET", self.path, b""))


class ViesServer(LocalHttpServer):
    """A threaded local VIES REST API on 127.0.0.1 (a free port), used as a context manager."""

    handler = _Handler
    name = "the VIES server"

    def __init__(self, registered: Mapping[str, Trader] | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._registered = {_normal_id(k): v for k, v in (registered or {}).items()}
        self._unavailable: set[str] = set()
        self._failures: list[Answer] = []
        self._delays: list[float] = []
        self._requests: list[Any] = []

    @property
    def url(self) -> str:
        """The REST API's base URL, like ``https://ec.europa.eu/taxation_customs/vies/rest-api``."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    # -- test controls ------------------------------------------------------------------

    def register(self, vat_id: str, name: str | None = None, address: str | None = None) -> None:
        with self._lock:
            self._registered[_normal_id(vat_id)] = (name, address)

    def set_unavailable(self, prefix: str, unavailable: bool = True) -> None:
        with self._lock:
            (self._unavailable.add if unavailable else self._unavailable.discard)(prefix.upper())

    def fail_next(self, code: str = "MS_UNAVAILABLE", count: int = 1, status: int = 200) -> None:
        with self._lock:
            self._failures.extend([_json(status, error_body(code))] * count)

    def fail_http_next(self, status: int = 500, count: int = 1) -> None:
        page = f"<html><body><h1>{status} Internal Server Error</h1></body></html>".encode()
        with self._lock:
            self._failures.extend([Answer(status, page, "text/html")] * count)

    def delay_next(self, seconds: float) -> None:
        with self._lock:
            self._delays.append(seconds)

    def answer_raw_next(self, body: bytes, status: int = 200, content_type: str = "application/json") -> None:
        with self._lock:
            self._failures.append(Answer(status, body, content_type))

    @property
    def requests(self) -> list[Any]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    # -- serving --------------------------------------------------------------------------

    def answer(self, method: str, path: str, raw: bytes) -> tuple[Answer, float]:
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self._requests.append(body)
            delay = self._delays.pop(0) if self._delays else 0.0
            if self._failures:
                return self._failures.pop(0), delay
            if method != "POST" or path != f"{PATH}/check-vat-number":
                return _json(404, {"error": "Not Found", "path": path}), delay
            return self._check(body), delay

    def _check(self, body: Any) -> Answer:
        if not isinstance(body, dict):
            return _json(400, error_body("INVALID_INPUT"))
        country, number = body.get("countryCode"), body.get("vatNumber")
        if (
            not isinstance(country, str)
            or country not in VIES_CODES
            or not isinstance(number, str)
            or not _NUMBER.fullmatch(number)
        ):
            return _json(200, error_body("INVALID_INPUT"))
        if country in self._unavailable:
            return _json(200, error_body("MS_UNAVAILABLE"))
        identifier = ""
        requester_country, requester_number = (
            body.get("requesterMemberStateCode"),
            body.get("requesterNumber"),
        )
        if requester_country or requester_number:
            requester = f"{requester_country}{requester_number}".upper()
            if requester not in self._registered:
                return _json(200, error_body("INVALID_REQUESTER_INFO"))
            identifier = "WAPI" + "".join(secrets.choice(_ALPHABET) for _ in range(12))
        trader = self._registered.get(f"{country}{number}".upper())
        name, address = trader if trader is not None else (None, None)
        now = datetime.now(UTC)
        return _json(
            200,
            {
                "countryCode": country,
                "vatNumber": number,
                "requestDate": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                "valid": trader is not None,
                "requestIdentifier": identifier,
                "name": name or UNDISCLOSED,
                "address": address or UNDISCLOSED,
                "traderName": UNDISCLOSED,
                "traderStreet": UNDISCLOSED,
                "traderPostalCode": UNDISCLOSED,
                "traderCity": UNDISCLOSED,
                "traderCompanyType": UNDISCLOSED,
                "traderNameMatch": "NOT_PROCESSED",
                "traderStreetMatch": "NOT_PROCESSED",
                "traderPostalCodeMatch": "NOT_PROCESSED",
                "traderCityMatch": "NOT_PROCESSED",
                "traderCompanyTypeMatch": "NOT_PROCESSED",
            },
        )
