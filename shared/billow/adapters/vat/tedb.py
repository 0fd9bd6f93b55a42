"""The member states' VAT rates from the Commission's Taxes in Europe Database (TEDB), through its
SOAP web service ``retrieveVatRates`` (used by a scheduled refresh, not per invoice).

Service (WSDL ``https://ec.europa.eu/taxation_customs/tedb/ws/VatRetrievalService.wsdl``):
SOAP 1.1, document/literal, no authentication. The request is POSTed to
``{base_url}/VatRetrievalService`` (base ``https://ec.europa.eu/taxation_customs/tedb/ws``)
with ``Content-Type: text/xml; charset=utf-8`` and
``SOAPAction: urn:ec.europa.eu:taxud:tedb:services:v1:VatRetrievalService/RetrieveVatRates``::

    <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
        xmlns:msg="urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService"
        xmlns:types="urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService:types">
      <soapenv:Body>
        <msg:retrieveVatRatesReqMsg>
          <types:memberStates><types:isoCode>AT</types:isoCode>…<types:isoCode>EL</types:isoCode>…
          </types:memberStates>
          <types:situationOn>2026-01-01</types:situationOn>
        </msg:retrieveVatRatesReqMsg>
      </soapenv:Body>
    </soapenv:Envelope>

Member states are named by their VAT prefix: Greece is ``EL`` (``GR`` is refused by TEDB).
The answer is a ``retrieveVatRatesRespMsg`` (message namespace) whose children are in the
``…:types`` namespace: ``additionalInformation``, then one ``vatRateResults`` per rate and
category::

    <vatRateResults>
      <memberState>DE</memberState>
      <type>REDUCED</type>                       <!-- STANDARD | REDUCED -->
      <rate><type>REDUCED_RATE</type><value>7.0</value></rate>
      <situationOn>2025-07-01+02:00</situationOn>  <!-- the date this record applies from -->
      <cnCodes>…</cnCodes> <cpaCodes>…</cpaCodes>  <!-- optional -->
      <category><identifier>FOODSTUFFS</identifier><description>…</description></category>
      <comment>…</comment>                        <!-- optional -->
    </vatRateResults>

with ``rate/type`` one of DEFAULT, REDUCED_RATE, SUPER_REDUCED_RATE, PARKING_RATE,
NOT_APPLICABLE, OUT_OF_SCOPE, EXEMPTED. A refused request is an HTTP 500 SOAP fault
(``faultcode``/``faultstring``, and ``detail/retrieveVatRatesFaultMsg/error/{code,
description}``, e.g. ``00002`` "The Member State "XX" does not exist.").

How certain this is: the message shapes, namespaces, SOAPAction and enumerations are those of
the service's WSDL and XSDs, and responses and faults recorded from the live service (2025)
have exactly this shape. The WSDL's ``soap:address`` is ``…/tedb/ws/``; recorded clients POST
to ``…/tedb/ws/VatRetrievalService``, which is what this client does.

From results to ``EuVatRates`` (one ``MemberStateRates`` per requested state): TEDB lists every
category separately, including rates of special territories and exemptions, so

- results of category ``REGION``, or whose comment names a special territory (Canary Islands,
  Azores, Madeira, Corsica, the French overseas departments, …), are left out;
- NOT_APPLICABLE, OUT_OF_SCOPE, EXEMPTED and 0 % values are left out (the zero rate is a
  category, see ``billow.domain.eu_vat``);
- standard: the highest STANDARD/DEFAULT value;
- parking: PARKING_RATE values of at least 12 % below the standard rate (the highest);
- super-reduced: any value below 5 % (SUPER_REDUCED_RATE, or a REDUCED_RATE below 5 %; the
  lowest) — TEDB files a few higher temporary rates as SUPER_REDUCED_RATE, those are dropped;
- reduced: the distinct REDUCED_RATE values from 5 % up to below the standard rate. A value that
  is also the parking rate stays a reduced rate (Austria's, Belgium's, Ireland's and Portugal's
  parking rates are reduced rates too), unless TEDB's comment on it calls it the parking rate
  (Luxembourg files its 14 % parking rate once as a REDUCED_RATE "Parking rate");
- ``valid_from``: the latest ``situationOn`` among the results used (never after the date
  asked for).

So a table from TEDB is a machine reading of the Commission's data; the bundled table
(``bundled_rates``) is curated. A state with no standard rate in the answer, an answer that is
not this format, a fault, a timeout or an HTTP error raise ``VatRatesUnavailable``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from lxml import etree

from billow.adapters.http_fetch import (
    AnswerTooLarge,
    NoAnswer,
    UnwantedStatus,
    checked_base_url,
    fetch,
    no_redirect_opener,
)
from billow.adapters.xml_answer import parse_xml_answer
from billow.domain.eu_vat import (
    MEMBER_STATES,
    MINIMUM_PARKING_RATE,
    SUPER_REDUCED_BELOW,
    EuVatRates,
    MemberStateRates,
    country_of_vat_prefix,
    vat_prefix,
)

DEFAULT_BASE_URL = "https://ec.europa.eu/taxation_customs/tedb/ws"
SERVICE_PATH = "/VatRetrievalService"
SOAP_ACTION = "urn:ec.europa.eu:taxud:tedb:services:v1:VatRetrievalService/RetrieveVatRates"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGE_NS = "urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService"
TYPES_NS = "urn:ec.europa.eu:taxud:tedb:services:v1:IVatRetrievalService:types"
SOURCE = "European Commission TEDB (https://ec.europa.eu/taxation_customs/tedb/), retrieveVatRates"
MAX_BYTES = 64 * 1024 * 1024  # all 27 states with their CN/CPA code lists run to several MB

# Words in a result's comment that mark a special territory's rate.
TERRITORIES = (
    "canary",
    "canarias",
    "ceuta",
    "melilla",
    "azores",
    "açores",
    "madeira",
    "corsica",
    "corse",
    "martinique",
    "guadeloupe",
    "réunion",
    "reunion",
    "jungholz",
    "mittelberg",
    "heligoland",
    "helgoland",
    "büsingen",
    "livigno",
    "campione",
    "åland",
    "aland",
    "mount athos",
)
_SKIPPED_VALUE_TYPES = frozenset({"NOT_APPLICABLE", "OUT_OF_SCOPE", "EXEMPTED"})
_VALUE = re.compile(r"[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")


class VatRatesUnavailable(Exception):
    """The rates could not be fetched or read from TEDB; the message says why."""


@dataclass(frozen=True)
class TedbResult:
    """One ``vatRateResults`` element, as read."""

    member_state: str  # as TEDB writes it: EL for Greece
    type: str  # STANDARD | REDUCED
    value_type: str  # DEFAULT | REDUCED_RATE | …
    value: Decimal | None
    situation_on: date
    category: str | None
    comment: str | None


def _t(name: str) -> str:
    return f"{{{TYPES_NS}}}{name}"


def _parse_xml(document: bytes) -> Any:
    return parse_xml_answer(
        document,
        root_tag=f"{{{SOAP_NS}}}Envelope",
        whose="TEDB's answer",
        root_name="a SOAP envelope",
        refuse=VatRatesUnavailable,
    )


def build_request(member_states: Iterable[str], situation_on: date) -> bytes:
    """The SOAP envelope asking the rates of ``member_states`` (ISO codes or VAT prefixes) on
    ``situation_on``."""
    envelope = etree.Element(
        f"{{{SOAP_NS}}}Envelope", nsmap={"soapenv": SOAP_NS, "msg": MESSAGE_NS, "types": TYPES_NS}
    )
    etree.SubElement(envelope, f"{{{SOAP_NS}}}Header")
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    message = etree.SubElement(body, f"{{{MESSAGE_NS}}}retrieveVatRatesReqMsg")
    states = etree.SubElement(message, _t("memberStates"))
    for country in member_states:
        etree.SubElement(states, _t("isoCode")).text = vat_prefix(country)
    etree.SubElement(message, _t("situationOn")).text = situation_on.isoformat()
    result: bytes = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    return result


def _text(element: Any, name: str) -> str | None:
    child = element.find(_t(name))
    if child is None or child.text is None:
        return None
    text: str = child.text.strip()
    return text or None


def _fault(root: Any) -> str | None:
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    if fault is None:
        return None
    code = (fault.findtext("faultcode") or "").strip()
    text = (fault.findtext("faultstring") or "").strip()
    details = [
        f"{(error.findtext(_t('code')) or '').strip()} {(error.findtext(_t('description')) or '').strip()}"
        for error in fault.iter(_t("error"))
    ]
    described = f"{code}: {text}" if code else text
    return described + (f" ({'; '.join(d.strip() for d in details)})" if details else "")


def parse_response(document: bytes) -> list[TedbResult]:
    """The ``vatRateResults`` of a ``retrieveVatRates`` answer. Raises ``VatRatesUnavailable``
    for a SOAP fault or a document that is not such an answer."""
    root = _parse_xml(document)
    fault = _fault(root)
    if fault is not None:
        raise VatRatesUnavailable(f"TEDB refused the request: {fault}")
    message = root.find(f"{{{SOAP_NS}}}Body/{{{MESSAGE_NS}}}retrieveVatRatesRespMsg")
    if message is None:
        raise VatRatesUnavailable("TEDB's answer holds no retrieveVatRatesRespMsg")
    results: list[TedbResult] = []
    for element in message.iterchildren(_t("vatRateResults")):
        member_state, kind = _text(element, "memberState"), _text(element, "type")
        rate = element.find(_t("rate"))
        value_type = None if rate is None else _text(rate, "type")
        value_text = None if rate is None else _text(rate, "value")
        stamp = _text(element, "situationOn")
        if not member_state or kind not in ("STANDARD", "REDUCED") or not value_type or not stamp:
            raise VatRatesUnavailable("TEDB's answer has a vatRateResults without state, type, rate or date")
        if value_text is not None and not _VALUE.fullmatch(value_text):
            raise VatRatesUnavailable(f"TEDB's answer has a rate of {value_text!r} for {member_state}")
        stamp_match = _DATE.fullmatch(stamp)
        if stamp_match is None:
            raise VatRatesUnavailable(f"TEDB's answer has a situationOn of {stamp!r}")
        try:
            situation_on = date.fromisoformat(stamp_match.group(1))
        except ValueError:
            raise VatRatesUnavailable(f"TEDB's answer has a situationOn of {stamp!r}") from None
        category = element.find(_t("category"))
        results.append(
            TedbResult(
                member_state=member_state,
                type=kind,
                value_type=value_type,
                value=None if value_text is None else Decimal(value_text),
                situation_on=situation_on,
                category=None if category is None else _text(category, "identifier"),
                comment=_text(element, "comment"),
            )
        )
    return results


def _territorial(result: TedbResult) -> bool:
    if result.category == "REGION":
        return True
    comment = (result.comment or "").lower()
    return any(word in comment for word in TERRITORIES)


def _state_rates(country: str, results: list[TedbResult], situation_on: date) -> MemberStateRates:
    used = [
        r
        for r in results
        if not _territorial(r)
        and r.value_type not in _SKIPPED_VALUE_TYPES
        and r.value is not None
        and r.value > 0
    ]
    standards = [r for r in used if r.type == "STANDARD" and r.value_type == "DEFAULT"]
    if not standards:
        raise VatRatesUnavailable(f"TEDB gave no standard rate for {country}")
    standard = max(r.value for r in standards if r.value is not None)
    values = {kind: set[Decimal]() for kind in ("REDUCED_RATE", "SUPER_REDUCED_RATE", "PARKING_RATE")}
    called_parking: set[Decimal] = set()
    contributing = list(standards)
    for r in used:
        if r.type == "REDUCED" and r.value_type in values and r.value is not None and r.value < standard:
            values[r.value_type].add(r.value)
            contributing.append(r)
            if r.value_type == "REDUCED_RATE" and "parking" in (r.comment or "").lower():
                called_parking.add(r.value)
    parking_values = {v for v in values["PARKING_RATE"] if v >= MINIMUM_PARKING_RATE}
    parking = max(parking_values) if parking_values else None
    low = {v for v in values["REDUCED_RATE"] | values["SUPER_REDUCED_RATE"] if v < SUPER_REDUCED_BELOW}
    reduced = {
        v
        for v in values["REDUCED_RATE"]
        if v >= SUPER_REDUCED_BELOW and not (v == parking and v in called_parking)
    }
    valid_from = min(max(r.situation_on for r in contributing), situation_on)
    try:
        return MemberStateRates(
            country=country,
            standard=standard,
            reduced=tuple(sorted(reduced)),
            super_reduced=min(low) if low else None,
            parking=parking,
            valid_from=valid_from,
        )
    except ValueError as error:
        raise VatRatesUnavailable(f"TEDB's rates for {country} do not make a rate table: {error}") from None


def to_eu_vat_rates(
    results: Iterable[TedbResult], situation_on: date, member_states: Iterable[str] = MEMBER_STATES
) -> EuVatRates:
    """The rate table of ``member_states`` (ISO codes) read from TEDB's results (module
    docstring). Results for other states (XI, unasked ones) are ignored."""
    wanted = {country_of_vat_prefix(c) for c in member_states}
    by_state: dict[str, list[TedbResult]] = {c: [] for c in wanted}
    for result in results:
        country = country_of_vat_prefix(result.member_state)
        if country in by_state:
            by_state[country].append(result)
    states = {country: _state_rates(country, found, situation_on) for country, found in by_state.items()}
    return EuVatRates(source=SOURCE, as_of=situation_on, states=states)


class TedbRatesSource:
    """The member states' VAT rates on a date, from TEDB at ``base_url``."""

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, timeout: float = 60, *, max_bytes: int = MAX_BYTES
    ) -> None:
        self.base_url = checked_base_url(base_url, timeout, max_bytes, service="TEDB")
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._opener = no_redirect_opener()

    def rates_on(self, situation_on: date, member_states: Iterable[str] = MEMBER_STATES) -> EuVatRates:
        """The rates in force on ``situation_on`` of ``member_states`` (ISO codes; all 27 by
        default), ``as_of`` that date."""
        wanted = sorted({country_of_vat_prefix(c) for c in member_states})
        unknown = [c for c in wanted if c not in MEMBER_STATES]
        if not wanted or unknown:
            raise ValueError(f"ask for EU member states, not {unknown or 'none'}")
        document = self._post(build_request(wanted, situation_on))
        return to_eu_vat_rates(parse_response(document), situation_on, wanted)

    def _post(self, envelope: bytes) -> bytes:
        try:
            status, body = fetch(
                self.base_url + SERVICE_PATH,
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": SOAP_ACTION,
                    "Accept": "text/xml",
                    "User-Agent": "billow-tedb-client",
                },
                data=envelope,
                opener=self._opener,
                # A SOAP fault comes as 500; other error statuses carry no answer.
                read_status=lambda status: 200 <= status < 300 or status == 500,
                chunk_size=256 * 1024,
            )
        except UnwantedStatus as refused:
            raise VatRatesUnavailable(f"TEDB answered HTTP {refused.status}") from None
        except AnswerTooLarge:
            raise VatRatesUnavailable(f"TEDB's answer is larger than {self.max_bytes} bytes") from None
        except NoAnswer as failed:
            if failed.timed_out:
                raise VatRatesUnavailable(f"TEDB did not answer within {self.timeout:g} s") from None
            if failed.connecting:
                raise VatRatesUnavailable(f"could not reach TEDB: {failed.error}") from None
            raise VatRatesUnavailable(f"the exchange with TEDB failed: {failed.error!r}") from None
        if status == 500:
            root = _parse_xml(body)
            raise VatRatesUnavailable(
                f"TEDB refused the request: {_fault(root) or 'HTTP 500 without a fault'}"
            )
        if status != 200:
            raise VatRatesUnavailable(f"TEDB answered HTTP {status}")
        return body
