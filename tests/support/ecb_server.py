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

import threading
from collections.abc import Mapping
from datetime import date, timedelta

from tests.support.background_http import Answer, AppHTTPServer, LocalHttpServer, QuietHandler

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


def _error_page(status: int) -> Answer:
    page = f"<html><head><title>{status}</title></head><body><h1>Service unavailable</h1></body></html>"
    return Answer(status, page.encode(), "text/html; charset=utf-8")


class _Handler(QuietHandler):
    server: AppHTTPServer[EcbServer]

    def do_GET(self) -> None:
        self.send_answer(*self.server.app.answer(self.path))


class EcbServer(LocalHttpServer):
    """A threaded local ECB on 127.0.0.1 (a free port), used as a context manager."""

    handler = _Handler
    name = "the ECB server"

    def __init__(self, days: Days | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._days: dict[date, dict[str, str]] = {}
        self.set_days(SAMPLE_DAYS if days is None else days)
        self._failures: list[int] = []
        self._delays: list[float] = []
        self._raw: list[Answer] = []
        self._requests: list[str] = []

    @property
    def url(self) -> str:
        """The base URL of the files, like ``https://www.ecb.europa.eu/stats/eurofxref``."""
        return f"http://127.0.0.1:{self.port}{PATH}"

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
            self._raw.append(Answer(status, body, content_type))

    @property
    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    # -- serving --------------------------------------------------------------------------

    def answer(self, path: str) -> tuple[Answer, float]:
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
            return Answer(200, eurofxref_xml({newest: days[newest]}), "text/xml"), delay
        if path == f"{PATH}/{NINETY_DAYS}" and days:
            newest = max(days)
            recent = {d: r for d, r in days.items() if newest - d <= timedelta(days=90)}
            return Answer(200, eurofxref_xml(recent), "text/xml"), delay
        return Answer(404, b"<html><body><h1>Not Found</h1></body></html>", "text/html"), delay
