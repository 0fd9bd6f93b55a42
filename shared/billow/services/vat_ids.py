"""Checking buyers' VAT IDs: the format with python-stdnum, then VIES, with answers cached per
tenant (docs/tax.md).

Only an EU VAT ID (and Northern Ireland's XI numbers) goes to VIES; other kinds of tax id are
checked by format alone. VIES being down is an answer of its own ("unavailable"): it never
blocks a customer's write or an invoice, which then charges VAT and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from billow.domain.tax_ids import TaxId, parse_tax_id
from billow.domain.tenancy import Scope
from billow.domain.vat_check import VatCheck
from billow.ports.clock import Clock, rfc3339


class VatNumberRegistry(Protocol):
    """VIES (adapters/vat/vies.py)."""

    def check(self, vat_id: str, *, requester_vat_id: str | None = None) -> VatCheck: ...


class VatCheckCache(Protocol):
    def get(self, scope: Scope, vat_id: str) -> tuple[VatCheck, datetime] | None:
        """A stored answer and when it was received."""
        ...

    def put(self, scope: Scope, check: VatCheck, received_at: datetime, fresh_until: datetime) -> None: ...


@dataclass(frozen=True)
class VatIdValidation:
    tax_id: TaxId
    check: VatCheck | None  # None: not a number VIES knows (format check only)
    received_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        check = self.check
        checked_at = (check.checked_at or self.received_at) if check is not None else None
        return {
            "object": "vat_id_validation",
            "type": self.tax_id.type,
            "value": self.tax_id.value,
            "country": self.tax_id.country,
            "format_valid": True,
            "vies": None
            if check is None
            else {
                "status": check.status,
                "name": check.name,
                "address": check.address,
                "checked_at": rfc3339(checked_at) if checked_at is not None else None,
                "request_identifier": check.request_identifier,
                "reason": check.reason,
            },
        }


def checks_with_vies(tax_id: TaxId) -> bool:
    return tax_id.type == "eu_vat"


@dataclass
class VatIdService:
    registry: VatNumberRegistry
    cache: VatCheckCache
    clock: Clock
    # The seller's own EU VAT ID, when the tenant has a tax profile: VIES then gives a
    # consultation number, the evidence of the check.
    requester_for: Callable[[Scope], str | None] = lambda scope: None

    def validate(self, scope: Scope, type_: str, value: str, pointer: str = "") -> VatIdValidation:
        """The format first (422 with stdnum's reason), then VIES for an EU VAT ID."""
        tax_id = parse_tax_id(type_, value, pointer)
        if not checks_with_vies(tax_id):
            return VatIdValidation(tax_id, None)
        check, received_at = self.status(scope, tax_id.value)
        return VatIdValidation(tax_id, check, received_at)

    def status(self, scope: Scope, vat_id: str) -> tuple[VatCheck, datetime]:
        """VIES's answer about ``vat_id``: the cached one while it is fresh, else a new check
        (an unavailable answer is cached briefly so a down member state is not hammered)."""
        now = self.clock.now()
        cached = self.cache.get(scope, vat_id)
        if cached is not None and cached[0].is_fresh(now=now, received_at=cached[1]):
            return cached
        requester = self.requester_for(scope)
        try:
            check = self.registry.check(vat_id, requester_vat_id=requester)
        except ValueError:
            # The seller's own number is not one VIES takes: check without it.
            check = self.registry.check(vat_id)
        if check.status == "unavailable" and cached is not None and cached[0].status != "unavailable":
            # A stale yes or no beats no answer at all; it is still reported with its date.
            return cached
        self.cache.put(scope, check, now, check.fresh_until(received_at=now))
        return check, now
