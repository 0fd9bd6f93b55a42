"""The answer to "is this EU VAT number registered?", as VIES gives it.

Three outcomes, and only VIES's clear answer makes one of the first two:

- ``valid``: VIES said the number is registered (``valid: true``);
- ``invalid``: VIES said it is not (``valid: false``), or VIES refused the number itself as
  malformed (``INVALID_INPUT``), or the number names no VIES member state (checked without
  asking; ``reason`` says which);
- ``unavailable``: anything else — the member state's service down (``MS_UNAVAILABLE``),
  concurrency limits (``MS_MAX_CONCURRENT_REQ``, ``GLOBAL_MAX_CONCURRENT_REQ``), ``TIMEOUT``,
  ``SERVICE_UNAVAILABLE``, a refused requester number, HTTP 5xx, no answer in time, or an
  answer that cannot be read. Unavailable is never evidence that a number is invalid.

``prefix`` is the VAT-number prefix VIES uses (``EL`` for Greece, ``XI`` for Northern Ireland);
``country`` the ISO country (``GR``; Northern Ireland is part of ``GB``).

``request_identifier`` is VIES's consultation number, given only when the check named the
requester's own VAT number: the evidence, for a tax audit, that this number was checked at
``checked_at`` with this answer. Keep it with the invoice's customer data.

Caching (done by the caller, e.g. a service in front of the adapter): ``CACHE_TTL`` says how
long an answer may be reused, counted from ``checked_at`` (VIES's own request time) or, when
VIES gave none, from when the answer was received:

- valid: 7 days — registrations rarely end, and a weekly re-check bounds the exposure;
- invalid: 1 day — a number registered today shows up in VIES within a day or so;
- unavailable: 15 minutes — only to avoid hammering a member state that is down; a service
  should retry, never treat it as an answer.

Pure: no I/O and no clock (the caller passes the time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Literal

from billow.domain.eu_vat import NORTHERN_IRELAND, country_of_vat_prefix

VatCheckStatus = Literal["valid", "invalid", "unavailable"]

CACHE_TTL: Mapping[VatCheckStatus, timedelta] = MappingProxyType(
    {
        "valid": timedelta(days=7),
        "invalid": timedelta(days=1),
        "unavailable": timedelta(minutes=15),
    }
)

# VIES's error codes and what each means for the outcome.
UNAVAILABLE_ERRORS: Mapping[str, str] = MappingProxyType(
    {
        "MS_UNAVAILABLE": "the member state's service is unavailable",
        "MS_MAX_CONCURRENT_REQ": "the member state's service has too many requests at once",
        "MS_MAX_CONCURRENT_REQ_TIME": "the member state's service has too many requests at once",
        "GLOBAL_MAX_CONCURRENT_REQ": "VIES has too many requests at once",
        "GLOBAL_MAX_CONCURRENT_REQ_TIME": "VIES has too many requests at once",
        "TIMEOUT": "the member state's service did not answer VIES in time",
        "SERVICE_UNAVAILABLE": "VIES is unavailable",
        "INVALID_REQUESTER_INFO": "VIES refused the requester's VAT number",
        "VAT_BLOCKED": "VIES refused to check the number",
        "IP_BLOCKED": "VIES refused requests from this address",
    }
)
INVALID_ERRORS: Mapping[str, str] = MappingProxyType(
    {"INVALID_INPUT": "VIES refused the number as malformed"}
)


def reason_for_error(code: str) -> tuple[VatCheckStatus, str]:
    """The status and reason text for a VIES error code; unknown codes are ``unavailable``."""
    if code in INVALID_ERRORS:
        return "invalid", f"{INVALID_ERRORS[code]} ({code})"
    meaning = UNAVAILABLE_ERRORS.get(code, "VIES answered with an error")
    return "unavailable", f"{meaning} ({code})"


@dataclass(frozen=True)
class VatCheck:
    status: VatCheckStatus
    prefix: str
    number: str
    name: str | None = None
    address: str | None = None
    checked_at: datetime | None = None
    request_identifier: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in CACHE_TTL:
            raise ValueError(f"unknown VAT check status {self.status!r}")
        if self.status != "valid" and not self.reason:
            raise ValueError(f"a {self.status} VAT check needs its reason")
        if self.checked_at is not None and self.checked_at.tzinfo is None:
            raise ValueError("checked_at must be timezone-aware")

    @property
    def country(self) -> str:
        """The ISO country of the number: ``EL`` → ``GR``, ``XI`` (Northern Ireland) → ``GB``."""
        if self.prefix == NORTHERN_IRELAND:
            return "GB"
        return country_of_vat_prefix(self.prefix)

    @property
    def vat_id(self) -> str:
        """The full number as written on invoices: ``EL123456789``."""
        return self.prefix + self.number

    @property
    def is_valid(self) -> bool:
        return self.status == "valid"

    def fresh_until(self, *, received_at: datetime) -> datetime:
        """Until when this answer may be reused: ``CACHE_TTL`` of its status after ``checked_at``
        (or ``received_at``, when VIES stated no time)."""
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        return (self.checked_at or received_at) + CACHE_TTL[self.status]

    def is_fresh(self, *, now: datetime, received_at: datetime) -> bool:
        return now < self.fresh_until(received_at=received_at)
