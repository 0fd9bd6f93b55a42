"""The EU member states' VAT rates in use: the table fetched from the Commission's TEDB by a
daily scheduled refresh (functions/vat_rates), or, until one is stored, the table bundled with
Billow (docs/fx.md, "EU VAT rates").

A refresh never makes things worse: an answer that lacks a member state (or fails) leaves the
stored table as it was, and a table is only replaced by one at least as recent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any, Protocol

from billow.domain.eu_vat import (
    MEMBER_STATES,
    EuVatRates,
    NotAMemberState,
    country_of_vat_prefix,
    is_member_state,
)
from billow.ports.clock import Clock, rfc3339
from billow.services.fx import RETRY_AFTER, RefreshLog

REFRESH_NAME = "eu_vat_rates"
_ALWAYS = "9999-12-31T23:59:59Z"


class IncompleteVatRates(Exception):
    """The source's answer lacks member states; the stored table is kept."""


class VatRatesSource(Protocol):
    def rates_on(self, situation_on: date) -> EuVatRates:
        """The rates of every member state in force on ``situation_on``; raises on failure."""
        ...


class StoredTable(Protocol):
    @property
    def rates(self) -> EuVatRates: ...

    @property
    def refreshed_at(self) -> str: ...


class EuVatRateStore(Protocol):
    def current(self) -> StoredTable | None: ...

    def save(self, rates: EuVatRates, refreshed_at: str, *, changed: bool) -> bool:
        """Make ``rates`` current unless a later table is (False then); keep it in the history
        when ``changed``."""
        ...


@dataclass(frozen=True)
class VatRefreshResult:
    stored: bool = False
    changed: bool = False
    as_of: date | None = None
    states: int = 0
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "changed": self.changed,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "states": self.states,
            "skipped": self.skipped,
        }


@dataclass
class EuVatRateService:
    store: EuVatRateStore
    refresh_log: RefreshLog
    clock: Clock
    # Built on first use: reading the table never loads the TEDB client (lxml).
    source: Callable[[], VatRatesSource]
    bundled: Callable[[], EuVatRates]

    def current(self) -> EuVatRates:
        """The stored table, else the bundled one."""
        stored = self.store.current()
        return stored.rates if stored is not None else self.bundled()

    def table(self, country: str | None = None) -> dict[str, Any]:
        """The API's view: the table in use with its source, date and when it was fetched
        (null: the bundled table), optionally only one member state's rates."""
        stored = self.store.current()
        rates = stored.rates if stored is not None else self.bundled()
        states = rates.to_dict()["states"]
        if country is not None:
            if not is_member_state(country):
                raise NotAMemberState(
                    detail=f"{country!r} is not an EU member state; EU VAT rates do not apply"
                )
            code = country_of_vat_prefix(country)
            states = {code: states[code]} if code in states else {}
        return {
            "object": "eu_vat_rates",
            "source": rates.source,
            "as_of": rates.as_of.isoformat(),
            "refreshed_at": stored.refreshed_at if stored is not None else None,
            "bundled": stored is None,
            "states": states,
        }

    def refresh(self, on: date) -> VatRefreshResult:
        """Fetch the rates in force on ``on`` and make them current. All 27 member states or
        nothing: a partial answer raises IncompleteVatRates and changes nothing."""
        rates = self.source().rates_on(on)
        missing = sorted(MEMBER_STATES - set(rates.states))
        if missing:
            raise IncompleteVatRates(f"the VAT rates fetched for {on.isoformat()} lack {', '.join(missing)}")
        stored = self.store.current()
        changed = stored is None or dict(stored.rates.states) != dict(rates.states)
        saved = self.store.save(rates, rfc3339(self.clock.now()), changed=changed)
        return VatRefreshResult(
            stored=saved, changed=changed and saved, as_of=rates.as_of, states=len(rates.states)
        )

    def refresh_if_due(self, *, force: bool = False) -> VatRefreshResult:
        """The scheduled refresh: once a (UTC) day, at most once per RETRY_AFTER while it fails
        (the local stack fires schedules every 2 s). A failure is noted and raised."""
        now = self.clock.now()
        today = now.astimezone(UTC).date()
        if not force:
            stored = self.store.current()
            if stored is not None and stored.refreshed_at[:10] >= today.isoformat():
                return VatRefreshResult(
                    as_of=stored.rates.as_of, states=len(stored.rates.states), skipped="up_to_date"
                )
        not_since = _ALWAYS if force else rfc3339(now - RETRY_AFTER)
        if not self.refresh_log.attempt(REFRESH_NAME, rfc3339(now), not_since=not_since):
            return VatRefreshResult(skipped="attempted_recently")
        try:
            result = self.refresh(today)
        except Exception as error:
            self.refresh_log.finished(REFRESH_NAME, rfc3339(now), f"{type(error).__name__}: {error}")
            raise
        self.refresh_log.finished(REFRESH_NAME, rfc3339(now), None)
        return result
