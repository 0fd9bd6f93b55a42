"""A local TEDB: the Commission's ``retrieveVatRates`` SOAP service, with its request and answer
messages, so the TEDB client is tested over real HTTP.

    with TedbServer(rates) as tedb:
        source = TedbRatesSource(tedb.url, timeout=1)

``POST {url}/VatRetrievalService`` (``url`` ends in ``/taxation_customs/tedb/ws``) takes a SOAP
1.1 envelope whose body is a ``retrieveVatRatesReqMsg`` (namespace
``urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService``) with ``memberStates/isoCode``
and ``situationOn`` (or ``from``/``to``) in the ``…:types`` namespace. It answers a
``retrieveVatRatesRespMsg`` built from ``rates`` (one ``EuVatRates``: the server holds a single
situation, whatever date is asked), shaped like the live service's answers:

- per state (``EL`` for Greece), the standard rate twice (``STANDARD``/``DEFAULT``, once plain
  and once with the ``VAT - Import -`` comment), each reduced rate under a category
  (``REDUCED``/``REDUCED_RATE``), the super-reduced and parking rates (``SUPER_REDUCED_RATE``,
  ``PARKING_RATE``), plus a zero rate and ``EXEMPTED``/``OUT_OF_SCOPE`` entries;
- ``situationOn`` is the state's ``valid_from`` with a zone offset (``2025-07-01+02:00``);
- with ``territories=True`` (the default) the special-territory entries the live service also
  gives: Spain's Canary Islands standard rate (7 %, comment ``VAT - Canary Islands -``), France's
  Corsica and overseas rates (category ``REGION``), Austria's Jungholz/Mittelberg rate (19 %,
  ``REGION``), a Madeira rate of Portugal's (22 %, named only in the comment).

An ``isoCode`` that is no TEDB member state (``GR`` included: TEDB wants ``EL``) gets the
live service's fault: HTTP 500, ``env:Client`` / ``TEDB-ERR-2 - Request is not valid``, with
an ``error`` (``00002``, ``The Member State "GR" does not exist.``) per unknown code. A body
that is not such an envelope gets ``TEDB-ERR-1``.

Test controls (thread-safe): ``fail_next(status, count)`` answers an HTML error page;
``delay_next(seconds)``; ``answer_raw_next(body, status, content_type)``. ``requests`` holds
what each request asked (``TedbRequest``: codes, dates, SOAPAction).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from lxml import etree  # type: ignore[import-untyped]

from billow.domain.eu_vat import EuVatRates, MemberStateRates, vat_prefix
from tests.support.background_http import Answer, AppHTTPServer, LocalHttpServer, QuietHandler

PATH = "/taxation_customs/tedb/ws"
SERVICE = "/VatRetrievalService"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGE_NS = "urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService"
TYPES_NS = "urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService:types"
TEDB_CODES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"}
)
CATEGORIES = ("FOODSTUFFS", "PHARMACEUTICAL_PRODUCTS", "ACCOMMODATION", "LOAN_LIBRARIES", "CULTURAL_EVENTS")


@dataclass(frozen=True)
class TedbRequest:
    iso_codes: tuple[str, ...]
    situation_on: str | None
    date_from: str | None
    date_to: str | None
    soap_action: str | None


def _xml(status: int, body: bytes) -> Answer:
    return Answer(status, body, "text/xml; charset=UTF-8")


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"  # TEDB writes xs:double values: 7.0, 25.5


def _result(
    state: str,
    kind: str,
    value_type: str,
    value: Decimal,
    situation_on: str,
    *,
    category: str | None = None,
    comment: str | None = None,
    cn_codes: tuple[tuple[str, str], ...] = (),
) -> str:
    parts = [
        f"<vatRateResults><memberState>{state}</memberState><type>{kind}</type>",
        f"<rate><type>{value_type}</type><value>{_number(value)}</value></rate>",
        f"<situationOn>{situation_on}</situationOn>",
    ]
    if cn_codes:
        codes = "".join(
            f"<code><value>{escape(v)}</value><description>{escape(d)}</description></code>"
            for v, d in cn_codes
        )
        parts.append(f"<cnCodes>{codes}</cnCodes>")
    if category:
        parts.append(
            f"<category><identifier>{category}</identifier>"
            f"<description>{escape(category.replace('_', ' ').capitalize())}</description></category>"
        )
    if comment is not None:
        parts.append(f"<comment>{escape(comment)}</comment>")
    parts.append("</vatRateResults>")
    return "".join(parts)


def state_results(rates: MemberStateRates, *, territories: bool = True) -> list[str]:
    """The ``vatRateResults`` elements the live service gives for one state's rates."""
    code = vat_prefix(rates.country)
    on = f"{rates.valid_from.isoformat()}+01:00"
    found = [
        _result(code, "STANDARD", "DEFAULT", rates.standard, on),
        _result(code, "STANDARD", "DEFAULT", rates.standard, on, comment="VAT - Import - "),
    ]
    for index, reduced in enumerate(rates.reduced):
        found.append(
            _result(
                code,
                "REDUCED",
                "REDUCED_RATE",
                reduced,
                on,
                category=CATEGORIES[index % len(CATEGORIES)],
                comment="See preliminary remarks to “Reduced rates”.",
                cn_codes=(("01", "CHAPTER 1 - LIVE ANIMALS"),) if index == 0 else (),
            )
        )
    if rates.super_reduced is not None:
        found.append(
            _result(code, "REDUCED", "SUPER_REDUCED_RATE", rates.super_reduced, on, category="NEWSPAPERS")
        )
    if rates.parking is not None:
        found.append(_result(code, "REDUCED", "PARKING_RATE", rates.parking, on, category="NEW_PARKING_RATE"))
    found += [
        _result(code, "REDUCED", "REDUCED_RATE", Decimal("0.0"), on, category="SUPPLY_WATER"),
        _result(code, "REDUCED", "EXEMPTED", Decimal("0.0"), on, category="SUPPLY_ELECTRICITY"),
        _result(code, "REDUCED", "OUT_OF_SCOPE", Decimal("0.0"), on, category="BROADCASTING_SERVICES"),
    ]
    if territories and code == "ES":
        found.append(_result(code, "STANDARD", "DEFAULT", Decimal(7), on, comment="VAT - Canary Islands - "))
    if territories and code == "FR":
        found.append(
            _result(
                code, "REDUCED", "REDUCED_RATE", Decimal("0.9"), on, category="REGION", comment="For Corsica"
            )
        )
        found.append(
            _result(
                code,
                "REDUCED",
                "REDUCED_RATE",
                Decimal("8.5"),
                on,
                category="REGION",
                comment="The standard VAT rate in Martinique, Guadeloupe and Réunion is 8.5%.",
            )
        )
    if code == "LU" and rates.parking is not None:
        # Luxembourg files its parking rate once more as a reduced rate, saying so in the comment.
        found.append(
            _result(
                code,
                "REDUCED",
                "REDUCED_RATE",
                rates.parking,
                on,
                category="FOSSIL_FUEL",
                comment="Parking rate\r\nSolid mineral fuels; mineral oils",
            )
        )
    if territories and code == "PT":
        found.append(
            _result(code, "REDUCED", "REDUCED_RATE", Decimal(22), on, comment="Autonomous Region of Madeira")
        )
    if territories and code == "AT":
        found.append(
            _result(
                code,
                "REDUCED",
                "REDUCED_RATE",
                Decimal(19),
                on,
                category="REGION",
                comment="Jungholz, Mittelberg",
            )
        )
    return found


def answer_document(results: list[str]) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{SOAP_NS}"><env:Header/><env:Body>'
        f'<ns0:retrieveVatRatesRespMsg xmlns="{TYPES_NS}" xmlns:ns0="{MESSAGE_NS}">'
        f"<additionalInformation/>{''.join(results)}</ns0:retrieveVatRatesRespMsg>"
        "</env:Body></env:Envelope>"
    ).encode()


def fault_document(fault_string: str, errors: list[tuple[str, str]], *, code: str = "env:Client") -> bytes:
    details = "".join(
        f"<ns0:error><ns0:code>{c}</ns0:code><ns0:description>{escape(d)}</ns0:description></ns0:error>"
        for c, d in errors
    )
    return (
        f'<env:Envelope xmlns:env="{SOAP_NS}"><env:Header/><env:Body><env:Fault>'
        f"<faultcode>{code}</faultcode><faultstring>{escape(fault_string)}</faultstring>"
        f'<detail><ns2:retrieveVatRatesFaultMsg xmlns:ns0="{TYPES_NS}" xmlns:ns2="{MESSAGE_NS}">'
        f"{details}</ns2:retrieveVatRatesFaultMsg></detail></env:Fault></env:Body></env:Envelope>"
    ).encode()


def parse_request(body: bytes, soap_action: str | None) -> TedbRequest | None:
    """What a request asks, or None when it is not a ``retrieveVatRatesReqMsg`` envelope."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return None
    message = root.find(f"{{{SOAP_NS}}}Body/{{{MESSAGE_NS}}}retrieveVatRatesReqMsg")
    if root.tag != f"{{{SOAP_NS}}}Envelope" or message is None:
        return None
    codes = tuple((e.text or "").strip() for e in message.iter(f"{{{TYPES_NS}}}isoCode"))

    def text(name: str) -> str | None:
        found = message.findtext(f"{{{TYPES_NS}}}{name}")
        return None if found is None else str(found).strip()

    return TedbRequest(codes, text("situationOn"), text("from"), text("to"), soap_action)


class _Handler(QuietHandler):
    server: AppHTTPServer[TedbServer]

    def do_POST(self) -> None:
        body = self.read_body()
        self.send_answer(*self.server.app.answer(self.path, body, self.headers.get("SOAPAction")))


class TedbServer(LocalHttpServer):
    """A threaded local TEDB web service on 127.0.0.1 (a free port), used as a context manager."""

    handler = _Handler
    name = "the TEDB server"

    def __init__(self, rates: EuVatRates, *, territories: bool = True) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.rates = rates
        self.territories = territories
        self._failures: list[Answer] = []
        self._delays: list[float] = []
        self._requests: list[TedbRequest | None] = []

    @property
    def url(self) -> str:
        """The web service's base URL, like ``https://ec.europa.eu/taxation_customs/tedb/ws``."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    # -- test controls ------------------------------------------------------------------

    def fail_next(self, status: int = 503, count: int = 1) -> None:
        page = f"<html><body><h1>{status}</h1></body></html>".encode()
        with self._lock:
            self._failures.extend([Answer(status, page, "text/html")] * count)

    def delay_next(self, seconds: float) -> None:
        with self._lock:
            self._delays.append(seconds)

    def answer_raw_next(self, body: bytes, status: int = 200, content_type: str = "text/xml") -> None:
        with self._lock:
            self._failures.append(Answer(status, body, content_type))

    @property
    def requests(self) -> list[TedbRequest | None]:
        with self._lock:
            return list(self._requests)

    # -- serving --------------------------------------------------------------------------

    def answer(self, path: str, body: bytes, soap_action: str | None) -> tuple[Answer, float]:
        request = parse_request(body, soap_action)
        with self._lock:
            self._requests.append(request)
            delay = self._delays.pop(0) if self._delays else 0.0
            if self._failures:
                return self._failures.pop(0), delay
        if path != PATH + SERVICE:
            return Answer(404, b"<html><body>Not Found</body></html>", "text/html"), delay
        if request is None or not request.iso_codes:
            fault = fault_document(
                "TEDB-ERR-1 - Request is not well formed", [("00001", "Unreadable request")]
            )
            return _xml(500, fault), delay
        unknown = [c for c in request.iso_codes if c not in TEDB_CODES]
        if unknown:
            errors = [("00002", f'The Member State "{c}" does not exist.') for c in unknown]
            return _xml(500, fault_document("TEDB-ERR-2 - Request is not valid", errors)), delay
        by_prefix = {vat_prefix(country): rates for country, rates in self.rates.states.items()}
        results: list[str] = []
        for code in request.iso_codes:
            if code in by_prefix:
                results += state_results(by_prefix[code], territories=self.territories)
        return _xml(200, answer_document(results)), delay
