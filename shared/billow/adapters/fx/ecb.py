"""The ECB's euro foreign exchange reference rates, over HTTP.

Files (under ``base_url``, by default ``https://www.ecb.europa.eu/stats/eurofxref``):

- ``eurofxref-daily.xml``: the latest publication (``latest``);
- ``eurofxref-hist-90d.xml``: the publications of roughly the last 90 days (``last_90_days``).

Format (both files), a GESMES envelope whose rates live in the eurofxref vocabulary::

    <gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
                     xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
      <gesmes:subject>Reference rates</gesmes:subject>
      <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
      <Cube>
        <Cube time='2024-06-28'>
          <Cube currency='USD' rate='1.0705'/>
          …

one ``Cube time=…`` per publication (newest first in the 90-day file), each rate the units of
the currency per 1 EUR. Rates are read straight from their text into Decimal (never through a
float); only plain decimals (``1.0705``, ``17487.21``) are accepted.

Parsing is lxml with entity resolution, DTD loading and network access off; a document with a
DOCTYPE is refused (the ECB sends none). HTTP is the standard library's: ``timeout`` bounds each
blocking step (connecting, each read) and the whole download, bodies over ``max_bytes`` are
refused, and redirects are followed (a GET of a public file). Any failure — connection
refused, timeout, an HTTP status other than 200, a body that is not the format above — raises
``RatesUnavailable``.
"""

from __future__ import annotations

import http.client
import re
import time
import urllib.error
import urllib.request
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

from lxml import etree

from billow.domain.reference_rates import ReferenceRates

DEFAULT_BASE_URL = "https://www.ecb.europa.eu/stats/eurofxref"
DAILY_FILE = "eurofxref-daily.xml"
NINETY_DAYS_FILE = "eurofxref-hist-90d.xml"
GESMES_NS = "http://www.gesmes.org/xml/2002-08-01"
EUROFXREF_NS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
SOURCE = "ecb"
BASE_CURRENCY = "EUR"
MAX_BYTES = 4 * 1024 * 1024  # the 90-day file is about 60 KB

_ENVELOPE = f"{{{GESMES_NS}}}Envelope"
_CUBE = f"{{{EUROFXREF_NS}}}Cube"
_RATE = re.compile(r"[0-9]+(\.[0-9]+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


class RatesUnavailable(Exception):
    """The reference rates could not be fetched or read; the message says why."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_eurofxref(document: bytes, *, source: str = SOURCE) -> list[ReferenceRates]:
    """The publications in an eurofxref document, oldest first. Raises ``RatesUnavailable``
    when the document is not one."""
    try:
        root = etree.fromstring(document, _parser())
    except etree.XMLSyntaxError as error:
        raise RatesUnavailable(f"the ECB's answer is not XML: {error}") from None
    if root.getroottree().docinfo.doctype:
        raise RatesUnavailable("the ECB's answer carries a DOCTYPE; refused")
    if root.tag != _ENVELOPE:
        raise RatesUnavailable(f"the ECB's answer is not a gesmes:Envelope but {root.tag!r}")
    publications: dict[date, ReferenceRates] = {}
    for dated in root.iter(_CUBE):
        stamp = dated.get("time")
        if stamp is None:
            continue
        try:
            rate_date = date.fromisoformat(stamp)
        except ValueError:
            raise RatesUnavailable(f"the ECB's answer has a Cube with time {stamp!r}") from None
        rates: dict[str, Decimal] = {}
        for quote in dated.iterchildren(_CUBE):
            currency, rate = quote.get("currency"), quote.get("rate")
            if currency is None or not _CURRENCY.fullmatch(currency):
                raise RatesUnavailable(f"the ECB's rates of {stamp} name a currency {currency!r}")
            if rate is None or not _RATE.fullmatch(rate) or Decimal(rate) == 0:
                raise RatesUnavailable(f"the ECB's rate of {currency} on {stamp} is {rate!r}")
            if currency in rates or currency == BASE_CURRENCY:
                raise RatesUnavailable(f"the ECB's rates of {stamp} quote {currency} twice")
            rates[currency] = Decimal(rate)
        if not rates:
            raise RatesUnavailable(f"the ECB's publication of {stamp} has no rates")
        if rate_date in publications:
            raise RatesUnavailable(f"the ECB's answer has two publications of {stamp}")
        publications[rate_date] = ReferenceRates(source, rate_date, BASE_CURRENCY, rates)
    if not publications:
        raise RatesUnavailable("the ECB's answer holds no publication")
    return [publications[day] for day in sorted(publications)]


def _read(response: http.client.HTTPResponse, deadline: float, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer did not arrive in time")
        chunk = response.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise RatesUnavailable(f"the ECB's answer is larger than {max_bytes} bytes; refused")
        chunks.append(chunk)


class EcbRatesSource:
    """The ECB's euro reference rates (base EUR) from ``base_url``."""

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, timeout: float = 10, *, max_bytes: int = MAX_BYTES
    ) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"the ECB base URL must be http(s), not {base_url!r}")
        if timeout <= 0 or max_bytes <= 0:
            raise ValueError("timeout and max_bytes must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_bytes = max_bytes

    def latest(self) -> ReferenceRates:
        """The latest publication (``eurofxref-daily.xml``)."""
        return self._fetch(DAILY_FILE)[-1]

    def last_90_days(self) -> list[ReferenceRates]:
        """The publications of about the last 90 days (``eurofxref-hist-90d.xml``), oldest first."""
        return self._fetch(NINETY_DAYS_FILE)

    def _fetch(self, name: str) -> list[ReferenceRates]:
        url = f"{self.base_url}/{name}"
        deadline = time.monotonic() + self.timeout
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            url, headers={"Accept": "application/xml, text/xml", "User-Agent": "billow-ecb-rates"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                if response.status != 200:
                    raise RatesUnavailable(f"the ECB answered HTTP {response.status} for {url}")
                body = _read(response, deadline, self.max_bytes)
        except urllib.error.HTTPError as error:
            error.close()
            raise RatesUnavailable(f"the ECB answered HTTP {error.code} for {url}") from None
        except urllib.error.URLError as error:
            raise RatesUnavailable(f"could not reach the ECB at {url}: {error.reason}") from None
        except (OSError, http.client.HTTPException) as error:
            kind = "timed out" if isinstance(error, TimeoutError) else "failed"
            raise RatesUnavailable(f"fetching {url} {kind}: {error}") from None
        return parse_eurofxref(body)
