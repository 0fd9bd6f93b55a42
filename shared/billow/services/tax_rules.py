"""Tax rule use cases (``/v1/tax-rules``): add a rule or a new version of one, read, list, relabel,
delete a version that never took effect, and which rules are in force on a date.

What a version charges never changes once created: a new rate is a new version of the series
from its date on (domain/tax_rules.py), so invoices already taxed keep what they were taxed with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from billow.domain.errors import (
    ConcurrentModification,
    Conflict,
    FieldError,
    InvalidStateTransition,
    NotFound,
)
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.periods import local_date
from billow.domain.tax_rules import (
    SeriesKey,
    TaxRule,
    new_tax_rule,
    parse_tax_rule_changes,
    rules_in_force,
    same_day_version,
    tax_rule_to_dict,
)
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.queries import Page, PageResult
from billow.services.concurrency import MAX_ATTEMPTS, read_decide_write, require_version
from billow.services.events import change_event

if TYPE_CHECKING:
    # Only a type here: the router imports this module (TaxRuleFilter) at cold start.
    from billow.ports.repositories import TenantRepository


# A module-level name: inside the repository classes ``list`` is the method.
TaxRules = list[TaxRule]


@dataclass(frozen=True)
class TaxRuleFilter:
    country: str | None = None
    region: str | None = None
    tax_type: str | None = None
    category: str | None = None
    active: bool | None = None


class TaxRuleRepository(Protocol):
    def get(self, scope: Scope, rule_id: str) -> TaxRule | None: ...

    def list(self, scope: Scope, page: Page, filters: TaxRuleFilter) -> PageResult[TaxRule]: ...

    def all(self, scope: Scope) -> TaxRules:
        """Every rule of the scope, every version."""
        ...

    def version_on(self, scope: Scope, series: SeriesKey, effective_from: date) -> TaxRule | None:
        """The version of a series taking effect on a date (a consistent read)."""
        ...

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[TaxRule | None, TaxRule]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """Conflict when a new version's series already has one on its date;
        ConcurrentModification when a rule changed since it was read."""
        ...

    def delete(self, scope: Scope, rule: TaxRule, events: Sequence[EventEnvelope]) -> None:
        """ConcurrentModification when the rule changed or went since it was read."""
        ...


def _same_day_conflict(existing: TaxRule) -> Conflict:
    day = existing.effective_from.isoformat()
    message = (
        f"tax rule {existing.id} already takes effect on {day} for this jurisdiction, tax type, "
        "category and apply order"
    )
    return Conflict(
        detail=f"{message}: pick another effective_from, or delete {existing.id} if it has not taken "
        "effect yet",
        errors=[FieldError("/effective_from", message)],
    )


@dataclass
class TaxRuleService:
    rules: TaxRuleRepository
    tenants: TenantRepository
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, type_: str, data: dict[str, Any]) -> EventEnvelope:
        return change_event(scope, type_, "tax_rule", data, new_id=self.new_id)

    def today(self, scope: Scope) -> date:
        """Today in the tenant's time zone (its billing dates are in that zone)."""
        tenant = self.tenants.get(scope.tenant_id)
        return local_date(self.clock.now(), tenant.timezone if tenant else "UTC")

    def create(self, scope: Scope, raw: Mapping[str, Any]) -> TaxRule:
        """A new rule, or a new version of a series (same jurisdiction, tax type, category and
        apply order) from its ``effective_from`` on."""
        rule = new_tax_rule(
            raw, rule_id=self.new_id(), livemode=scope.livemode, now=rfc3339(self.clock.now())
        )
        existing = same_day_version(self.rules.all(scope), rule)
        if existing is not None:
            raise _same_day_conflict(existing)
        try:
            self.rules.save(
                scope, [(None, rule)], [self._event(scope, "tax_rule.created", tax_rule_to_dict(rule))]
            )
        except Conflict:
            # Another request added that version since the list was read: name it if it can be read.
            winner = self.rules.version_on(scope, rule.series_key, rule.effective_from)
            if winner is None:
                raise
            raise _same_day_conflict(winner) from None
        return rule

    def get(self, scope: Scope, rule_id: str) -> TaxRule:
        rule = self.rules.get(scope, rule_id)
        if rule is None:
            raise NotFound(detail=f"no tax rule with id {rule_id}")
        return rule

    def list(self, scope: Scope, page: Page, filters: TaxRuleFilter) -> PageResult[TaxRule]:
        return self.rules.list(scope, page, filters)

    def update(self, scope: Scope, rule_id: str, raw: Mapping[str, Any], if_match: int | None) -> TaxRule:
        """Only name, description and metadata (metadata merges key by key; "" removes a key)."""
        changes = parse_tax_rule_changes(raw)
        now = rfc3339(self.clock.now())

        def decide(before: TaxRule) -> TaxRule | None:
            applied = dict(changes)
            if "metadata" in applied:
                applied["metadata"] = merge_metadata(before.metadata, applied["metadata"])
            if all(getattr(before, name) == value for name, value in applied.items()):
                return None
            return before.with_changes(applied, now)

        def write(before: TaxRule, after: TaxRule) -> None:
            event = self._event(scope, "tax_rule.updated", tax_rule_to_dict(after))
            self.rules.save(scope, [(before, after)], [event])

        return read_decide_write(
            partial(self.get, scope, rule_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda rule: rule.version,
            what="tax rule",
        )

    def delete(self, scope: Scope, rule_id: str, if_match: int | None) -> dict[str, Any]:
        """Delete a version that has not taken effect yet (``effective_from`` after today in the
        tenant's zone): no invoice can have been taxed with it. The answer, like the
        ``tax_rule.deleted`` event, is the rule with ``deleted: true``."""
        for _ in range(MAX_ATTEMPTS):
            rule = self.get(scope, rule_id)
            require_version(if_match, rule.version)
            today = self.today(scope)
            if rule.effective_from <= today:
                raise InvalidStateTransition(
                    detail=f"tax rule {rule.id} has been in force since {rule.effective_from.isoformat()}, "
                    "so invoices may have been taxed with it; to stop it, add a new version of the rule "
                    'with "active": false from the date it should end'
                )
            gone = replace(rule, updated_at=rfc3339(self.clock.now()), version=rule.version + 1)
            data = {**tax_rule_to_dict(gone), "deleted": True}
            try:
                self.rules.delete(scope, rule, [self._event(scope, "tax_rule.deleted", data)])
            except ConcurrentModification:
                continue  # the next read says whether it moved (412 with If-Match) or went (404)
            return data
        raise ConcurrentModification(detail="the tax rule is being changed by many requests at once; retry")

    def in_force(
        self, scope: Scope, country: str, region: str | None, category: str | None, on: date | None
    ) -> tuple[date, tuple[TaxRule, ...]]:
        """The rules that apply on ``on`` (default today in the tenant's zone) to a product of
        ``category`` (default ``standard``, the products' default) sold into the jurisdiction."""
        day = on or self.today(scope)
        rules = rules_in_force(self.rules.all(scope), country, region, category or "standard", day)
        return day, rules
