"""Versioned aggregates in the single table, one store per kind (customer, product, price…).

Items of a kind ``k`` (upper-cased ``K``), docs/data-model.md:
- the object:    pk = {scope}#K#{id}             sk = K        gsi1 = {scope}#KS / {id}
- external id:   pk = {scope}#K_EXT#{external}   sk = K_EXT    (uniqueness guard and lookup)
Every write is one transaction: the objects under their read versions, the external-id guards
that change, and the events describing the change (the outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from billow.adapters.dynamodb.table import (
    DynamoTable,
    Transaction,
    TransactionCancelled,
    outbox_items,
    take_page,
    without_keys,
)
from billow.domain.errors import ConcurrentModification, Conflict
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult

T = TypeVar("T")


@dataclass(frozen=True)
class EntityKind(Generic[T]):
    name: str
    to_dict: Callable[[T], dict[str, Any]]
    from_dict: Callable[[dict[str, Any]], T]
    external_id_of: Callable[[T], str | None] | None = None
    # What a taken uniqueness key means to the client (default: an external id is taken).
    conflict_detail: str | None = None
    # Extra index attributes of an object (sparse gsi2/gsi3 entries such as a due time).
    index_of: Callable[[Scope, T], dict[str, str]] | None = None

    @property
    def key(self) -> str:
        return self.name.upper()


@dataclass
class ItemFilter:
    """A FilterExpression built condition by condition (attribute names are always aliased)."""

    conditions: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    # False when the only conditions hide rare items (archived ones): small pages suffice.
    selective: bool = False

    def _add(self, attribute: str, template: str, value: Any, selective: bool) -> None:
        alias = f"#{attribute}"
        placeholder = f":v{len(self.values)}"
        self.names[alias] = attribute
        self.values[placeholder] = value
        self.conditions.append(template.format(a=alias, v=placeholder))
        self.selective = self.selective or selective

    def equals(self, attribute: str, value: Any) -> ItemFilter:
        if value is not None:
            self._add(attribute, "{a} = {v}", value, True)
        return self

    def not_equals(self, attribute: str, value: Any, *, selective: bool = False) -> ItemFilter:
        self._add(attribute, "{a} <> {v}", value, selective)
        return self

    def contains(self, attribute: str, value: Any) -> ItemFilter:
        if value is not None:
            self._add(attribute, "contains({a}, {v})", value, True)
        return self

    def at_least(self, attribute: str, value: Any) -> ItemFilter:
        if value is not None:
            self._add(attribute, "{a} >= {v}", value, True)
        return self

    def below(self, attribute: str, value: Any) -> ItemFilter:
        if value is not None:
            self._add(attribute, "{a} < {v}", value, True)
        return self

    @property
    def expression(self) -> str | None:
        return " AND ".join(self.conditions) or None


class EntityStore(Generic[T]):
    def __init__(self, table: DynamoTable, kind: EntityKind[T]) -> None:
        self.table = table
        self.kind = kind

    def _pk(self, scope: Scope, entity_id: str) -> str:
        return f"{scope.key_prefix}#{self.kind.key}#{entity_id}"

    def _ext_pk(self, scope: Scope, external_id: str) -> str:
        return f"{scope.key_prefix}#{self.kind.key}_EXT#{external_id}"

    def _item(self, scope: Scope, entity: T) -> dict[str, Any]:
        data = self.kind.to_dict(entity)
        return {
            "pk": self._pk(scope, data["id"]),
            "sk": self.kind.key,
            "kind": self.kind.name,
            "gsi1pk": f"{scope.key_prefix}#{self.kind.key}S",
            "gsi1sk": data["id"],
            **(self.kind.index_of(scope, entity) if self.kind.index_of else {}),
            **data,
        }

    def get(self, scope: Scope, entity_id: str) -> T | None:
        item = self.table.get(self._pk(scope, entity_id), self.kind.key)
        return self.kind.from_dict(without_keys(item)) if item else None

    def get_many(self, scope: Scope, entity_ids: Collection[str]) -> list[T]:
        """The objects that exist among ``entity_ids`` (BatchGetItem), in no particular order."""
        keys = [{"pk": self._pk(scope, entity_id), "sk": self.kind.key} for entity_id in entity_ids]
        return [self.kind.from_dict(without_keys(item)) for item in self.table.get_many(keys)]

    def get_by_external_id(self, scope: Scope, external_id: str) -> T | None:
        guard = self.table.get(self._ext_pk(scope, external_id), f"{self.kind.key}_EXT", consistent=True)
        return self.get(scope, guard["entity_id"]) if guard else None

    def list(self, scope: Scope, page: Page, item_filter: ItemFilter | None = None) -> PageResult[T]:
        """Newest first; ``limit`` + 1 items are read to know whether there is more."""
        item_filter = item_filter or ItemFilter()
        items = self.table.query(
            index="gsi1",
            partition=f"{scope.key_prefix}#{self.kind.key}S",
            start=page.after,
            filter_expression=item_filter.expression,
            names=item_filter.names,
            values=item_filter.values,
            # Limit applies before the filter: with a selective filter, read bigger pages.
            page_size=100 if item_filter.selective else page.limit + 6,
        )
        found, position = take_page(items, page.limit, "gsi1")
        return PageResult(
            items=[self.kind.from_dict(without_keys(item)) for item in found], next_position=position
        )

    def write(
        self,
        scope: Scope,
        changes: Sequence[tuple[T | None, T]],
        events: Sequence[EventEnvelope],
        extra: Transaction | None = None,
    ) -> None:
        """(before, after) pairs, before None for a new object; all or nothing."""
        tx = extra or Transaction()
        self.stage(tx, scope, changes)
        for item in outbox_items(scope, events):
            tx.put("event", self.table.name, item, "attribute_not_exists(pk)")
        self.commit(tx)

    def stage(self, tx: Transaction, scope: Scope, changes: Sequence[tuple[T | None, T]]) -> None:
        """Add the writes of (before, after) pairs to a transaction that others also fill."""
        name = self.table.name
        for before, after in changes:
            if before is None:
                tx.put(self._label("entity"), name, self._item(scope, after), "attribute_not_exists(pk)")
            else:
                tx.put(
                    self._label("entity"),
                    name,
                    self._item(scope, after),
                    "#version = :expected",
                    ExpressionAttributeNames={"#version": "version"},
                    ExpressionAttributeValues={":expected": {"N": str(self.kind.to_dict(before)["version"])}},
                )
            self._guard_external_id(tx, scope, before, after)

    def commit(self, tx: Transaction) -> None:
        try:
            self.table.write(tx)
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if self._label("external_id") in failed:
                detail = self.kind.conflict_detail or f"another {self.kind.name} already has this external_id"
                raise Conflict(detail=detail) from None
            raise ConcurrentModification(detail=f"the {self.kind.name} was changed concurrently") from None

    def _label(self, what: str) -> str:
        return f"{self.kind.name}:{what}"

    def _guard_external_id(self, tx: Transaction, scope: Scope, before: T | None, after: T) -> None:
        external_id_of = self.kind.external_id_of
        if external_id_of is None:
            return
        old = external_id_of(before) if before is not None else None
        new = external_id_of(after)
        if old == new:
            return
        guard_sk = f"{self.kind.key}_EXT"
        if old is not None:
            old_key = {"pk": self._ext_pk(scope, old), "sk": guard_sk}
            tx.delete(self._label("old_external_id"), self.table.name, old_key)
        if new is not None:
            tx.put(
                self._label("external_id"),
                self.table.name,
                {
                    "pk": self._ext_pk(scope, new),
                    "sk": guard_sk,
                    "kind": f"{self.kind.name}_external_id",
                    "entity_id": self.kind.to_dict(after)["id"],
                },
                "attribute_not_exists(pk)",
            )
