"""A local ECB: the euro foreign exchange reference rate files, in the ECB's own format, so the
ECB adapter is tested over real HTTP.

    with EcbServer(SAMPLE_DAYS) as ecb:
        source = EcbRatesSource(ecb.url, timeout=1)

Served, under ``/stats/eurofxref`` as on www.ecb.europa.eu (``url`` includes that path):

- ``GET …/eurofxref-daily.xml``: the newest day held;
- ``GET …/eurofxref-hist-90d.xml``: the days held within 90 days of the newest, newest first.

Both are the ECB's GESMES envelope (``eurofxref_xml``): a ``gesmes:Envelope`` with subject and
sender, then ``Cube`` / ``Cube time='YYYY-MM-DD'`` / ``Cube currency='USD' rate='1.0705'``,
attributes in single quotes as the ECB writes them. Rates are given as the strings the ECB
publishes. Any other path is a 404.

Test controls (thread-safe): ``fail_next(status, count)`` answers the next requests with an
HTML error page (503 by default, as the ECB's front end does when down); ``delay_next(seconds)``
holds the next answer; ``answer_raw_next(body, status, content_type)`` sends the next answer
as given (malformed XML, another document); ``set_days`` replaces the data. ``requests`` lists
the paths asked for.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.support.background_http import serve_in_background, shut_down

PATH = "/stats/eurofxref"
DAILY = "eurofxref-daily.xml"
NINETY_DAYS = "eurofxref-hist-90d.xml"

Days = Mapping[date, Mapping[str, str]]

# 28 June 2024 as the ECB published it; the other days are illustrative values around it.
# 29-30 June 2024 are a weekend: no publication.
_CODES = ("USD", "JPY", "GBP", "CHF", "SEK")
SAMPLE_DAYS: dict[date, dict[str, str]] = {
    day: dict(zip(_CODES, rates, strict=True))
    for day, rates in {
        date(2024, 6, 26): ("1.0686", "170.85", "0.84470", "0.9581", "11.3175"),
        date(2024, 6, 27): ("1.0698", "171.53", "0.84630", "0.9613", "11.3385"),
        date(2024, 6, 28): ("1.0705", "171.94", "0.84638", "0.9634", "11.3595"),
        date(2024, 7, 1): ("1.0746", "173.15", "0.84710", "0.9689", "11.3380"),
    }.items()
}


def eurofxref_xml(days: Days) -> bytes:
    """The ECB's reference rates document of ``days`` (newest first, as the ECB orders them)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">',
        "\t<gesmes:subject>Reference rates</gesmes:subject>",
        "\t<gesmes:Sender>",
        "\t\t<gesmes:name>European Central Bank</gesmes:name>",
        "\t</gesmes:Sender>",
        "\t<Cube>",
    ]
    for day in sorted(days, reverse=True):
        lines.append(f"\t\t<Cube time='{day.isoformat()}'>")
        lines.extend(f"\t\t\t<Cube currency='{c}' rate='{r}'/>" for c, r in days[day].items())
        lines.append("\t\t</Cube>")
    lines += ["\t</Cube>", "</gesmes:Envelope>", ""]
    return "\n".join(lines).encode()


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str


def _error_page(status: int) -> _Answer:
    page = f"<html><head><title>{status}</title></head><body><h1>Service unavailable</h1></body></html>"
    return _Answer(status, page.encode(), "text/html; charset=utf-8")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, ecb: EcbServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ecb = ecb

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up waiting (a timeout test) is expected, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError | socket.timeout):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    wbufsize = -1

    def do_GET(self) -> None:
        answer, delay = self.server.ecb.answer(self.path)
        if delay:
            time.sleep(delay)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except ConnectionError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests


class EcbServer:
    """A threaded local ECB on 127.0.0.1 (a free port), used as a context manager."""

    def __init__(self, days: Days | None = None) -> None:
        self._lock = threading.Lock()
        self._days: dict[date, dict[str, str]] = {}
        self.set_days(SAMPLE_DAYS if days is None else days)
        self._failures: list[int] = []
        self._delays: list[float] = []
        self._raw: list[_Answer] = []
        self._requests: list[str] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EcbServer:
        self._httpd = _HTTPServer(self)
        self._thread = serve_in_background(self._httpd)
        return self

    def stop(self) -> None:
        shut_down(self._httpd, self._thread)
        self._httpd = self._thread = None

    def __enter__(self) -> EcbServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL of the files, like ``https://www.ecb.europa.eu/stats/eurofxref``."""
        if self._httpd is None:
            raise RuntimeError("the ECB server is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{PATH}"

    # -- test controls ------------------------------------------------------------------

    def set_days(self, days: Days) -> None:
        with self._lock:
            self._days = {day: dict(rates) for day, rates in days.items()}

    def fail_next(self, status: int = 503, count: int = 1) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def delay_next(self, seconds: float) -> None:
        with self._lock:
            self._delays.append(seconds)

    def answer_raw_next(self, body: bytes, status: int = 200, content_type: str = "text/xml") -> None:
        with self._lock:
            self._raw.append(_Answer(status, body, content_type))

    @property
    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    # -- serving --------------------------------------------------------------------------

    def answer(self, path: str) -> tuple[_Answer, float]:
        with self._lock:
            self._requests.append(path)
            delay = self._delays.pop(0) if self._delays else 0.0
            if self._failures:
                return _error_page(self._failures.pop(0)), delay
            if self._raw:
                return self._raw.pop(0), delay
            days = dict(self._days)
        if path == f"{PATH}/{DAILY}" and days:
            newest = max(days)
            return _Answer(200, eurofxref_xml({newest: days[newest]}), "text/xml"), delay
        if path == f"{PATH}/{NINETY_DAYS}" and days:
            newest = max(days)
            recent = {d: r for d, r in days.items() if newest - d <= timedelta(days=90)}
            return _Answer(200, eurofxref_xml(recent), "text/xml"), delay
        return _Answer(404, b"<html><body><h1>Not Found</h1></body></html>", "text/html"), delay
