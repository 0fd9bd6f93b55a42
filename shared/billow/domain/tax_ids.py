"""Customer tax identifiers, checked with python-stdnum (format and check digits)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from billow.domain.errors import validation_failed

# type -> (stdnum module, country it belongs to or None when the number names it, as in EU VAT)
TAX_ID_TYPES: dict[str, tuple[str, str | None]] = {
    "eu_vat": ("stdnum.eu.vat", None),
    "gb_vat": ("stdnum.gb.vat", "GB"),
    "ch_vat": ("stdnum.ch.vat", "CH"),
    "no_vat": ("stdnum.no.mva", "NO"),
    "us_ein": ("stdnum.us.ein", "US"),
    "ca_bn": ("stdnum.ca.bn", "CA"),
    "au_abn": ("stdnum.au.abn", "AU"),
    "in_gst": ("stdnum.in_.gstin", "IN"),
    "br_cnpj": ("stdnum.br.cnpj", "BR"),
    "de_stnr": ("stdnum.de.stnr", "DE"),
}


@dataclass(frozen=True)
class TaxId:
    type: str
    value: str
    country: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value, "country": self.country}


def parse_tax_id(type_: str, value: str, pointer: str) -> TaxId:
    """Validate and normalise one tax id; the reason names what is wrong with it."""
    spec = TAX_ID_TYPES.get(type_)
    if spec is None:
        allowed = ", ".join(sorted(TAX_ID_TYPES))
        raise validation_failed(
            f"{pointer}/type", f"unknown tax id type '{type_}'; expected one of {allowed}"
        )
    module_name, country = spec
    module = importlib.import_module(module_name)
    from stdnum.exceptions import ValidationError as StdnumError

    try:
        compact = str(module.validate(value))
    except StdnumError as exc:
        raise validation_failed(f"{pointer}/value", f"invalid {type_}: {exc}") from None
    if type_ == "eu_vat" and compact.upper().startswith("GR"):
        compact = "EL" + compact[2:]  # Greece's VAT ids are written EL…, whatever was typed
    if country is None:
        prefix = compact[:2].upper()
        # Greece's VAT ids use EL; the country is GR. Northern Ireland traders use XI.
        country = {"EL": "GR", "XI": "GB"}.get(prefix, prefix)
    return TaxId(type=type_, value=compact, country=country)
