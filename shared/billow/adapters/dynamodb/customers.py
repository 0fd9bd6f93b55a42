"""Customers in the single table.

Items (docs/data-model.md):
- customer:     pk = {scope}#CUSTOMER#{id}            sk = CUSTOMER   gsi1 = {scope}#CUSTOMERS / {id}
- external id:  pk = {scope}#CUSTOMER_EXT#{external}  sk = CUSTOMER_EXT  (uniqueness guard + lookup)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billow.adapters.dynamodb.table import (
    DynamoTable,
    Transaction,
    TransactionCancelled,
    key_of,
    outbox_items,
    without_keys,
)
from billow.domain.customer import Customer, customer_from_dict, customer_to_dict
from billow.domain.errors import ConcurrentModification, Conflict
from billow.domain.events import EventEnvelope
from billow.domain.tenancy import Scope
from billow.ports.repositories import CustomerFilter, Page, PageResult


def _pk(scope: Scope, customer_id: str) -> str:
    return f"{scope.key_prefix}#CUSTOMER#{customer_id}"


def _ext_pk(scope: Scope, external_id: str) -> str:
    return f"{scope.key_prefix}#CUSTOMER_EXT#{external_id}"


class DynamoCustomerRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def _item(self, scope: Scope, customer: Customer) -> dict[str, Any]:
        return {
            "pk": _pk(scope, customer.id),
            "sk": "CUSTOMER",
            "kind": "customer",
            "gsi1pk": f"{scope.key_prefix}#CUSTOMERS",
            "gsi1sk": customer.id,
            **customer_to_dict(customer),
        }

    def get(self, scope: Scope, customer_id: str) -> Customer | None:
        item = self.table.get(_pk(scope, customer_id), "CUSTOMER")
        return customer_from_dict(without_keys(item)) if item else None

    def get_by_external_id(self, scope: Scope, external_id: str) -> Customer | None:
        pointer = self.table.get(_ext_pk(scope, external_id), "CUSTOMER_EXT", consistent=True)
        if pointer is None:
            return None
        return self.get(scope, pointer["customer_id"])

    def list(self, scope: Scope, filters: CustomerFilter, page: Page) -> PageResult[Customer]:
        conditions: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        for attribute, value in (
            ("status", filters.status),
            ("email", filters.email),
            ("type", filters.type),
            ("currency", filters.currency),
        ):
            if value is not None:
                names[f"#{attribute}"] = attribute
                values[f":{attribute}"] = value
                conditions.append(f"#{attribute} = :{attribute}")
        user_filters = bool(conditions or filters.tag or filters.created_after or filters.created_before)
        if filters.status is None:
            # Merged customers are archived; they show up only when asked for by status.
            names["#status"] = "status"
            values[":archived"] = "archived"
            conditions.append("#status <> :archived")
        if filters.tag is not None:
            names["#tags"] = "tags"
            values[":tag"] = filters.tag
            conditions.append("contains(#tags, :tag)")
        if filters.created_after is not None:
            names["#created"] = "created_at"
            values[":after"] = filters.created_after
            conditions.append("#created >= :after")
        if filters.created_before is not None:
            names["#created"] = "created_at"
            values[":before"] = filters.created_before
            conditions.append("#created < :before")
        items = self.table.query(
            index="gsi1",
            partition=f"{scope.key_prefix}#CUSTOMERS",
            start=page.after,
            filter_expression=" AND ".join(conditions) or None,
            names=names,
            values=values,
            # Limit applies before the filter: with a selective filter, read bigger pages.
            page_size=100 if user_filters else page.limit + 6,
        )
        found: list[dict[str, Any]] = []
        for item in items:
            found.append(item)
            if len(found) > page.limit:
                break
        customers = [customer_from_dict(without_keys(item)) for item in found[: page.limit]]
        has_more = len(found) > page.limit
        next_position = key_of(found[page.limit - 1], "gsi1") if has_more else None
        return PageResult(items=customers, next_position=next_position)

    def _transaction_for(
        self,
        scope: Scope,
        changes: Sequence[tuple[Customer | None, Customer]],
        events: Sequence[EventEnvelope],
    ) -> Transaction:
        table = self.table.name
        tx = Transaction()
        for before, after in changes:
            if before is None:
                tx.put("customer", table, self._item(scope, after), "attribute_not_exists(pk)")
            else:
                tx.put(
                    "customer",
                    table,
                    self._item(scope, after),
                    "#version = :expected",
                    ExpressionAttributeNames={"#version": "version"},
                    ExpressionAttributeValues={":expected": {"N": str(before.version)}},
                )
            old_ext = before.external_id if before else None
            if old_ext != after.external_id:
                if old_ext is not None:
                    tx.delete("old_external_id", table, {"pk": _ext_pk(scope, old_ext), "sk": "CUSTOMER_EXT"})
                if after.external_id is not None:
                    tx.put(
                        "external_id",
                        table,
                        {
                            "pk": _ext_pk(scope, after.external_id),
                            "sk": "CUSTOMER_EXT",
                            "kind": "customer_external_id",
                            "customer_id": after.id,
                        },
                        "attribute_not_exists(pk)",
                    )
        for item in outbox_items(scope, events):
            tx.put("event", table, item, "attribute_not_exists(pk)")
        return tx

    def _write(self, tx: Transaction) -> None:
        try:
            self.table.write(tx)
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if "customer" in failed or (not failed and len(tx.items) == 1):
                raise ConcurrentModification(detail="the customer was changed concurrently") from None
            if "external_id" in failed:
                raise Conflict(detail="another customer already has this external_id") from None
            raise ConcurrentModification(detail="the change could not be committed; retry") from None

    def add(self, scope: Scope, customer: Customer, events: Sequence[EventEnvelope]) -> None:
        self._write(self._transaction_for(scope, [(None, customer)], events))

    def update(
        self, scope: Scope, before: Customer, after: Customer, events: Sequence[EventEnvelope]
    ) -> None:
        self._write(self._transaction_for(scope, [(before, after)], events))

    def update_many(
        self, scope: Scope, changes: Sequence[tuple[Customer, Customer]], events: Sequence[EventEnvelope]
    ) -> None:
        self._write(self._transaction_for(scope, list(changes), events))
