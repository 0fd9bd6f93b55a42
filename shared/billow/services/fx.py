"""FX use cases: keeping the reference rates current, reading them, the tenant's FX policies and
overrides, and pinning the rate an invoice uses (docs/fx.md).

Reference rates are public data fetched on a schedule (functions/fx_rates); a tenant's policies
say which markup and which date apply to a currency pair (one policy per pair, one default per
tenant and mode), and overrides set a pair's rate for a range of dates. ``pin`` puts them
together: same currency → 1; an override covering the date → its rate; else the reference rate
of the date (the previous publication on weekends and holidays) with the policy's markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import partial
from typing import Any, Protocol

from billow.domain.errors import ConcurrentModification, InvalidStateTransition, NotFound, validation_failed
from billow.domain.events import EventEnvelope
from billow.domain.fx import (
    BUILTIN_FX_POLICY,
    DEFAULT_FX_ATTACHMENT,
    MAX_RATE_AGE,
    CurrencyPair,
    FxAttachment,
    FxOverride,
    FxPolicy,
    FxRateUnavailable,
    OverrideIndex,
    PinnedRate,
    check_no_overlap,
    choose_rate,
    expected_publication,
    fx_override_to_dict,
    fx_policy_to_dict,
    pair_attachment,
    parse_override_fields,
    parse_policy_fields,
    rates_to_dict,
    same_currency_pin,
)
from billow.domain.metadata import merge_metadata
from billow.domain.money import parse_currency
from billow.domain.reference_rates import NoRatesForDate, ReferenceRates, rates_on
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.queries import Page, PageResult
from billow.services.concurrency import MAX_ATTEMPTS, read_decide_write, require_version
from billow.services.defaults import default_moved
from billow.services.events import change_event

# A scheduled refresh that found nothing new (the ECB is late, a closing day it did not know)
# or failed waits this long before it asks the source again. Under a minute, so that Lambda's
# own retries of a failed asynchronous invocation (after 1 and 2 minutes) still get through.
RETRY_AFTER = timedelta(seconds=45)
# A forced refresh (an operator's invocation) notes its attempt whatever came before.
_ALWAYS = "9999-12-31T23:59:59Z"


# --- ports -------------------------------------------------------------------------------------


class RatesSource(Protocol):
    def last_90_days(self) -> list[ReferenceRates]:
        """The publications of about the last 90 days; raises when the source fails."""
        ...


class ReferenceRateStore(Protocol):
    def held_dates(self, source: str, since: date, until: date) -> set[date]: ...

    def add(self, publication: ReferenceRates, fetched_at: str) -> bool:
        """Store unless a publication of that date is held (False then)."""
        ...

    def on_or_before(self, source: str, on: date) -> ReferenceRates | None: ...

    def latest(self, source: str) -> ReferenceRates | None: ...


class RefreshLog(Protocol):
    def attempt(self, name: str, at: str, *, not_since: str) -> bool:
        """Note an attempt unless one was noted after ``not_since`` (False then)."""
        ...

    def finished(self, name: str, at: str, error: str | None) -> None: ...


class FxPolicyRepository(Protocol):
    def get(self, scope: Scope, policy_id: str) -> FxPolicy | None: ...

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[FxPolicy]: ...

    def holder(self, scope: Scope, attachment: FxAttachment) -> str | None: ...

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[FxPolicy | None, FxPolicy]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """Conflict when another policy holds a pair; ConcurrentModification on any other race."""
        ...


class FxOverrideRepository(Protocol):
    def get(self, scope: Scope, override_id: str) -> FxOverride | None: ...

    def list(
        self,
        scope: Scope,
        page: Page,
        base_currency: str | None = None,
        quote_currency: str | None = None,
    ) -> PageResult[FxOverride]: ...

    def index(self, scope: Scope, pair: CurrencyPair) -> OverrideIndex:
        """The dates of the pair's overrides (read consistently), with the index's version."""
        ...

    def create(
        self, scope: Scope, override: FxOverride, index: OverrideIndex, events: Sequence[EventEnvelope]
    ) -> None:
        """ConcurrentModification when the pair's index is no longer at ``index.version``."""
        ...

    def delete(
        self, scope: Scope, override: FxOverride, index: OverrideIndex, events: Sequence[EventEnvelope]
    ) -> None: ...


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: ``fetched`` publications in the source's answer, ``stored`` of them
    new, ``already_held`` the rest; ``skipped`` says why the source was not asked at all."""

    source: str
    fetched: int = 0
    stored: int = 0
    already_held: int = 0
    latest: date | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "fetched": self.fetched,
            "stored": self.stored,
            "already_held": self.already_held,
            "latest": self.latest.isoformat() if self.latest else None,
            "skipped": self.skipped,
        }


PolicyPairs = list[tuple[FxPolicy | None, FxPolicy]]


@dataclass
class FxService:
    rates_store: ReferenceRateStore
    policies: FxPolicyRepository
    overrides: FxOverrideRepository
    refresh_log: RefreshLog
    clock: Clock
    new_id: IdGenerator
    # Built on first use: the API reads stored rates and never needs the source's client.
    source: Callable[[], RatesSource]
    source_name: str = "ecb"

    # --- reference rates -----------------------------------------------------------------------

    def refresh_reference_rates(self) -> RefreshResult:
        """Fetch the last 90 days from the source and store the publications not yet held.
        Idempotent: a second run stores nothing; a stored publication is never replaced."""
        publications = self.source().last_90_days()
        if not publications:
            return RefreshResult(self.source_name)
        fetched_at = rfc3339(self.clock.now())
        days = [p.rate_date for p in publications]
        held = self.rates_store.held_dates(self.source_name, min(days), max(days))
        stored = 0
        for publication in publications:
            if publication.source != self.source_name:
                raise ValueError(f"the {self.source_name} source answered {publication.source} rates")
            if publication.rate_date not in held and self.rates_store.add(publication, fetched_at):
                stored += 1
        return RefreshResult(
            self.source_name,
            fetched=len(publications),
            stored=stored,
            already_held=len(publications) - stored,
            latest=max(days),
        )

    def refresh_if_due(self, *, force: bool = False) -> RefreshResult:
        """The scheduled refresh: asks the source only when a publication newer than the newest
        held should be out, and at most once per RETRY_AFTER (the local stack fires schedules
        every 2 s). ``force`` asks regardless. A failure is noted and raised."""
        now = self.clock.now()
        name = f"fx_rates#{self.source_name}"
        if not force:
            latest = self.rates_store.latest(self.source_name)
            if latest is not None and latest.rate_date >= expected_publication(now):
                return RefreshResult(self.source_name, latest=latest.rate_date, skipped="up_to_date")
        not_since = _ALWAYS if force else rfc3339(now - RETRY_AFTER)
        if not self.refresh_log.attempt(name, rfc3339(now), not_since=not_since):
            return RefreshResult(self.source_name, skipped="attempted_recently")
        try:
            result = self.refresh_reference_rates()
        except Exception as error:
            self.refresh_log.finished(name, rfc3339(now), f"{type(error).__name__}: {error}")
            raise
        self.refresh_log.finished(name, rfc3339(now), None)
        return result

    def _publication_for(self, source: str, on: date) -> ReferenceRates:
        found = self.rates_store.on_or_before(source, on)
        try:
            return rates_on([found] if found else [], on, max_age=MAX_RATE_AGE)
        except NoRatesForDate as missing:
            raise FxRateUnavailable(
                detail=f"no {source} reference rates for {on.isoformat()}: {missing.detail}"
            ) from None

    def rates(self, on: date | None = None, base: str = "EUR", quote: str | None = None) -> dict[str, Any]:
        """The publication that applies on ``on`` (the newest held when None), seen from
        ``base``: every currency it quotes, or only ``quote``."""
        if on is None:
            publication = self.rates_store.latest(self.source_name)
            if publication is None:
                raise FxRateUnavailable(
                    detail=f"no {self.source_name} reference rates are held yet: "
                    "the scheduled refresh fetches them"
                )
        else:
            publication = self._publication_for(self.source_name, on)
        return rates_to_dict(publication, base, quote, on)

    # --- policies ------------------------------------------------------------------------------

    def _policy_event(self, scope: Scope, type_: str, policy: FxPolicy) -> EventEnvelope:
        return change_event(scope, type_, "fx_policy", fx_policy_to_dict(policy), new_id=self.new_id)

    def _held(self, scope: Scope, attachment: FxAttachment) -> FxPolicy | None:
        policy_id = self.policies.holder(scope, attachment)
        policy = self.policies.get(scope, policy_id) if policy_id else None
        return policy if policy is not None and policy.status == "active" else None

    def default_policy(self, scope: Scope) -> FxPolicy | None:
        return self._held(scope, DEFAULT_FX_ATTACHMENT)

    def policy_for(self, scope: Scope, base_currency: str, quote_currency: str) -> FxPolicy:
        """The pair's policy, else the tenant's default, else the built-in one (the ECB's rate
        of the invoice date, no markup). Two reads per level, never a scan."""
        for attachment in (pair_attachment(base_currency, quote_currency), DEFAULT_FX_ATTACHMENT):
            policy = self._held(scope, attachment)
            if policy is not None:
                return policy
        return replace(BUILTIN_FX_POLICY, livemode=scope.livemode)

    def create_policy(self, scope: Scope, raw: Mapping[str, Any]) -> FxPolicy:
        fields = parse_policy_fields(raw, creating=True)
        now = rfc3339(self.clock.now())
        policy = FxPolicy(id=self.new_id(), livemode=scope.livemode, created_at=now, updated_at=now, **fields)
        # Two policies taking the default at once: the default's lookup item lets one win, and
        # the other moves the flag from the winner on its next attempt.
        for _ in range(MAX_ATTEMPTS):
            pairs: PolicyPairs = [(None, policy)]
            if policy.is_default:
                pairs += default_moved(self.default_policy(scope), policy, now)
            events = [self._policy_event(scope, "fx_policy.created", policy)]
            events += [self._policy_event(scope, "fx_policy.updated", after) for _, after in pairs[1:]]
            try:
                self.policies.save(scope, pairs, events)
            except ConcurrentModification:
                continue
            return policy
        raise ConcurrentModification(detail="FX policies are being changed by many requests at once; retry")

    def get_policy(self, scope: Scope, policy_id: str) -> FxPolicy:
        policy = self.policies.get(scope, policy_id)
        if policy is None:
            raise NotFound(detail=f"no FX policy with id {policy_id}")
        return policy

    def list_policies(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[FxPolicy]:
        return self.policies.list(scope, page, status)

    def _change_policy(
        self,
        scope: Scope,
        policy_id: str,
        if_match: int | None,
        decide: Callable[[FxPolicy], FxPolicy | None],
        event_type: str,
    ) -> FxPolicy:
        def write(before: FxPolicy, after: FxPolicy) -> None:
            pairs: PolicyPairs = [(before, after)]
            if after.is_default and not before.is_default:
                pairs += default_moved(self.default_policy(scope), after, after.updated_at)
            events = [self._policy_event(scope, event_type, after)]
            events += [self._policy_event(scope, "fx_policy.updated", other) for _, other in pairs[1:]]
            self.policies.save(scope, pairs, events)

        return read_decide_write(
            partial(self.get_policy, scope, policy_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda policy: policy.version,
            what="FX policy",
        )

    def update_policy(
        self, scope: Scope, policy_id: str, raw: Mapping[str, Any], if_match: int | None
    ) -> FxPolicy:
        fields = parse_policy_fields(raw, creating=False)
        now = rfc3339(self.clock.now())

        def decide(before: FxPolicy) -> FxPolicy | None:
            applied = dict(fields)
            if "metadata" in fields:
                applied["metadata"] = merge_metadata(before.metadata, fields["metadata"])
            if all(getattr(before, name) == value for name, value in applied.items()):
                return None
            after = before.touched(now, **applied)
            if after.status == "archived" and (after.is_default or after.currency_pairs):
                raise InvalidStateTransition(
                    detail=f"FX policy {before.id} is archived: "
                    "it cannot be the default or govern currency pairs"
                )
            return after

        return self._change_policy(scope, policy_id, if_match, decide, "fx_policy.updated")

    def archive_policy(self, scope: Scope, policy_id: str, if_match: int | None) -> FxPolicy:
        now = rfc3339(self.clock.now())
        return self._change_policy(
            scope, policy_id, if_match, lambda policy: policy.archive(now), "fx_policy.archived"
        )

    # --- overrides -----------------------------------------------------------------------------

    def _override_event(self, scope: Scope, type_: str, data: dict[str, Any]) -> EventEnvelope:
        return change_event(scope, type_, "fx_override", data, new_id=self.new_id)

    def create_override(self, scope: Scope, raw: Mapping[str, Any]) -> FxOverride:
        fields = parse_override_fields(raw)
        now = rfc3339(self.clock.now())
        override = FxOverride(
            id=self.new_id(), livemode=scope.livemode, created_at=now, updated_at=now, **fields
        )
        for _ in range(MAX_ATTEMPTS):
            index = self.overrides.index(scope, override.pair)
            check_no_overlap(override.span, override.pair, index.spans)
            event = self._override_event(scope, "fx_override.created", fx_override_to_dict(override))
            try:
                self.overrides.create(scope, override, index, [event])
            except ConcurrentModification:
                continue  # another override of the pair was written first: check against it
            return override
        raise ConcurrentModification(detail="the pair's FX overrides are being changed at once; retry")

    def get_override(self, scope: Scope, override_id: str) -> FxOverride:
        override = self.overrides.get(scope, override_id)
        if override is None:
            raise NotFound(detail=f"no FX override with id {override_id}")
        return override

    def list_overrides(
        self, scope: Scope, page: Page, base_currency: str | None = None, quote_currency: str | None = None
    ) -> PageResult[FxOverride]:
        return self.overrides.list(scope, page, base_currency, quote_currency)

    def delete_override(self, scope: Scope, override_id: str, if_match: int | None) -> dict[str, Any]:
        """Delete an override (invoices that pinned its rate keep it). The answer, like the
        ``fx_override.deleted`` event, is the override with ``deleted: true``."""
        for _ in range(MAX_ATTEMPTS):
            override = self.get_override(scope, override_id)
            require_version(if_match, override.version)
            gone = replace(override, updated_at=rfc3339(self.clock.now()), version=override.version + 1)
            data = {**fx_override_to_dict(gone), "deleted": True}
            index = self.overrides.index(scope, override.pair)
            try:
                self.overrides.delete(
                    scope, override, index, [self._override_event(scope, "fx_override.deleted", data)]
                )
            except ConcurrentModification:
                continue  # the pair's index moved (or another delete won: the next read says so)
            return data
        raise ConcurrentModification(detail="the pair's FX overrides are being changed at once; retry")

    def _override_on(self, scope: Scope, pair: CurrencyPair, on: date) -> FxOverride | None:
        covering = [span for span in self.overrides.index(scope, pair).spans if span.covers(on)]
        if not covering:
            return None
        span = max(covering, key=lambda s: (s.valid_from, s.id))
        return self.overrides.get(scope, span.id)

    # --- pinning -------------------------------------------------------------------------------

    def pin(
        self,
        scope: Scope,
        base_currency: str,
        quote_currency: str,
        on: date,
        policy_id: str | None = None,
        *,
        period_end: date | None = None,
    ) -> PinnedRate:
        """The rate converting base → quote for an invoice dated ``on`` (the policy's
        ``rate_date`` may pick ``period_end``, the last day of the period billed, instead).

        The policy is ``policy_id``'s when given, else the pair's, else the default, else the
        built-in one. Raises FxRateUnavailable (422 ``fx_rate_unavailable``) when no rate is
        held for the date."""
        base_currency = parse_currency(base_currency, "/base_currency")
        quote_currency = parse_currency(quote_currency, "/quote_currency")
        if base_currency == quote_currency:
            return same_currency_pin(base_currency, on)
        if policy_id is not None:
            policy = self.get_policy(scope, policy_id)
            if policy.status != "active":
                raise validation_failed("/policy_id", f"FX policy {policy_id} is archived")
        else:
            policy = self.policy_for(scope, base_currency, quote_currency)
        rate_date = policy.rate_date_for(on, period_end)
        override = self._override_on(scope, CurrencyPair(base_currency, quote_currency), rate_date)
        publication = None if override else self.rates_store.on_or_before(policy.rate_source, rate_date)
        return choose_rate(
            base_currency,
            quote_currency,
            rate_date,
            policy=policy,
            overrides=[override] if override else (),
            publication=publication,
        )

    def provisional(
        self,
        scope: Scope,
        base_currency: str,
        quote_currency: str,
        on: date,
        *,
        period_end: date | None = None,
    ) -> PinnedRate:
        """The rate a draft is converted at until its finalization pins one: ``pin``'s, or,
        when nothing is held for the date (a date to come, a refresh that failed for days),
        the pair's policy applied to the newest publication held. Only an estimate: the
        finalization pins the rate of its own date, or fails. Raises FxRateUnavailable when
        even that is missing (no rates held at all, a currency the source does not quote)."""
        try:
            return self.pin(scope, base_currency, quote_currency, on, period_end=period_end)
        except FxRateUnavailable as missing:
            policy = self.policy_for(scope, base_currency, quote_currency)
            newest = self.rates_store.latest(policy.rate_source)
            if newest is None:
                raise
            try:
                return choose_rate(
                    base_currency, quote_currency, newest.rate_date, policy=policy, publication=newest
                )
            except FxRateUnavailable:
                raise missing from None
