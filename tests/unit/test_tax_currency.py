"""Which currency an invoice's VAT is also stated in: the seller country's legal tender."""

from __future__ import annotations

from datetime import date

import pytest

from billow.services.tax_currency import national_currency


@pytest.mark.parametrize(
    ("country", "on", "currency"),
    [
        ("DE", date(2026, 7, 10), "EUR"),
        ("PL", date(2026, 7, 10), "PLN"),
        ("SE", date(2026, 7, 10), "SEK"),
        ("HR", date(2022, 12, 31), "HRK"),
        ("HR", date(2023, 1, 1), "EUR"),
        ("BG", date(2025, 12, 31), "BGN"),
        ("BG", date(2026, 1, 1), "EUR"),
        ("US", date(2026, 7, 10), "USD"),
    ],
)
def test_the_legal_tender_of_the_seller_country_on_the_day(country: str, on: date, currency: str) -> None:
    assert national_currency(country, on) == currency
