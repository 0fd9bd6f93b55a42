"""Invoices and credit notes as PDF, drawn with fpdf2 from a BillingDocument.

``render_pdf(doc)`` gives an ordinary PDF; ``render_pdf(doc, embedded_xml=cii)`` a PDF/A-3b
hybrid e-invoice (ZUGFeRD / Factur-X) with the XML attached (pdfa.py). The renderer only lays
out what the document says: amounts arrive rounded and are printed as they are.

Output is deterministic: the creation date is the issue date, the file id is derived from the
document, and nothing reads a clock, so the same document always gives the same bytes.

Speed: parsing a TrueType font is the slow part of a PDF, so the fonts are read and measured
once per process and each document gets a cheap copy that fpdf2 may subset and close.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from functools import lru_cache
from importlib.resources import as_file, files
from typing import Literal

from fontTools import ttLib
from fpdf import FPDF, FPDF_VERSION
from fpdf.fonts import SubsetMap, TTFFont
from PIL import Image

from billow.adapters.documents.pdf_layout import (
    EN_DASH,
    RGB,
    Formatter,
    address_lines,
    format_iban,
    is_dark,
    parse_color,
    parse_locale,
    printable,
    words_for,
    wrap,
)
from billow.adapters.documents.pdfa import COMPLIANCE, make_pdfa3
from billow.domain.billing_document import BillingDocument, DocumentLine, Party

CREATOR = "Billow"
PRODUCER = f"fpdf2 {FPDF_VERSION}"

# --- fonts -------------------------------------------------------------------------------

FONT_FAMILY = "billowsans"
_FONT_PACKAGE = "font_source_sans_pro"
_FONT_FILES = {"": "SourceSansPro-Regular.ttf", "B": "SourceSansPro-Semibold.ttf"}
# OpenType layout tables: fpdf2 drops them from the embedded subset anyway (no text shaping
# here), but fontTools would still parse them on every subsetting; removing them once saves
# about a third of a render.
_UNUSED_TABLES = ("GDEF", "GPOS", "GSUB", "BASE", "DSIG", "kern")


@dataclass(frozen=True)
class _Font:
    data: bytes  # the font file without _UNUSED_TABLES
    template: TTFFont  # metrics measured once; copied per document
    widths: dict[int, float]  # advance width per code point, in 1/1000 em
    missing_width: float


@lru_cache(maxsize=1)
def _fonts() -> tuple[_Font, ...]:
    owner = FPDF()  # TTFFont reads a setting or two from an FPDF; this one is thrown away
    loaded: list[_Font] = []
    for style, filename in _FONT_FILES.items():
        resource = files(_FONT_PACKAGE) / "files" / filename
        with as_file(resource) as path:
            template = TTFFont(owner, path, f"{FONT_FAMILY}{style}", style)
            font = ttLib.TTFont(path, recalcTimestamp=False)
        template.ttfont.close()  # each document gets its own copy (_install_fonts)
        for tag in _UNUSED_TABLES:
            if tag in font:
                del font[tag]
        buffer = io.BytesIO()
        font.save(buffer)
        widths = dict(template.cw)
        missing = float(template.desc.missing_width)
        loaded.append(_Font(data=buffer.getvalue(), template=template, widths=widths, missing_width=missing))
    return tuple(loaded)


def _install_fonts(pdf: FPDF) -> None:
    """Register the cached fonts with ``pdf`` as ``add_font`` would, without parsing them again.

    Metrics (widths, cmap, glyph ids) are shared read-only; what fpdf2 changes while writing
    a document (the glyph subset, the font program it subsets in place and closes, the font
    descriptor it numbers) is fresh for each document.
    """
    for cached in _fonts():
        font = copy.copy(cached.template)
        font.i = len(pdf.fonts) + 1
        # No bounding-box recalculation: it would decompile and re-encode every glyph kept in
        # the subset; the full font's boxes still bound the subset's.
        font.ttfont = ttLib.TTFont(
            io.BytesIO(cached.data), recalcTimestamp=False, recalcBBoxes=False, lazy=True
        )
        font.desc = copy.copy(cached.template.desc)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.subset = SubsetMap(font)
        pdf.fonts[font.fontkey] = font


# --- geometry (millimetres) and type (points) ----------------------------------------------

PT = 25.4 / 72  # one point in millimetres
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN = 16.0
TOP = 14.0
CONTENT_W = PAGE_W - 2 * MARGIN
RIGHT = PAGE_W - MARGIN
LOGO_MAX_W, LOGO_MAX_H = 60.0, 18.0
PAD = 1.5  # horizontal padding inside table cells
MAX_FOOTER_LINES = 4

BODY, SMALL, TINY, TITLE = 8.5, 7.5, 7.0, 20.0

TEXT: RGB = (17, 24, 39)
MUTED: RGB = (107, 114, 128)
RULE: RGB = (209, 213, 219)
WHITE: RGB = (255, 255, 255)
DEFAULT_PRIMARY: RGB = (31, 41, 55)
DEFAULT_ACCENT: RGB = (37, 99, 235)

# Line table: (key in the word table, width, alignment), in the order printed.
_COLUMNS: tuple[tuple[str, float, Literal["L", "R"]], ...] = (
    ("description", 72.0, "L"),
    ("period", 28.0, "L"),
    ("quantity", 16.0, "R"),
    ("unit_price", 22.0, "R"),
    ("amount", 26.0, "R"),
    ("vat", 14.0, "R"),
)
assert abs(sum(width for _, width, _ in _COLUMNS) - CONTENT_W) < 1e-9


def _column_positions() -> dict[str, tuple[float, float]]:
    positions: dict[str, tuple[float, float]] = {}
    x = MARGIN
    for key, width, _ in _COLUMNS:
        positions[key] = (x, width)
        x += width
    return positions


_COLUMN_X = _column_positions()  # key -> (left edge, width)


def line_height(size: float) -> float:
    return size * PT * 1.35


# --- drawing model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Text:
    x: float
    width: float
    text: str
    size: float = BODY
    bold: bool = False
    color: RGB = TEXT
    align: Literal["L", "R"] = "L"


@dataclass(frozen=True)
class _Row:
    """One printed line: texts side by side (table columns, label and amount)."""

    height: float
    texts: tuple[_Text, ...] = ()
    rule: RGB | None = None  # a rule across the row's width at its top
    rule_x: float = MARGIN
    rule_w: float = CONTENT_W
    fill: RGB | None = None


@dataclass
class _Group:
    """Rows kept on one page when they fit on one (a table row, the totals, a block)."""

    rows: list[_Row] = field(default_factory=list)
    pad_top: float = 0.0
    pad_bottom: float = 0.0
    rule_below: RGB | None = None

    @property
    def height(self) -> float:
        return self.pad_top + sum(row.height for row in self.rows) + self.pad_bottom


# --- the document --------------------------------------------------------------------------


class _DocumentPDF(FPDF):
    def __init__(self, doc: BillingDocument, *, pdfa: bool) -> None:
        super().__init__(unit="mm", format="A4", enforce_compliance=COMPLIANCE if pdfa else None)
        self.doc = doc
        locale = parse_locale(doc.locale)
        self.fmt = Formatter(locale)
        self.words = words_for(locale)
        branding = doc.branding
        self.primary = parse_color(branding.primary_color, DEFAULT_PRIMARY)
        self.accent = parse_color(branding.accent_color, DEFAULT_ACCENT)
        self.on_primary = WHITE if is_dark(self.primary) else TEXT
        self.title_text = self.words["credit_note" if doc.kind == "credit_note" else "invoice"]
        self._id = _file_id(doc, pdfa)

        _install_fonts(self)
        regular, bold = _fonts()
        self._metrics = {False: regular, True: bold}
        self.set_auto_page_break(False)  # pages break where the layout says, never mid-row
        self.set_margins(MARGIN, TOP, MARGIN)
        self.set_creation_date(datetime.combine(doc.issue_date, time(0), tzinfo=UTC))
        self.set_title(f"{self.title_text} {doc.number}")
        self.set_author(doc.seller.name)
        self.set_subject(self.subject_text)
        self.set_creator(CREATOR)
        self.set_producer(PRODUCER)
        self.set_lang(str(locale).replace("_", "-"))

        self.footer_lines = self._wrapped(branding.footer_text or "", CONTENT_W - 40, TINY)
        if len(self.footer_lines) > MAX_FOOTER_LINES:
            # A footer that would eat the page is cut, not allowed to push content off it.
            kept = self.footer_lines[:MAX_FOOTER_LINES]
            self.footer_lines = [*kept[:-1], kept[-1] + " \u2026"]
        footer_h = max(1, len(self.footer_lines)) * line_height(TINY)
        self.footer_top = PAGE_H - 10.0 - footer_h
        self.bottom = self.footer_top - 4.0
        self.table_open = False
        self.page_top = TOP

    @property
    def subject_text(self) -> str:
        return f"{self.title_text} {self.doc.number}: {self.doc.seller.name} / {self.doc.buyer.name}"

    # fpdf2 hooks

    def file_id(self) -> str:
        return self._id

    def header(self) -> None:
        y = TOP
        if self.page_no() > 1:
            self._draw_row(
                _Row(
                    height=line_height(SMALL),
                    texts=(
                        _Text(MARGIN, CONTENT_W / 2, self.doc.seller.name, SMALL, color=MUTED),
                        _Text(
                            MARGIN + CONTENT_W / 2,
                            CONTENT_W / 2,
                            f"{self.title_text} {self.doc.number}",
                            SMALL,
                            bold=True,
                            color=MUTED,
                            align="R",
                        ),
                    ),
                ),
                y,
            )
            y += line_height(SMALL) + 1.0
            self._rule(y, RULE)
            y += 3.0
            if self.table_open:
                y = self._draw_row(self._table_header(), y)
        self.y = y
        self.page_top = y

    def footer(self) -> None:
        self._rule(self.footer_top, RULE)
        y = self.footer_top + 1.5
        height = line_height(TINY)
        for index, text in enumerate(self.footer_lines):
            self._put(_Text(MARGIN, CONTENT_W - 40, text, TINY, color=MUTED), y + index * height, height)
        # The total page count is known only at the end: fpdf2 substitutes its {nb} alias.
        self.set_font(FONT_FAMILY, "", TINY)
        self.set_text_color(*MUTED)
        # cell() pads its text by c_margin: shift the cell so the text ends at the margin.
        self.set_xy(RIGHT - 40 + self.c_margin, y)
        label = printable(self.words["page"].format(page=self.page_no(), pages=self.str_alias_nb_pages))
        self.cell(w=40, h=height, text=label, align="R")

    # primitives

    def text_width(self, text: str, size: float, bold: bool = False) -> float:
        """Width of ``text`` in mm, as fpdf2 measures it without text shaping (the sum of the
        advance widths) but without its per-call overhead, which dominated the layout."""
        font = self._metrics[bold]
        widths, missing = font.widths, font.missing_width
        return sum(widths.get(ord(char), missing) for char in text) * size * PT / 1000

    def _wrapped(self, text: str, width: float, size: float, bold: bool = False) -> list[str]:
        if not text:
            return []
        return wrap(text, width, lambda piece: self.text_width(piece, size, bold))

    def _put(self, item: _Text, top: float, height: float) -> None:
        text = printable(item.text)
        if not text:
            return
        size = item.size
        text_w = self.text_width(text, size, item.bold)
        if text_w > item.width:
            # A single-line value (an amount) wider than its column: smaller, never past it.
            size = size * item.width / text_w * 0.999
            text_w = self.text_width(text, size, item.bold)
        self.set_font(FONT_FAMILY, "B" if item.bold else "", size)
        self.set_text_color(*item.color)
        x = item.x + item.width - text_w if item.align == "R" else item.x
        # Baseline so that capitals sit centred in the line box.
        self.text(x, top + height / 2 + 0.34 * size * PT, text)

    def _rule(
        self, y: float, color: RGB, x: float = MARGIN, width: float = CONTENT_W, weight: float = 0.2
    ) -> None:
        self.set_draw_color(*color)
        self.set_line_width(weight)
        self.line(x, y, x + width, y)

    def _draw_row(self, row: _Row, top: float) -> float:
        if row.fill is not None:
            self.set_fill_color(*row.fill)
            self.rect(row.rule_x, top, row.rule_w, row.height, style="F")
        if row.rule is not None:
            self._rule(top, row.rule, row.rule_x, row.rule_w)
        for item in row.texts:
            self._put(item, top, row.height)
        return top + row.height

    def flow(self, group: _Group) -> None:
        """Draw ``group`` at the cursor: on the next page if it does not fit here but would
        fit on a fresh one, else row by row, breaking pages between rows."""
        fresh_capacity = self.bottom - self._fresh_page_top()
        if self.y + group.height > self.bottom and group.height <= fresh_capacity and self.y > self.page_top:
            self.add_page()
        y = self.y + group.pad_top
        for row in group.rows:
            # Never break at the top of a page: a row that cannot fit anywhere is drawn anyway
            # rather than adding pages forever.
            if y + row.height > self.bottom and y > self.page_top:
                self.add_page()
                y = self.y
            y = self._draw_row(row, y)
        y += group.pad_bottom
        if group.rule_below is not None:
            self._rule(y, group.rule_below, weight=0.1)
        self.y = y

    def _fresh_page_top(self) -> float:
        top = TOP + line_height(SMALL) + 4.0
        return top + (self._table_header().height if self.table_open else 0.0)

    # sections

    def draw(self, logo: Image.Image | None) -> None:
        self.add_page()
        self._draw_head(logo)
        self._draw_parties()
        self._draw_lines()
        self._draw_totals()
        self._draw_fx()
        self._draw_notes()
        self._draw_payment()

    def _draw_head(self, logo: Image.Image | None) -> None:
        bottom = TOP
        if logo is not None:
            scale = min(LOGO_MAX_W / logo.width, LOGO_MAX_H / logo.height)
            width, height = logo.width * scale, logo.height * scale
            self.image(logo, x=MARGIN, y=TOP, w=width, h=height)
            bottom = TOP + height
        title_h = line_height(TITLE)
        self._put(_Text(MARGIN, CONTENT_W, self.title_text, TITLE, True, self.primary, "R"), TOP, title_h)
        number_h = line_height(10)
        self._put(_Text(MARGIN, CONTENT_W, self.doc.number, 10, True, TEXT, "R"), TOP + title_h, number_h)
        bottom = max(bottom, TOP + title_h + number_h) + 3.0
        self._rule(bottom, self.accent, weight=0.6)
        self.y = bottom + 5.0

    def _party_lines(self, party: Party) -> list[tuple[str, float, bool, RGB]]:
        lines: list[tuple[str, float, bool, RGB]] = [(party.name, 9.5, True, TEXT)]
        if party.trading_name and party.trading_name != party.name:
            lines.append((party.trading_name, BODY, False, TEXT))
        lines += [(line, BODY, False, TEXT) for line in address_lines(party.address, self.fmt)]
        facts = [
            f"{self.words['vat_id']}: {party.vat_id}" if party.vat_id else None,
            f"{self.words['tax_number']}: {party.tax_number}" if party.tax_number else None,
            party.legal_registration,
            party.contact.name,
            party.contact.email or party.electronic_address,
            party.contact.phone,
        ]
        lines += [(fact, SMALL, False, MUTED) for fact in facts if fact]
        return lines

    def _detail_pairs(self) -> list[tuple[str, str]]:
        doc, words, fmt = self.doc, self.words, self.fmt
        pairs = [(words["number"], doc.number), (words["issue_date"], fmt.date(doc.issue_date))]
        if doc.due_date:
            pairs.append((words["due_date"], fmt.date(doc.due_date)))
        period = fmt.period(doc.period_start, doc.period_end)
        if period:
            pairs.append((words["service_period"], period))
        if doc.tax_point_date:
            pairs.append((words["tax_point_date"], fmt.date(doc.tax_point_date)))
        if doc.buyer_reference:
            pairs.append((words["buyer_reference"], doc.buyer_reference))
        if doc.order_reference:
            pairs.append((words["order_reference"], doc.order_reference))
        if doc.preceding_invoice_number:
            preceding = doc.preceding_invoice_number
            if doc.preceding_invoice_date:
                preceding += f" ({fmt.date(doc.preceding_invoice_date)})"
            pairs.append((words["preceding_invoice"], preceding))
        return pairs

    def _draw_parties(self) -> None:
        top = self.y
        column_w, gap = 54.0, 4.0
        bottoms = []
        for index, (label, party) in enumerate(
            ((self.words["from"], self.doc.seller), (self.words["bill_to"], self.doc.buyer))
        ):
            x = MARGIN + index * (column_w + gap)
            y = self._draw_row(
                _Row(line_height(SMALL), (_Text(x, column_w, label, SMALL, True, self.accent),)), top
            )
            for text, size, bold, color in self._party_lines(party):
                for piece in self._wrapped(text, column_w, size, bold):
                    y = self._draw_row(
                        _Row(line_height(size), (_Text(x, column_w, piece, size, bold, color),)), y
                    )
            bottoms.append(y)
        # Document facts: label and value side by side in the right column.
        x = MARGIN + 2 * (column_w + gap)
        label_w = 27.0
        value_w = RIGHT - x - label_w
        y = top + line_height(SMALL)
        for label, value in self._detail_pairs():
            labels = self._wrapped(label, label_w - 1.0, SMALL)
            values = self._wrapped(value, value_w, BODY)
            for i in range(max(len(labels), len(values))):
                texts = []
                if i < len(labels):
                    texts.append(_Text(x, label_w - 1.0, labels[i], SMALL, color=MUTED))
                if i < len(values):
                    texts.append(_Text(x + label_w, value_w, values[i], BODY, align="R"))
                y = self._draw_row(_Row(line_height(BODY), tuple(texts)), y)
        bottoms.append(y)
        self.y = max(bottoms) + 7.0

    def _table_header(self) -> _Row:
        texts = tuple(
            _Text(
                _COLUMN_X[key][0] + PAD, width - 2 * PAD, self.words[key], SMALL, True, self.on_primary, align
            )
            for key, width, align in _COLUMNS
        )
        return _Row(height=7.0, texts=texts, fill=self.primary)

    def _line_group(self, line: DocumentLine) -> _Group:
        fmt, currency = self.fmt, self.doc.currency
        desc_x, desc_w = _COLUMN_X["description"]
        cells: list[list[_Text]] = []  # per printed line
        for text in self._wrapped(line.name, desc_w - 2 * PAD, BODY):
            cells.append([_Text(desc_x + PAD, desc_w - 2 * PAD, text, BODY)])
        if line.description:
            for text in self._wrapped(line.description, desc_w - 2 * PAD, SMALL):
                cells.append([_Text(desc_x + PAD, desc_w - 2 * PAD, text, SMALL, color=MUTED)])
        if line.period_start or line.period_end:
            period_x, period_w = _COLUMN_X["period"]
            if line.period_start and line.period_end and line.period_start != line.period_end:
                pieces = [f"{fmt.date(line.period_start)} {EN_DASH}", fmt.date(line.period_end)]
            else:
                pieces = [fmt.period(line.period_start, line.period_end) or ""]
            wrapped = [part for piece in pieces for part in self._wrapped(piece, period_w - 2 * PAD, SMALL)]
            for index, text in enumerate(wrapped):
                if index == len(cells):
                    cells.append([])
                cells[index].append(_Text(period_x + PAD, period_w - 2 * PAD, text, SMALL, color=MUTED))
        if not cells:
            cells.append([])
        numbers = {
            "quantity": fmt.number(line.quantity),
            "unit_price": fmt.money(line.unit_price, currency),
            "amount": fmt.money(line.net_amount, currency),
            "vat": self._vat_label(line.vat_category, line.vat_rate),
        }
        for key, text in numbers.items():
            x, width = _COLUMN_X[key]
            cells[0].append(_Text(x + PAD, width - 2 * PAD, text, BODY, align="R"))
        rows = [_Row(height=line_height(max(t.size for t in texts)), texts=tuple(texts)) for texts in cells]
        return _Group(rows=rows, pad_top=1.2, pad_bottom=1.2, rule_below=RULE)

    def _vat_label(self, category: str, rate: Decimal) -> str:
        if category == "O":
            return "O"  # outside the scope of VAT: no rate
        percent = self.fmt.percent(rate)
        return percent if category == "S" else f"{percent} {category}"

    def _draw_lines(self) -> None:
        groups = [self._line_group(line) for line in self.doc.lines]
        header = self._table_header()
        self.table_open = True
        # Room for the header and the first row (or the start of a row taller than a page).
        first = 0.0
        if groups:
            first = groups[0].height
            if first > self.bottom - self._fresh_page_top():
                first = groups[0].pad_top + groups[0].rows[0].height
        if self.y + header.height + first > self.bottom:
            self.add_page()  # the header comes with the page
        else:
            self.y = self._draw_row(header, self.y)
        for group in groups:
            self.flow(group)
        self.table_open = False
        self.y += 5.0

    def _totals_group(self) -> _Group:
        doc, fmt, words = self.doc, self.fmt, self.words
        totals, currency = doc.totals, doc.currency
        width = 96.0
        x = RIGHT - width
        value_w = 32.0
        label_w = width - value_w - 2.0
        rows: list[_Row] = []

        def add(label: str, value: str, *, size: float = BODY, bold: bool = False, color: RGB = TEXT) -> None:
            labels = self._wrapped(label, label_w, size, bold)
            for index, text in enumerate(labels):
                texts = [_Text(x, label_w, text, size, bold, color)]
                if index == 0:
                    texts.append(_Text(RIGHT - value_w, value_w, value, size, bold, color, "R"))
                rows.append(_Row(line_height(size), tuple(texts)))

        def note(text: str) -> None:
            for piece in self._wrapped(text, label_w, TINY):
                rows.append(
                    _Row(line_height(TINY), (_Text(x + 2.0, label_w - 2.0, piece, TINY, color=MUTED),))
                )

        add(words["subtotal"], fmt.money(totals.line_total, currency))
        if totals.allowance_total:
            add(words["allowances"], fmt.money(-totals.allowance_total, currency))
        if totals.allowance_total or totals.tax_exclusive != totals.line_total:
            add(words["total_net"], fmt.money(totals.tax_exclusive, currency))
        for group in doc.vat_groups:
            rate = fmt.percent(group.rate)
            if group.category != "S":
                rate = f"{rate} ({group.category})"
            base = fmt.money(group.taxable_amount, currency)
            add(words["vat_on"].format(rate=rate, base=base), fmt.money(group.tax_amount, currency))
            reason = " ".join(
                part for part in (group.exemption_reason, _bracketed(group.exemption_reason_code)) if part
            )
            if reason:
                note(reason)
        if totals.tax_total_in_tax_currency is not None:
            tax_currency = doc.tax_currency or currency
            add(
                words["vat_in_tax_currency"].format(currency=tax_currency),
                fmt.money(totals.tax_total_in_tax_currency, tax_currency),
                size=SMALL,
                color=MUTED,
            )
        for tax in doc.other_taxes:
            name = f"{tax.name} ({words['compound']})" if tax.compound else tax.name
            label = words["tax_on"].format(
                name=name, rate=fmt.percent(tax.rate), base=fmt.money(tax.taxable_amount, currency)
            )
            add(label, fmt.money(tax.tax_amount, currency))
        start = len(rows)
        add(words["total"], fmt.money(totals.tax_inclusive, currency), size=9.5, bold=True)
        rows[start] = _Row(rows[start].height + 1.0, rows[start].texts, rule=RULE, rule_x=x, rule_w=width)
        if totals.prepaid:
            add(words["prepaid"], fmt.money(-totals.prepaid, currency))
        due = words["amount_credited" if doc.kind == "credit_note" else "amount_due"]
        start = len(rows)
        add(due, fmt.money(totals.payable, currency), size=11.0, bold=True, color=self.primary)
        rows[start] = _Row(
            rows[start].height + 2.0, rows[start].texts, rule=self.accent, rule_x=x, rule_w=width
        )
        return _Group(rows=rows, pad_bottom=4.0)

    def _draw_totals(self) -> None:
        self.flow(self._totals_group())

    def _paragraph_group(self, heading: str | None, paragraphs: Sequence[str], size: float = BODY) -> _Group:
        rows: list[_Row] = []
        if heading:
            rows.append(
                _Row(line_height(SMALL) + 0.5, (_Text(MARGIN, CONTENT_W, heading, SMALL, True, self.accent),))
            )
        for paragraph in paragraphs:
            for text in self._wrapped(paragraph, CONTENT_W, size):
                rows.append(_Row(line_height(size), (_Text(MARGIN, CONTENT_W, text, size),)))
        return _Group(rows=rows, pad_bottom=4.0)

    def _draw_fx(self) -> None:
        fx = self.doc.fx
        if fx is None:
            return
        fmt, words = self.fmt, self.words
        text = words["fx_line"].format(
            source_currency=fx.source_currency,
            target_currency=fx.target_currency,
            rate=fmt.number(fx.rate),
            source=words.get(f"fx_source_{fx.source}", fx.source),
            date=fmt.date(fx.rate_date),
        )
        if fx.markup_percent:
            text += ", " + words["fx_markup"].format(percent=fmt.percent(fx.markup_percent))
        self.flow(self._paragraph_group(words["exchange_rate"], [text], SMALL))

    def _draw_notes(self) -> None:
        if self.doc.notes:
            self.flow(self._paragraph_group(self.words["notes"], self.doc.notes))

    def _draw_payment(self) -> None:
        payment = self.doc.payment
        if payment is None:
            return
        words = self.words
        sentences: list[str] = []
        means = payment.means_text or words.get(f"means_{payment.means_code}")
        if means:
            sentences.append(means)
        if payment.means_code == "59":
            sentences.append(words["direct_debit"])
        if payment.card_last4:
            sentences.append(words["card"].format(last4=payment.card_last4))
        pairs = [
            (words["account_holder"], payment.account_name),
            (words["iban"], format_iban(payment.iban) if payment.iban else None),
            (words["bic"], payment.bic),
            (words["payment_reference"], payment.remittance_information),
            (words["mandate_reference"], payment.mandate_reference),
            (words["creditor_id"], payment.creditor_identifier),
            (
                words["debited_account"],
                format_iban(payment.debited_account) if payment.debited_account else None,
            ),
        ]
        group = self._paragraph_group(words["payment"], sentences)
        group.pad_bottom = 0.0
        label_w = 38.0
        for label, value in pairs:
            if not value:
                continue
            for index, text in enumerate(self._wrapped(value, CONTENT_W - label_w, BODY)):
                texts = [_Text(MARGIN, label_w - 1.0, label, BODY, color=MUTED)] if index == 0 else []
                texts.append(_Text(MARGIN + label_w, CONTENT_W - label_w, text, BODY))
                group.rows.append(_Row(line_height(BODY), tuple(texts)))
        if payment.terms:
            for text in self._wrapped(payment.terms, CONTENT_W, BODY):
                group.rows.append(_Row(line_height(BODY), (_Text(MARGIN, CONTENT_W, text, BODY),)))
        group.pad_bottom = 4.0
        self.flow(group)


def _bracketed(text: str | None) -> str | None:
    return f"({text})" if text else None


def _file_id(doc: BillingDocument, pdfa: bool) -> str:
    """The trailer /ID: fixed for a document (not a hash of the bytes of the moment)."""
    seed = "|".join(
        (doc.kind, doc.number, doc.issue_date.isoformat(), doc.seller.name, "pdfa" if pdfa else "pdf")
    )
    digest = hashlib.sha256(seed.encode()).hexdigest()[:32].upper()
    return f"<{digest}><{digest}>"


def _logo_image(png: bytes | None) -> Image.Image | None:
    """The tenant's logo as opaque RGB: transparency is flattened onto the white page, so the
    PDF carries no soft masks, and an embedded ICC profile is dropped (the page is sRGB), so
    nothing in the image can break PDF/A. A logo that cannot be read is left out rather than
    failing the invoice."""
    if not png:
        return None
    try:
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, WHITE)
                flat.paste(rgba, mask=rgba.getchannel("A"))
            else:
                flat = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    flat.info = {}
    return flat


def render_pdf(doc: BillingDocument, *, embedded_xml: bytes | None = None) -> bytes:
    """The document as PDF; with ``embedded_xml`` (a CII e-invoice), as PDF/A-3b with the XML
    attached as factur-x.xml (ZUGFeRD / Factur-X)."""
    pdfa = embedded_xml is not None
    pdf = _DocumentPDF(doc, pdfa=pdfa)
    pdf.draw(_logo_image(doc.branding.logo_png))
    if embedded_xml is not None:
        make_pdfa3(
            pdf,
            xml=embedded_xml,
            created=pdf.creation_date,
            title=f"{pdf.title_text} {doc.number}",
            author=doc.seller.name,
            subject=pdf.subject_text,
            producer=PRODUCER,
            creator=CREATOR,
        )
    return bytes(pdf.output())


__all__ = ["render_pdf"]
