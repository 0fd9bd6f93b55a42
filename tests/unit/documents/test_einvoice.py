"""Every kind of billing document, rendered as XRechnung 3.0 UBL and CII, passes the EN 16931 /
XRechnung validator in ../shared/einvoice (XSD, CEN schematron, XRechnung schematron); and the
validator does reject a broken document, so a green run means something."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree  # type: ignore[import-untyped]

from billow.adapters.documents.cii import render_cii
from billow.adapters.documents.ubl import render_ubl
from billow.domain.billing_document import BillingDocument, PaymentInstructions
from tests.support import document_cases as cases

EINVOICE_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "einvoice"

RENDERERS: dict[str, Callable[[BillingDocument], bytes]] = {"ubl": render_ubl, "cii": render_cii}


@pytest.fixture(scope="module")
def validator() -> Any:
    """One Validator for the module: compiling its stylesheets takes about half a second."""
    script = EINVOICE_DIR / "validate.py"
    if not script.is_file():
        pytest.skip(f"../shared/einvoice is absent: no EN 16931 / XRechnung validator at {EINVOICE_DIR}")
    # Loaded from its path under a name of its own: "validate" alone may be another package.
    spec = importlib.util.spec_from_file_location("shared_einvoice_validate", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    try:
        spec.loader.exec_module(module)
        return module.Validator()
    except ImportError as error:  # saxonche or lxml missing
        pytest.skip(f"../shared/einvoice cannot run here: {error}")


def errors_of(result: Any) -> list[str]:
    return [
        f"{m.source}:{m.code} {m.text[:200]} @ {m.location}" for m in result.messages if m.level == "error"
    ]


def assert_accepted(validator: Any, xml: bytes) -> Any:
    result = validator.validate(xml)
    assert result.accepted, "\n".join(errors_of(result))
    return result


@pytest.mark.parametrize("syntax", sorted(RENDERERS))
@pytest.mark.parametrize("case", sorted(cases.CASES))
def test_every_case_is_accepted(validator: Any, case: str, syntax: str) -> None:
    result = assert_accepted(validator, RENDERERS[syntax](cases.CASES[case]()))

    assert result.scenario == "cius"  # validated as XRechnung 3.0, not as plain EN 16931
    assert [m.code for m in result.messages if m.level == "warning"] == []


@pytest.mark.parametrize("syntax", sorted(RENDERERS))
def test_five_hundred_lines_are_accepted(validator: Any, syntax: str) -> None:
    assert_accepted(validator, RENDERERS[syntax](cases.lines(500)))


@pytest.mark.parametrize("syntax", sorted(RENDERERS))
def test_a_currency_without_minor_unit_is_accepted(validator: Any, syntax: str) -> None:
    doc = cases.document(
        "RE-2025-0110",
        cases.GERMAN_BUSINESS,
        (cases.line("1", "Team plan (JPY)", 1, "39800"), cases.line("2", "Seats", 3, "1700")),
        currency="JPY",
    )
    assert b">8531</" in render_ubl(doc)  # no decimals: the yen has no minor unit
    assert_accepted(validator, RENDERERS[syntax](doc))


@pytest.mark.parametrize("syntax", sorted(RENDERERS))
def test_a_card_payment_is_accepted(validator: Any, syntax: str) -> None:
    doc = cases.domestic_standard()
    card = PaymentInstructions(
        means_code="48", means_text="Card payment", card_last4="4242", terms="Charged to your card."
    )
    assert_accepted(validator, RENDERERS[syntax](replace(doc, payment=card)))


def test_plain_en16931_cii_is_accepted_too(validator: Any) -> None:
    """The CII also goes into ZUGFeRD / Factur-X PDFs, read under plain EN 16931."""
    xml = render_cii(cases.reverse_charge_eu()).replace(
        b"urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0", b"urn:cen.eu:en16931:2017"
    )
    result = assert_accepted(validator, xml)
    assert result.scenario == "en16931"


def _drop(xml: bytes, xpath: str, namespaces: dict[str, str]) -> bytes:
    root = etree.fromstring(xml)
    (element,) = root.xpath(xpath, namespaces=namespaces)
    element.getparent().remove(element)
    data: bytes = etree.tostring(root)
    return data


UBL_NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
CII_NS = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}


def test_the_validator_rejects_a_ubl_invoice_without_buyer_reference(validator: Any) -> None:
    broken = _drop(render_ubl(cases.domestic_standard()), "/*/cbc:BuyerReference", UBL_NS)

    result = validator.validate(broken)

    assert not result.accepted
    assert "BR-DE-15" in {m.code for m in result.messages if m.level == "error"}


def test_the_validator_rejects_a_cii_invoice_whose_totals_do_not_add_up(validator: Any) -> None:
    doc = cases.domestic_standard()
    wrong = replace(doc, totals=replace(doc.totals, line_total=doc.totals.line_total + Decimal("0.10")))

    result = validator.validate(render_cii(wrong))

    assert not result.accepted
    assert "BR-CO-10" in {m.code for m in result.messages if m.level == "error"}


def test_the_validator_rejects_a_credit_note_that_lost_its_payment_means(validator: Any) -> None:
    broken = _drop(
        render_cii(cases.credit_note()),
        "//ram:SpecifiedTradeSettlementPaymentMeans",
        CII_NS,
    )

    result = validator.validate(broken)

    assert not result.accepted
    assert "BR-DE-1" in {m.code for m in result.messages if m.level == "error"}


@pytest.mark.parametrize("syntax", sorted(RENDERERS))
def test_rendering_five_hundred_lines_is_fast(syntax: str) -> None:
    doc, render = cases.lines(500), RENDERERS[syntax]
    render(doc)
    best = min(_seconds(render, doc) for _ in range(3))
    assert best < 0.1, f"{syntax}: {best * 1000:.0f} ms for 500 lines"


def _seconds(render: Callable[[BillingDocument], bytes], doc: BillingDocument) -> float:
    started = time.perf_counter()
    render(doc)
    return time.perf_counter() - started
