"""The PDF renderer (adapters/documents/pdf.py), read back with pypdf.

Text is checked through pypdf's extraction, layout through the positions its text visitor
reports, and the PDF/A-3b parts (attachment, /AF, XMP, output intent) through the objects.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files
from typing import Any

import pytest
from babel.numbers import format_currency
from fontTools import ttLib  # type: ignore[import-untyped]
from pypdf import PdfReader
from pypdf.generic import DictionaryObject, IndirectObject

from billow.adapters.documents.pdf import MARGIN, PAGE_W, PT, render_pdf
from billow.adapters.documents.pdf_layout import WORDS, format_iban, parse_color, wrap
from tests.support.pdf_documents import (
    BUYER_NAME,
    IBAN_PRINTED,
    NUMBER,
    REVERSE_CHARGE_NOTE,
    line_name,
    logo_png,
    make_document,
)

CII = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">'
    b"<!-- opaque to the renderer: \xc3\xa4\xc3\xb6\xc3\xbc --></rsm:CrossIndustryInvoice>\n"
)


def read(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    # Babel joins amount and currency with a no-break space; compare with plain spaces.
    return "\n".join(page.extract_text() for page in read(pdf).pages).replace("\xa0", " ")


def plain(text: str) -> str:
    return text.replace("\xa0", " ")


def flat(text: str) -> str:
    """Wrapped lines joined again."""
    return re.sub(r"\s+", " ", text)


def resolve(obj: Any) -> Any:
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


# --- content ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "total", "vat", "due"),
    [
        ("en", "€1,190.00", "€190.00", "Apr 15, 2025"),
        ("de_DE", "1.190,00 €", "190,00 €", "15.04.2025"),
    ],
)
def test_text_has_number_buyer_and_totals_formatted_for_the_locale(
    locale: str, total: str, vat: str, due: str
) -> None:
    doc = make_document(amounts=[Decimal("600.00"), Decimal("400.00")], locale=locale)
    assert doc.totals.payable == Decimal("1190.00")

    text = text_of(render_pdf(doc))

    assert NUMBER in text
    assert BUYER_NAME in text
    assert total in text
    assert vat in text
    assert due in text
    assert plain(format_currency(doc.totals.line_total, "EUR", locale=locale)) in text


@pytest.mark.parametrize(
    ("locale", "kind", "title"),
    [
        ("en", "invoice", "Invoice"),
        ("en_GB", "credit_note", "Credit note"),
        ("de_DE", "invoice", "Rechnung"),
        ("de_AT", "credit_note", "Rechnungskorrektur"),
        ("fr_FR", "invoice", "Facture"),
        ("fr", "credit_note", "Avoir"),
        ("xx_YY", "invoice", "Invoice"),  # unknown locale: English
        ("it_IT", "invoice", "Invoice"),  # no word table: English words, Italian numbers
    ],
)
def test_title_is_translated(locale: str, kind: Any, title: str) -> None:
    text = text_of(render_pdf(make_document(lines=2, locale=locale, kind=kind)))
    assert text.splitlines()[0].strip() == title


def test_credit_note_names_the_invoice_it_corrects() -> None:
    text = flat(text_of(render_pdf(make_document(lines=2, kind="credit_note"))))
    assert "Corrected invoice" in text
    assert "INV-2025-000017 (Mar 1, 2025)" in text
    assert "Amount credited" in text


def test_header_blocks_show_parties_dates_and_references() -> None:
    text = text_of(render_pdf(make_document(lines=2)))
    for expected in (
        "Acme Cloud GmbH",
        "Hauptstraße 1",
        "10115 Berlin",
        "Germany",
        "VAT ID: DE123456789",
        "Tax number: 27/123/45678",
        "5 rue de Rivoli",
        "75001 Paris",
        "France",
        "VAT ID: FR12345678901",
        "Issue date",
        "Apr 1, 2025",
        "Due date",
        "Service period",
        "Mar 1, 2025 \u2013 Mar 31, 2025",
        "Buyer reference",
        "04011000-12345-67",
        "PO-7781",
    ):
        assert expected in text, expected


def test_line_table_columns() -> None:
    text = text_of(render_pdf(make_document(lines=1, locale="de_DE")))
    # Quantity, unit price at its own precision, amount, VAT rate.
    assert re.search(r"1\.000 0,0015 € 1,50 € 19 %", text), text


def test_reverse_charge_vat_breakdown_with_exemption_reason_and_note() -> None:
    text = text_of(render_pdf(make_document(lines=3, reverse_charge=True)))
    assert "VAT 0% (AE) on" in text
    assert "Reverse charge (VATEX-EU-AE)" in text
    assert REVERSE_CHARGE_NOTE in flat(text)


def test_other_taxes_tax_currency_total_fx_note_and_prepaid() -> None:
    doc = make_document(
        amounts=[Decimal("1000.00")],
        currency="USD",
        other_tax=True,
        tax_currency="EUR",
        fx=True,
        prepaid=Decimal("100.00"),
    )
    text = text_of(render_pdf(doc))
    assert "VAT 19% on $1,000.00 $190.00" in text
    assert "Sales tax (US-CA) 7.25% on $1,000.00 $72.50" in text
    assert "VAT total in EUR €174.80" in text
    assert "Exchange rate" in text
    assert "1 USD = 0.912345 USD (European Central Bank, Mar 31, 2025), including a markup of 1.5%" in text
    assert "Total $1,262.50" in text
    assert "Paid / credit applied -$100.00" in text
    assert "Amount due $1,162.50" in text


def test_payment_by_credit_transfer() -> None:
    text = text_of(render_pdf(make_document(lines=2)))
    assert "SEPA credit transfer" in text
    assert f"IBAN {IBAN_PRINTED}" in text
    assert "BIC COBADEFFXXX" in text
    assert f"Payment reference {NUMBER}" in text
    assert "Payable within 14 days without deduction." in text


def test_payment_by_direct_debit_shows_the_mandate() -> None:
    text = text_of(render_pdf(make_document(lines=2, payment="direct_debit", locale="de_DE")))
    assert "SEPA-Lastschrift" in text
    assert "Der Betrag wird per SEPA-Lastschrift eingezogen." in text
    assert "Mandatsreferenz MANDATE-0815" in text
    assert "Gläubiger-ID DE98ZZZ09999999999" in text
    assert "FR76 3000 6000 0112 3456 7890 189" in text


def test_footer_text_and_page_numbers() -> None:
    pages = [page.extract_text() for page in read(render_pdf(make_document(lines=2))).pages]
    assert len(pages) == 1
    assert "Register court Berlin HRB 12345 B" in pages[0]
    assert "Page 1 of 1" in pages[0]


# --- pagination ------------------------------------------------------------------------------


def test_500_lines_run_over_pages_with_the_table_header_on_each() -> None:
    doc = make_document(lines=500)
    reader = read(render_pdf(doc))
    pages = [page.extract_text() for page in reader.pages]

    assert len(pages) >= 10
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
    header = re.compile(r"Description\s+Period\s+Qty\s+Unit price\s+Amount\s+VAT")
    # The table header on every page that holds table rows; the totals come after the last row.
    pages_with_rows = [page for page in pages if "Item " in page]
    assert len(pages_with_rows) >= len(pages) - 1
    for page in pages_with_rows:
        assert header.search(page), page[:300]
    # Every line printed exactly once, none lost or doubled at a page break.
    everything = "\n".join(pages)
    for index in range(500):
        assert everything.count(line_name(index)) == 1, line_name(index)
    assert plain(format_currency(doc.totals.payable, "EUR", locale="en")) in pages[-1].replace("\xa0", " ")


# --- fonts, determinism ------------------------------------------------------------------------


def _fonts(reader: PdfReader) -> list[DictionaryObject]:
    fonts: list[DictionaryObject] = []
    for page in reader.pages:
        resources = resolve(page["/Resources"])
        for font in resolve(resources["/Font"]).values():
            fonts.append(resolve(font))
    return fonts


@pytest.mark.parametrize("embedded_xml", [None, CII])
def test_every_font_is_embedded(embedded_xml: bytes | None) -> None:
    reader = read(render_pdf(make_document(lines=30), embedded_xml=embedded_xml))
    fonts = _fonts(reader)
    assert {str(font["/BaseFont"]) for font in fonts} == {
        "/MPDFAA+SourceSansPro",
        "/MPDFAA+SourceSansProSemibold",
    }
    for font in fonts:
        assert str(font["/Subtype"]) == "/Type0"
        descendant = resolve(resolve(font["/DescendantFonts"])[0])
        descriptor = resolve(descendant["/FontDescriptor"])
        program = resolve(descriptor["/FontFile2"])
        assert len(program.get_data()) > 1000
        assert "/ToUnicode" in font


@pytest.mark.parametrize("embedded_xml", [None, CII])
def test_rendering_again_gives_identical_bytes(embedded_xml: bytes | None) -> None:
    doc = make_document(lines=25, logo_png=logo_png(), reverse_charge=True, fx=True)
    first = render_pdf(doc, embedded_xml=embedded_xml)
    assert render_pdf(doc, embedded_xml=embedded_xml) == first
    assert render_pdf(
        make_document(lines=25, logo_png=logo_png(), reverse_charge=True, fx=True)
    ) == render_pdf(doc)


def test_dates_come_from_the_document_not_the_clock() -> None:
    reader = read(render_pdf(make_document(lines=2)))
    assert reader.metadata is not None
    assert reader.metadata.creation_date == datetime(2025, 4, 1, tzinfo=UTC)
    assert reader.metadata.title == f"Invoice {NUMBER}"


# --- PDF/A-3b with the CII XML ---------------------------------------------------------------


def test_pdfa3_embeds_the_xml_as_factur_x() -> None:
    pdf = render_pdf(make_document(lines=5), embedded_xml=CII)
    reader = read(pdf)

    assert pdf.startswith(b"%PDF-1.7")
    assert reader.attachments == {"factur-x.xml": [CII]}
    catalog = resolve(reader.trailer["/Root"])
    associated = [resolve(spec) for spec in resolve(catalog["/AF"])]
    assert len(associated) == 1
    spec = associated[0]
    assert spec["/F"] == "factur-x.xml"
    assert spec["/UF"] == "factur-x.xml"
    assert spec["/AFRelationship"] == "/Alternative"
    stream = resolve(resolve(spec["/EF"])["/F"])
    assert stream["/Subtype"] == "/text/xml"
    assert stream.get_data() == CII
    assert "/ModDate" in resolve(stream["/Params"])
    # PDF/A wants the trailer /ID, and no Info dictionary that could contradict the XMP.
    assert "/ID" in reader.trailer
    assert "/Info" not in reader.trailer


def test_pdfa3_xmp_declares_pdfa_3b_and_factur_x() -> None:
    reader = read(render_pdf(make_document(lines=5), embedded_xml=CII))
    catalog = resolve(reader.trailer["/Root"])
    xmp = resolve(catalog["/Metadata"]).get_data().decode("utf-8")

    assert "<pdfaid:part>3</pdfaid:part>" in xmp
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert 'xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"' in xmp
    assert "<fx:DocumentType>INVOICE</fx:DocumentType>" in xmp
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert "<fx:Version>1.0</fx:Version>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    # The extension schema that PDF/A requires for the fx: properties.
    assert "<pdfaSchema:namespaceURI>urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp
    for name in ("DocumentFileName", "DocumentType", "Version", "ConformanceLevel"):
        assert f"<pdfaProperty:name>{name}</pdfaProperty:name>" in xmp
    assert "<xmp:CreateDate>2025-04-01T00:00:00+00:00</xmp:CreateDate>" in xmp
    assert f"Invoice {NUMBER}" in xmp


def test_pdfa3_has_an_srgb_output_intent() -> None:
    reader = read(render_pdf(make_document(lines=5), embedded_xml=CII))
    catalog = resolve(reader.trailer["/Root"])
    intents = [resolve(intent) for intent in resolve(catalog["/OutputIntents"])]

    assert len(intents) == 1
    intent = intents[0]
    assert intent["/S"] == "/GTS_PDFA1"
    profile = resolve(intent["/DestOutputProfile"])
    assert profile["/N"] == 3
    icc = profile.get_data()
    assert icc[36:40] == b"acsp"  # the ICC profile signature
    assert icc[12:20] == b"mntrRGB "  # a display profile in RGB


def test_plain_pdf_has_no_attachment_or_pdfa_claim() -> None:
    reader = read(render_pdf(make_document(lines=5)))
    catalog = resolve(reader.trailer["/Root"])
    assert reader.attachments == {}
    assert "/AF" not in catalog
    assert "/OutputIntents" not in catalog


# --- logo, wrapping --------------------------------------------------------------------------


def _images(reader: PdfReader) -> list[Any]:
    resources = resolve(reader.pages[0]["/Resources"])
    xobjects = resolve(resources.get("/XObject", DictionaryObject()))
    return [resolve(x) for x in xobjects.values() if resolve(x)["/Subtype"] == "/Image"]


@pytest.mark.parametrize("embedded_xml", [None, CII])
def test_logo_is_drawn_flattened_when_given(embedded_xml: bytes | None) -> None:
    with_logo = _images(
        read(render_pdf(make_document(lines=2, logo_png=logo_png()), embedded_xml=embedded_xml))
    )
    assert len(with_logo) == 1
    image = with_logo[0]
    assert (int(image["/Width"]), int(image["/Height"])) == (240, 80)
    assert str(image["/ColorSpace"]) == "/DeviceRGB"
    assert "/SMask" not in image  # transparency flattened onto white
    assert _images(read(render_pdf(make_document(lines=2)))) == []


def test_unreadable_logo_is_left_out() -> None:
    assert _images(read(render_pdf(make_document(lines=2, logo_png=b"not a png")))) == []


@lru_cache(maxsize=2)
def _advances(bold: bool) -> tuple[dict[int, str], dict[str, tuple[int, int]], int]:
    name = "SourceSansPro-Semibold.ttf" if bold else "SourceSansPro-Regular.ttf"
    font = ttLib.TTFont(io.BytesIO((files("font_source_sans_pro") / "files" / name).read_bytes()))
    return font.getBestCmap(), dict(font["hmtx"].metrics), font["head"].unitsPerEm


def _text_runs(reader: PdfReader) -> list[tuple[str, float, float]]:
    """(text, left x, right x) in points of every text run on every page."""
    runs: list[tuple[str, float, float]] = []
    for page in reader.pages:

        def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
            # pypdf may prefix a space it infers between runs; the renderer draws none.
            text = text.strip()
            if not text or font is None:
                return
            cmap, metrics, upem = _advances("Semibold" in str(font["/BaseFont"]))
            width = sum(metrics[cmap[ord(char)]][0] for char in text if ord(char) in cmap) * size / upem
            x = tm[4] * cm[0] + cm[4]
            runs.append((text, x, x + width * tm[0] * cm[0]))

        page.extract_text(visitor_text=visit)
    return runs


def test_long_description_wraps_inside_the_right_margin() -> None:
    words = " ".join(f"word{index:03d}" for index in range(250))
    unbroken = "https://example.com/" + "x" * 200  # no space to break at
    doc = make_document(lines=3, first_line_name=f"{words} {unbroken}")
    reader = read(render_pdf(doc))

    runs = _text_runs(reader)
    right_edge = (PAGE_W - MARGIN) / PT
    assert runs
    overflowing = [(text, right) for text, _, right in runs if right > right_edge + 0.5]
    assert overflowing == []
    # The first line's name is printed on many lines of the description column, all of it.
    pieces = [text for text, _, _ in runs if text.startswith(("word", "https", "xxx"))]
    assert len(pieces) > 20
    joined = " ".join(pieces)
    assert "word000" in joined
    assert "word249" in joined
    assert joined.replace(" ", "").count("x") >= 200
    description_right = (MARGIN + 72) / PT
    assert all(right <= description_right for text, _, right in runs if text in pieces)


def test_row_taller_than_a_page_is_split_across_pages() -> None:
    names = [f"w{index}" for index in range(3000)]
    reader = read(render_pdf(make_document(lines=2, first_line_name=" ".join(names))))
    pages = [page.extract_text() for page in reader.pages]

    assert len(pages) >= 3
    assert "w0 w1 w2" in pages[0]  # starts under the table header on the first page
    printed = set(" ".join(pages).split())
    assert [name for name in names if name not in printed] == []


def test_overlong_footer_is_cut_to_a_few_lines() -> None:
    reader = read(render_pdf(make_document(lines=30, footer_text="A very long footer. " * 400)))
    assert len(reader.pages) <= 2
    footer_lines = [line for line in reader.pages[0].extract_text().splitlines() if "footer" in line]
    assert len(footer_lines) == 4
    assert footer_lines[-1].endswith("\u2026")


# --- helpers ---------------------------------------------------------------------------------


def test_word_tables_have_the_same_words() -> None:
    for language, table in WORDS.items():
        assert table.keys() == WORDS["en"].keys(), language


def test_iban_in_groups_of_four() -> None:
    assert format_iban("DE89370400440532013000") == "DE89 3704 0044 0532 0130 00"
    assert format_iban("de89 3704 0044 0532 0130 00") == "DE89 3704 0044 0532 0130 00"


def test_wrap_keeps_no_break_spaces_and_cuts_long_words() -> None:
    def measure(text: str) -> float:
        return float(len(text))

    assert wrap("total 1.234,56\xa0€ due", 12, measure) == ["total", "1.234,56\xa0€", "due"]
    assert wrap("abcdefghij", 4, measure) == ["abcd", "efgh", "ij"]
    assert wrap("one\ntwo three", 20, measure) == ["one", "two three"]


def test_colours_fall_back_when_malformed() -> None:
    assert parse_color("#2563EB", (0, 0, 0)) == (37, 99, 235)
    assert parse_color("abc", (0, 0, 0)) == (170, 187, 204)
    assert parse_color("blue", (1, 2, 3)) == (1, 2, 3)
