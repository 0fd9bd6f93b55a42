"""Postal addresses as invoices need them (EN 16931 BG-5 / BG-8)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from billow.domain.errors import validation_failed

# CLDR territories with two letters that are not assigned ISO 3166-1 countries: unknown region,
# pseudo-locales, outlying Oceania, the EU, the euro area, the UN, and codes ISO only reserves
# (Ascension, Clipperton, Sark, Diego Garcia, Ceuta and Melilla, Canaries, Tristan da Cunha).
# XK (Kosovo) stays: it is user-assigned but what the EU and banks use.
_NOT_COUNTRIES = frozenset(
    {"ZZ", "XA", "XB", "QO", "EU", "EZ", "UN", "AC", "CP", "CQ", "DG", "EA", "IC", "TA"}
)


@lru_cache(maxsize=1)
def _territories() -> frozenset[str]:
    from babel import Locale

    codes = [str(code) for code in Locale("en").territories]
    return frozenset(code for code in codes if len(code) == 2 and code.isalpha()) - _NOT_COUNTRIES


def parse_country(code: str, pointer: str) -> str:
    if not isinstance(code, str) or len(code) != 2 or not code.isupper() or code not in _territories():
        raise validation_failed(pointer, f"'{code}' is not an ISO 3166-1 alpha-2 country code")
    return code


@dataclass(frozen=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)
