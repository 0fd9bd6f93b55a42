"""Invoice documents: milliseconds per PDF (plain and PDF/A-3b with its CII) and per e-invoice.

``render_pdf`` (shared/billow/adapters/documents/pdf.py) on documents built in code
(tests/support/pdf_documents.py): a 20-line invoice, the common case, and a 500-line one
(about two dozen pages); each also as PDF/A-3b with a dummy CII XML attached (ZUGFeRD /
Factur-X). The figure is the median of N warm renders, in one process and on one core: the
fonts are parsed once per process, on the first render, which is reported apart as
``first_render_ms`` (the cold cost a fresh Lambda container pays once). Target: a 20-line
invoice in <= 50 ms warm.

E-invoices: XRechnung UBL and CII (adapters/documents/ubl.py, cii.py) of a 20-line and a
500-line invoice built by tests/support/document_cases.py, median of N generations (no
target in the issue; reported to watch).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from billow.adapters.documents.cii import render_cii
from billow.adapters.documents.pdf import render_pdf
from billow.adapters.documents.ubl import render_ubl
from billow.domain.billing_document import BillingDocument
from tests.performance.registry import Target, figure, main
from tests.support.document_cases import lines as einvoice_document
from tests.support.pdf_documents import logo_png, make_document

_PAGE = re.compile(rb"/Type /Page(?!s)")
SMALL_RENDERS = 40
LARGE_RENDERS = 5
WARMUP_RENDERS = 3

# Stands in for the CII renderer's output: the PDF renderer treats the XML as opaque bytes.
DUMMY_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">\n'
    + b"  <rsm:SupplyChainTradeTransaction><!-- benchmark filler --></rsm:SupplyChainTradeTransaction>\n" * 60
    + b"</rsm:CrossIndustryInvoice>\n"
)


def _timings(render: Callable[[], bytes], count: int) -> tuple[list[float], list[float], bytes]:
    """Wall-clock and CPU milliseconds of each render (CPU time is what a busy machine does
    not inflate), and the last PDF."""
    wall: list[float] = []
    cpu: list[float] = []
    pdf = b""
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        pdf = render()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu, pdf


def _measure(doc: BillingDocument, xml: bytes | None, count: int, target: Target | None) -> dict[str, Any]:
    def render() -> bytes:
        return render_pdf(doc, embedded_xml=xml)

    _timings(render, WARMUP_RENDERS)
    times, cpu, pdf = _timings(render, count)
    return figure(
        statistics.median(times),
        "ms",
        target,
        min_ms=round(min(times), 2),
        max_ms=round(max(times), 2),
        cpu_median_ms=round(statistics.median(cpu), 2),
        renders=count,
        lines=len(doc.lines),
        pages=len(_PAGE.findall(pdf)),
        bytes=len(pdf),
    )


def _measure_xml(
    render: Callable[[BillingDocument], bytes], doc: BillingDocument, count: int
) -> dict[str, Any]:
    for _ in range(WARMUP_RENDERS):
        render(doc)
    times, cpu, xml = _timings(lambda: render(doc), count)
    return figure(
        statistics.median(times),
        "ms",
        None,
        min_ms=round(min(times), 2),
        max_ms=round(max(times), 2),
        cpu_median_ms=round(statistics.median(cpu), 2),
        generations=count,
        lines=len(doc.lines),
        bytes=len(xml),
    )


def run() -> dict[str, Any]:
    result: dict[str, Any] = {"description": __doc__.strip().splitlines()[0] if __doc__ else ""}
    small = make_document(lines=20, locale="de_DE", logo_png=logo_png())
    large = make_document(lines=500, locale="de_DE", logo_png=logo_png())

    started = time.perf_counter()
    render_pdf(small)  # parses the fonts
    result["first_render_ms"] = figure(
        (time.perf_counter() - started) * 1000, "ms", note="first render in a process: fonts loaded"
    )
    result["pdf_20_lines"] = _measure(small, None, SMALL_RENDERS, Target("<=", 50))
    result["pdfa3_20_lines"] = _measure(small, DUMMY_XML, SMALL_RENDERS, None)
    result["pdf_500_lines"] = _measure(large, None, LARGE_RENDERS, None)
    result["pdfa3_500_lines"] = _measure(large, DUMMY_XML, LARGE_RENDERS, None)
    small_xml, large_xml = einvoice_document(20), einvoice_document(500)
    result["ubl_20_lines"] = _measure_xml(render_ubl, small_xml, SMALL_RENDERS)
    result["cii_20_lines"] = _measure_xml(render_cii, small_xml, SMALL_RENDERS)
    result["ubl_500_lines"] = _measure_xml(render_ubl, large_xml, LARGE_RENDERS * 2)
    result["cii_500_lines"] = _measure_xml(render_cii, large_xml, LARGE_RENDERS * 2)
    result["pdfa3_20_lines_with_real_cii"] = _measure(small, render_cii(small_xml), SMALL_RENDERS, None)
    return result


if __name__ == "__main__":
    main(run)
