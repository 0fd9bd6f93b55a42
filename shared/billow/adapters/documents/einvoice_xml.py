"""What the e-invoice writers (UBL in ubl.py, CII in cii.py) share: how they write values, and
the XML document around them. Dates are not here: each syntax writes them its own way."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lxml import etree

from billow.domain.money import minor_units

# lxml ships no type hints; its elements are typed as Any here.
Element = Any


def money(value: Decimal, currency: str) -> str:
    """Exactly the currency's minor digits (the amounts are already rounded to them)."""
    quantum = Decimal(1).scaleb(-minor_units(currency))
    rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
    return format(rounded if rounded != 0 else abs(rounded), "f")


def number(value: Decimal) -> str:
    """A quantity, rate or unit price as written, in plain notation (never 1E+2)."""
    return format(value, "f")


def present(text: str | None) -> bool:
    """Whether there is something to write: XRechnung and Peppol forbid empty elements."""
    return text is not None and bool(text.strip())


def document_bytes(root: Element) -> bytes:
    """The document as UTF-8 with an XML declaration."""
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data
