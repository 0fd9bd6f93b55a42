"""The EU VAT rate table shipped with Billow: ``billow/data/eu_vat_rates.json``.

The loader lives in an adapter, not in ``billow.domain.eu_vat``, so the domain stays free of
I/O (reading packaged data is a file read). The table names its source and the date it
describes (``as_of``); it is the fallback when no fresher table from TEDB
(``billow.adapters.vat.tedb``, run by a scheduled refresh) is stored. Read once per process.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from billow.domain.eu_vat import EuVatRates

PACKAGE = "billow.data"
RESOURCE = "eu_vat_rates.json"


@cache
def load_bundled_eu_vat_rates() -> EuVatRates:
    """The bundled table (every member state's standard and reduced rates)."""
    text = resources.files(PACKAGE).joinpath(RESOURCE).read_text(encoding="utf-8")
    return EuVatRates.from_json(text)
