"""What the PDF renderer (pdf.py) says and how: the word table, locale-bound formatting of
money, numbers and dates with babel, and small text helpers (wrapping, colours, addresses).

Nothing here draws; everything is a pure function of the document and its locale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from billow.domain.address import Address

# Babel formats numbers but does not translate words like "Invoice", so the PDF's own words
# live here, one table per language. A language missing from the table falls back to English.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "number": "Number",
        "issue_date": "Issue date",
        "due_date": "Due date",
        "service_period": "Service period",
        "tax_point_date": "Date of supply",
        "buyer_reference": "Buyer reference",
        "order_reference": "Order reference",
        "preceding_invoice": "Corrected invoice",
        "from": "From",
        "bill_to": "Bill to",
        "vat_id": "VAT ID",
        "tax_number": "Tax number",
        "description": "Description",
        "period": "Period",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "amount": "Amount",
        "vat": "VAT",
        "subtotal": "Subtotal",
        "allowances": "Allowances",
        "total_net": "Total net",
        "vat_on": "VAT {rate} on {base}",
        "tax_on": "{name} {rate} on {base}",
        "compound": "compound",
        "total": "Total",
        "vat_in_tax_currency": "VAT total in {currency}",
        "prepaid": "Paid / credit applied",
        "amount_due": "Amount due",
        "amount_credited": "Amount credited",
        "exchange_rate": "Exchange rate",
        "fx_line": "1 {source_currency} = {rate} {target_currency} ({source}, {date})",
        "fx_markup": "including a markup of {percent}",
        "fx_source_ecb": "European Central Bank",
        "fx_source_override": "agreed rate",
        "notes": "Notes",
        "payment": "Payment",
        "means_58": "SEPA credit transfer",
        "means_59": "SEPA direct debit",
        "means_30": "Credit transfer",
        "means_48": "Card payment",
        "account_holder": "Account holder",
        "iban": "IBAN",
        "bic": "BIC",
        "payment_reference": "Payment reference",
        "direct_debit": "The amount will be collected by SEPA direct debit.",
        "mandate_reference": "Mandate reference",
        "creditor_id": "Creditor ID",
        "debited_account": "Debited account",
        "card": "Card ending in {last4}",
        "page": "Page {page} of {pages}",
    },
    "de": {
        "invoice": "Rechnung",
        # "Gutschrift" means self-billing under German VAT law (§ 14 UStG), so a credit note
        # that corrects an invoice is called a correction.
        "credit_note": "Rechnungskorrektur",
        "number": "Nummer",
        "issue_date": "Datum",
        "due_date": "Fällig am",
        "service_period": "Leistungszeitraum",
        "tax_point_date": "Leistungsdatum",
        "buyer_reference": "Käuferreferenz",
        "order_reference": "Bestellnummer",
        "preceding_invoice": "Ursprüngliche Rechnung",
        "from": "Von",
        "bill_to": "Rechnungsempfänger",
        "vat_id": "USt-IdNr.",
        "tax_number": "Steuernummer",
        "description": "Beschreibung",
        "period": "Zeitraum",
        "quantity": "Menge",
        "unit_price": "Einzelpreis",
        "amount": "Betrag",
        "vat": "USt.",
        "subtotal": "Zwischensumme",
        "allowances": "Nachlässe",
        "total_net": "Summe netto",
        "vat_on": "USt. {rate} auf {base}",
        "tax_on": "{name} {rate} auf {base}",
        "compound": "kumulativ",
        "total": "Gesamtbetrag",
        "vat_in_tax_currency": "Umsatzsteuer gesamt in {currency}",
        "prepaid": "Bereits bezahlt / verrechnet",
        "amount_due": "Zu zahlender Betrag",
        "amount_credited": "Gutgeschriebener Betrag",
        "exchange_rate": "Wechselkurs",
        "fx_line": "1 {source_currency} = {rate} {target_currency} ({source}, {date})",
        "fx_markup": "einschließlich eines Aufschlags von {percent}",
        "fx_source_ecb": "Europäische Zentralbank",
        "fx_source_override": "vereinbarter Kurs",
        "notes": "Hinweise",
        "payment": "Zahlung",
        "means_58": "SEPA-Überweisung",
        "means_59": "SEPA-Lastschrift",
        "means_30": "Überweisung",
        "means_48": "Kartenzahlung",
        "account_holder": "Kontoinhaber",
        "iban": "IBAN",
        "bic": "BIC",
        "payment_reference": "Verwendungszweck",
        "direct_debit": "Der Betrag wird per SEPA-Lastschrift eingezogen.",
        "mandate_reference": "Mandatsreferenz",
        "creditor_id": "Gläubiger-ID",
        "debited_account": "Belastetes Konto",
        "card": "Karte mit Endziffern {last4}",
        "page": "Seite {page} von {pages}",
    },
    "fr": {
        "invoice": "Facture",
        "credit_note": "Avoir",
        "number": "Numéro",
        "issue_date": "Date d'émission",
        "due_date": "Date d'échéance",
        "service_period": "Période de prestation",
        "tax_point_date": "Date de livraison",
        "buyer_reference": "Référence acheteur",
        "order_reference": "Référence de commande",
        "preceding_invoice": "Facture d'origine",
        "from": "Émetteur",
        "bill_to": "Facturé à",
        "vat_id": "N° TVA",
        "tax_number": "N° fiscal",
        "description": "Description",
        "period": "Période",
        "quantity": "Qté",
        "unit_price": "Prix unitaire",
        "amount": "Montant",
        "vat": "TVA",
        "subtotal": "Sous-total",
        "allowances": "Remises",
        "total_net": "Total HT",
        "vat_on": "TVA {rate} sur {base}",
        "tax_on": "{name} {rate} sur {base}",
        "compound": "cumulative",
        "total": "Total TTC",
        "vat_in_tax_currency": "Total TVA en {currency}",
        "prepaid": "Déjà payé / avoir imputé",
        "amount_due": "Montant dû",
        "amount_credited": "Montant crédité",
        "exchange_rate": "Taux de change",
        "fx_line": "1 {source_currency} = {rate} {target_currency} ({source}, {date})",
        "fx_markup": "majoration de {percent} incluse",
        "fx_source_ecb": "Banque centrale européenne",
        "fx_source_override": "taux convenu",
        "notes": "Remarques",
        "payment": "Paiement",
        "means_58": "Virement SEPA",
        "means_59": "Prélèvement SEPA",
        "means_30": "Virement",
        "means_48": "Paiement par carte",
        "account_holder": "Titulaire du compte",
        "iban": "IBAN",
        "bic": "BIC",
        "payment_reference": "Référence de paiement",
        "direct_debit": "Le montant sera prélevé par prélèvement SEPA.",
        "mandate_reference": "Référence du mandat",
        "creditor_id": "Identifiant créancier SEPA",
        "debited_account": "Compte débité",
        "card": "Carte se terminant par {last4}",
        "page": "Page {page} sur {pages}",
    },
}

FALLBACK_LOCALE = "en"
EN_DASH = "\u2013"  # between the two dates of a period

# Characters babel or a user may produce that Source Sans Pro has no glyph for, mapped to ones
# it has (thin spaces to a no-break space, invisible direction marks dropped), so that nothing
# silently disappears from the page.
_GLYPH_FALLBACKS = str.maketrans(
    {
        "\u2007": "\u00a0",
        "\u2008": "\u00a0",
        "\u2009": "\u00a0",
        "\u200a": "\u00a0",
        "\u2011": "-",
        "\u200b": None,
        "\u200e": None,
        "\u200f": None,
        "\u2060": None,
        "\ufeff": None,
        "\t": " ",
        "\r": None,
    }
)


def printable(text: str) -> str:
    return text.translate(_GLYPH_FALLBACKS)


@lru_cache(maxsize=64)
def parse_locale(tag: str) -> Locale:
    """A babel Locale for ``tag`` ("de_DE", "de-DE", "fr"), English when babel does not know it."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(FALLBACK_LOCALE)


def words_for(locale: Locale) -> dict[str, str]:
    return WORDS.get(str(locale.language), WORDS[FALLBACK_LOCALE])


@dataclass(frozen=True)
class Formatter:
    """Money, numbers and dates as the document's locale writes them."""

    locale: Locale

    def money(self, amount: Decimal, currency: str) -> str:
        # No quantization: amounts are already rounded, and a unit price keeps its own
        # precision (0.0015 €) instead of being cut to the currency's two decimals.
        return printable(format_currency(amount, currency, locale=self.locale, decimal_quantization=False))

    def number(self, value: Decimal) -> str:
        return printable(format_decimal(value, locale=self.locale, decimal_quantization=False))

    def percent(self, rate: Decimal) -> str:
        """``rate`` in percent (19 -> "19 %" in German, "19%" in English)."""
        return printable(format_percent(rate / 100, locale=self.locale, decimal_quantization=False))

    def date(self, value: dt.date) -> str:
        return printable(format_date(value, format="medium", locale=self.locale))

    def period(self, start: dt.date | None, end: dt.date | None) -> str | None:
        if start is not None and end is not None and start != end:
            return f"{self.date(start)} {EN_DASH} {self.date(end)}"
        only = start or end
        return None if only is None else self.date(only)

    def country(self, code: str) -> str:
        return printable(str(self.locale.territories.get(code, code)))


def format_iban(iban: str) -> str:
    """An IBAN as printed on paper: upper case in groups of four ("DE89 3704 0044 …")."""
    compact = "".join(iban.split()).upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


# Countries that write "City, State ZIP" rather than "ZIP City".
_CITY_FIRST = frozenset({"US", "CA", "AU"})


def address_lines(address: Address, fmt: Formatter) -> list[str]:
    lines = [line for line in (address.line1, address.line2) if line]
    if address.country in _CITY_FIRST:
        city = ", ".join(part for part in (address.city, address.state) if part)
        locality = " ".join(part for part in (city, address.postal_code) if part)
        if locality:
            lines.append(locality)
    else:
        locality = " ".join(part for part in (address.postal_code, address.city) if part)
        if locality:
            lines.append(locality)
        if address.state:
            lines.append(address.state)
    if address.country:
        lines.append(fmt.country(address.country))
    return [printable(line) for line in lines]


RGB = tuple[int, int, int]


def parse_color(value: str, default: RGB) -> RGB:
    """``#1F2937`` / ``1f2937`` / ``#abc`` as RGB; a malformed colour falls back to ``default``
    rather than failing the document."""
    raw = value.strip().lstrip("#")
    if len(raw) == 3:
        raw = "".join(ch * 2 for ch in raw)
    if len(raw) != 6:
        return default
    try:
        number = int(raw, 16)
    except ValueError:
        return default
    return (number >> 16) & 0xFF, (number >> 8) & 0xFF, number & 0xFF


def is_dark(color: RGB) -> bool:
    """Whether white text reads better than black on ``color`` (relative luminance)."""
    r, g, b = color
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 150


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width``; a word that alone is
    wider than ``width`` (a long URL, an IBAN without spaces) is cut between characters.
    Explicit newlines start a new line."""
    lines: list[str] = []
    space = measure(" ")
    for paragraph in printable(text).split("\n"):
        current: list[str] = []
        current_width = 0.0
        # Split on plain spaces only: babel joins an amount and its symbol with a no-break
        # space ("1.234,56\u00a0€"), which must stay on one line.
        for word in filter(None, paragraph.split(" ")):
            word_width = measure(word)
            needed = word_width if not current else current_width + space + word_width
            if needed <= width:
                current.append(word)
                current_width = needed
                continue
            if current:
                lines.append(" ".join(current))
                current, current_width = [], 0.0
            while word_width > width:
                cut = _fitting_prefix(word, width, measure)
                lines.append(word[:cut])
                word = word[cut:]
                word_width = measure(word)
            current, current_width = [word], word_width
        lines.append(" ".join(current))
    # Trailing blank lines add height and say nothing.
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


def _fitting_prefix(word: str, width: float, measure: Callable[[str], float]) -> int:
    total = 0.0
    for index, char in enumerate(word):
        total += measure(char)
        if total > width:
            return max(index, 1)  # at least one character, or the loop would never end
    return len(word)
