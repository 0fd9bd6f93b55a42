"""Tax rules in the single table: an EntityStore of kind "tax_rule" (docs/data-model.md)

    pk = {scope}#TAX_RULE#{id}                 sk = TAX_RULE       gsi1 = {scope}#TAX_RULES / {id}
    pk = {scope}#TAX_RULE_EXT#{series}:{date}  sk = TAX_RULE_EXT   entity_id

The guard item holds one version per series and effective date: two requests adding a version
of the same series on the same day cannot both win, whatever the (eventually consistent) list
said when each checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable, Transaction, outbox_items, without_keys
from billow.domain.events import EventEnvelope
from billow.domain.tax_rules import SeriesKey, TaxRule, tax_rule_from_dict, tax_rule_to_dict
from billow.domain.tenancy import Scope
from billow.ports.queries import Page, PageResult

if TYPE_CHECKING:
    from billow.services.tax_rules import TaxRuleFilter


# A module-level name: inside the repository classes ``list`` is the method.
TaxRules = list[TaxRule]


def series_date_key(series: SeriesKey, effective_from: date) -> str:
    """The guard's key of one series on one date: DE::vat:*:0:2026-01-01, US:CA:sales_tax:*:0:…"""
    country, region, tax_type, category, apply_order = series
    return f"{country}:{region or ''}:{tax_type}:{category}:{apply_order}:{effective_from.isoformat()}"


def _guard_of(rule: TaxRule) -> str:
    return series_date_key(rule.series_key, rule.effective_from)


TAX_RULE = EntityKind[TaxRule](
    name="tax_rule",
    to_dict=tax_rule_to_dict,
    from_dict=tax_rule_from_dict,
    external_id_of=_guard_of,
    conflict_detail="another version of this tax rule series takes effect on the same date",
)
# A tenant has tens of rules, a few hundred at most: one query page holds them all.
ALL_PAGE_SIZE = 500


def _nested_equals(item_filter: ItemFilter, path: tuple[str, str], value: Any) -> None:
    """``jurisdiction.country = :v`` (ItemFilter aliases whole attribute names only)."""
    if value is None:
        return
    aliases = []
    for part in path:
        alias = f"#{part}"
        item_filter.names[alias] = part
        aliases.append(alias)
    placeholder = f":v{len(item_filter.values)}"
    item_filter.values[placeholder] = value
    item_filter.conditions.append(f"{'.'.join(aliases)} = {placeholder}")
    item_filter.selective = True


class DynamoTaxRuleRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.store = EntityStore(table, TAX_RULE)

    def get(self, scope: Scope, rule_id: str) -> TaxRule | None:
        return self.store.get(scope, rule_id)

    def list(self, scope: Scope, page: Page, filters: TaxRuleFilter) -> PageResult[TaxRule]:
        item_filter = ItemFilter().equals("tax_type", filters.tax_type).equals("category", filters.category)
        item_filter.equals("active", filters.active)
        _nested_equals(item_filter, ("jurisdiction", "country"), filters.country)
        _nested_equals(item_filter, ("jurisdiction", "region"), filters.region)
        return self.store.list(scope, page, item_filter)

    def all(self, scope: Scope) -> TaxRules:
        """Every rule of the scope, every version: one query on the gsi1 partition, paged."""
        items = self.table.query(
            index="gsi1", partition=f"{scope.key_prefix}#{TAX_RULE.key}S", page_size=ALL_PAGE_SIZE
        )
        return [tax_rule_from_dict(without_keys(item)) for item in items]

    def version_on(self, scope: Scope, series: SeriesKey, effective_from: date) -> TaxRule | None:
        """The version of a series taking effect on a date, read through its guard (consistent)."""
        return self.store.get_by_external_id(scope, series_date_key(series, effective_from))

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[TaxRule | None, TaxRule]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """(before, after) pairs under their read versions, with the events; all or nothing.
        Conflict when a new version's series already has one on its date; ConcurrentModification
        when a rule changed since it was read."""
        self.store.write(scope, changes, events)

    def delete(self, scope: Scope, rule: TaxRule, events: Sequence[EventEnvelope]) -> None:
        """The rule (under its read version) and its guard, with the events.
        ConcurrentModification when it changed or went since it was read."""
        tx = Transaction()
        tx.delete(
            "tax_rule:entity",
            self.table.name,
            {"pk": f"{scope.key_prefix}#{TAX_RULE.key}#{rule.id}", "sk": TAX_RULE.key},
            "#version = :expected",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":expected": {"N": str(rule.version)}},
        )
        tx.delete(
            "tax_rule:guard",
            self.table.name,
            {"pk": f"{scope.key_prefix}#{TAX_RULE.key}_EXT#{_guard_of(rule)}", "sk": f"{TAX_RULE.key}_EXT"},
        )
        for item in outbox_items(scope, events):
            tx.put("event", self.table.name, item, "attribute_not_exists(pk)")
        self.store.commit(tx)
