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

import re
from datetime import date
from decimal import Decimal

from billow.adapters.http_fetch import AnswerTooLarge, NoAnswer, UnwantedStatus, checked_base_url, fetch
from billow.adapters.xml_answer import parse_xml_answer
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


def parse_eurofxref(document: bytes, *, source: str = SOURCE) -> list[ReferenceRates]:
    """The publications in an eurofxref document, oldest first. Raises ``RatesUnavailable``
    when the document is not one."""
    root = parse_xml_answer(
        document,
        root_tag=_ENVELOPE,
        whose="the ECB's answer",
        root_name="a gesmes:Envelope",
        refuse=RatesUnavailable,
    )
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


class EcbRatesSource:
    """The ECB's euro reference rates (base EUR) from ``base_url``."""

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, timeout: float = 10, *, max_bytes: int = MAX_BYTES
    ) -> None:
        self.base_url = checked_base_url(base_url, timeout, max_bytes, service="ECB")
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
        try:
            _, body = fetch(
                url,
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                headers={"Accept": "application/xml, text/xml", "User-Agent": "billow-ecb-rates"},
                read_status=lambda status: status == 200,
            )
        except UnwantedStatus as refused:
            raise RatesUnavailable(f"the ECB answered HTTP {refused.status} for {url}") from None
        except AnswerTooLarge:
            raise RatesUnavailable(
                f"the ECB's answer is larger than {self.max_bytes} bytes; refused"
            ) from None
        except NoAnswer as failed:
            if failed.connecting:
                raise RatesUnavailable(f"could not reach the ECB at {url}: {failed.error}") from None
            kind = "timed out" if failed.timed_out else "failed"
            raise RatesUnavailable(f"fetching {url} {kind}: {failed.error}") from None
        return parse_eurofxref(body)
