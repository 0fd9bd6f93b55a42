"""Document numbers from a tenant's format: ``INV-{YYYY}-{SEQ:06}`` gives INV-2026-000042.

Tokens: ``{YYYY}`` ``{YY}`` ``{MM}`` ``{DD}`` (the date of issue in the tenant's time zone) and
exactly one ``{SEQ}`` or ``{SEQ:0N}`` (the sequence, zero-padded to N digits). The sequence is
one per tenant and mode and never restarts, so a number is unique whatever the format says
about the year (docs/invoicing.md).
"""

from __future__ import annotations

import re
from datetime import date

DEFAULT_INVOICE_FORMAT = "INV-{YYYY}-{SEQ:06}"
DEFAULT_CREDIT_NOTE_FORMAT = "CN-{YYYY}-{SEQ:06}"
MAX_FORMAT_LENGTH = 40
_TOKEN = re.compile(r"\{([A-Z]+)(?::0(\d{1,2}))?\}")
_LITERAL = re.compile(r"^[A-Za-z0-9/_.\-#]*$")
_DATE_TOKENS = {"YYYY", "YY", "MM", "DD"}


def format_problem(fmt: str) -> str | None:
    """Why a format is unusable, or None."""
    if not fmt or len(fmt) > MAX_FORMAT_LENGTH:
        return f"a number format has 1 to {MAX_FORMAT_LENGTH} characters"
    tokens = _TOKEN.findall(fmt)
    unknown = sorted({name for name, _ in tokens if name not in _DATE_TOKENS | {"SEQ"}})
    if unknown:
        return (
            f"unknown token {{{unknown[0]}}}; use {{YYYY}}, {{YY}}, {{MM}}, {{DD}} and {{SEQ}} or {{SEQ:06}}"
        )
    if sum(1 for name, _ in tokens if name == "SEQ") != 1:
        return "a number format needs exactly one {SEQ} (or {SEQ:06} for zero-padding)"
    for name, width in tokens:
        if name != "SEQ" and width:
            return f"only {{SEQ}} takes a width, not {{{name}}}"
        if name == "SEQ" and width and not 1 <= int(width) <= 12:
            return "the {SEQ} width is 1 to 12 digits"
    if not _LITERAL.fullmatch(_TOKEN.sub("", fmt)):
        return "besides its tokens a number format may hold letters, digits and - / _ . #"
    return None


def format_number(fmt: str, sequence: int, issued: date) -> str:
    def token(match: re.Match[str]) -> str:
        name, width = match.group(1), match.group(2)
        if name == "SEQ":
            return str(sequence).zfill(int(width)) if width else str(sequence)
        return {
            "YYYY": f"{issued.year:04d}",
            "YY": f"{issued.year % 100:02d}",
            "MM": f"{issued.month:02d}",
            "DD": f"{issued.day:02d}",
        }[name]

    return _TOKEN.sub(token, fmt)
